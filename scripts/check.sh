#!/usr/bin/env bash
# Installs the dependencies, builds (normal and ASan+UBSan) and runs every
# test suite, then fuzzes each libFuzzer target for a bounded time. Fails on
# the first failure. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "=== build (normal)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2

echo "=== tests (normal build: unit, integration, memory, chaos)"
bash scripts/test.sh build

echo "=== build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFSR_SANITIZE=address >/dev/null
cmake --build build-asan -j2

echo "=== tests (ASan+UBSan: unit, integration)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  bash scripts/test.sh build-asan --sanitizer

echo "=== fuzz (clang, libFuzzer+ASan+UBSan: ${FSR_FUZZ_SECONDS:-20}s per target)"
bash scripts/fuzz.sh "${FSR_FUZZ_SECONDS:-20}"
