#!/usr/bin/env bash
# Runs the test suites of a build folder with CTest.
#   scripts/test.sh [BUILD_DIR] [--sanitizer]
# The normal build runs every label; a sanitizer build runs `unit` and
# `integration` only (container and memory-ceiling checks need the normal build).
set -euo pipefail
build="${1:-build}"
shift || true
labels='unit|integration|memory|chaos'
if [ "${1:-}" = "--sanitizer" ]; then
  labels='unit|integration'
fi
cd "$build"
ctest --output-on-failure -L "$labels" -j2 --timeout 900
