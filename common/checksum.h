// Content checksums: XXH3-128 (libxxhash), streamed. Used to check that a
// body read back from a backend is byte for byte the one the journal holds.
// Not a defence against an adversary, only against truncation, stale files
// and error text in place of content.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace fsr {

class Checksum {
 public:
  Checksum();
  ~Checksum();
  Checksum(const Checksum&) = delete;
  Checksum& operator=(const Checksum&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // 32 lowercase hex digits. May be called once; update() after it is undefined.
  std::string hex();

 private:
  XXH3_state_t* state_;
};

std::string checksum_of(std::string_view data);

}  // namespace fsr
