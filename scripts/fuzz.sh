#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang in their own build
# folder and runs each one for SECONDS over a copy of its seed corpus
# (tests/fuzz/corpus/<target>/; what a run discovers stays in the copy).
# Fails when any target finds a crash, a leak, a timeout or a failed property,
# and prints the saved input's path: replay it with `<target> <path>`.
#   scripts/fuzz.sh [SECONDS]          (default 30 per target)
#   FSR_FUZZ_BUILD=dir                 build folder (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
build="${FSR_FUZZ_BUILD:-build-fuzz}"

echo "=== build (clang, libFuzzer+ASan+UBSan) in $build"
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFSR_FUZZ=ON >/dev/null
cmake --build "$build" -j2 --target fuzzers

failed=()
for seeds in tests/fuzz/corpus/*/; do
  target="$(basename "$seeds")"
  binary="$build/tests/fuzz/$target"
  if [ ! -x "$binary" ]; then
    echo "fuzz: $target has a corpus but no target $binary" >&2
    failed+=("$target")
    continue
  fi
  run="$build/fuzz-runs/$target"
  rm -rf "$run"
  mkdir -p "$run/corpus"
  cp -R "$seeds". "$run/corpus/"
  echo "=== fuzz $target for ${seconds}s"
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$binary" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$run/" "$run/corpus" >"$run/log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$run/log" | sed "s/^/  $target /" || true
  else
    failed+=("$target")
    echo "fuzz: $target FAILED; last lines of $run/log:" >&2
    tail -n 30 "$run/log" >&2
    found=0
    for input in "$run"/crash-* "$run"/leak-* "$run"/timeout-* "$run"/oom-* "$run"/slow-unit-*; do
      [ -e "$input" ] || continue
      found=1
      echo "fuzz: $target failing input: $input (replay: $binary $input)" >&2
    done
    [ "$found" -eq 1 ] || echo "fuzz: $target saved no input (see $run/log)" >&2
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a failure"
