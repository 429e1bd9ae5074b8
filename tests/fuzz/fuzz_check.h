// A property a fuzz target asserts: on failure it names the property and
// aborts, so libFuzzer saves the input as a crash (crash-<sha1>).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FSR_FUZZ_CHECK(condition)                                                             \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
