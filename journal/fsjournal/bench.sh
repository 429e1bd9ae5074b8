#!/usr/bin/env bash
# Benchmark (not a test): how fsjournal scales with the size of a journal.
#
#   journal/fsjournal/bench.sh [BUILD_DIR] [RECORDS]
#
# Builds two journals with fsjournal_bench (the router's own Journal class):
# a baseline of RECORDS/100 records and one of RECORDS (default 1,000,000),
# names = records/4, one body in 1000 a 100 KiB body file, one record in 50 a
# DELETE, one in 100 left pending. Then times status, list, verify and
# checkpoint on each with /usr/bin/time -v, and prints wall and CPU time,
# peak RSS, and the CPU-time ratio of the large run to the baseline (100
# means linear in the number of records).
set -euo pipefail

build="${1:-build}"
records="${2:-1000000}"
baseline=$((records / 100))
[ "$baseline" -ge 100 ] || { echo "fsjournal_bench: RECORDS must be at least 10000" >&2; exit 2; }
cmake --build "$build" -j2 --target fsjournal fsjournal_bench >/dev/null
fsjournal="$build/journal/fsjournal/fsjournal"
maker="$build/journal/fsjournal/fsjournal_bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/fsjournal-bench-XXXXXX")"
trap 'rm -rf "$work"' EXIT

build_journal() {  # DIR RECORDS
  "$maker" --journal-dir "$1" --records "$2" --names $(($2 / 4)) --threads 64
}

# Prints "WALL_S CPU_S PEAK_RSS_KIB" of one run (CPU = user + system); its
# output goes to /dev/null. CPU time is the steadier figure on a shared machine.
measure() {
  local log="$work/time.txt"
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || {
    local rc=$?
    # verify exits 1 when it finds problems; anything else is a failure.
    [ "$rc" -eq 1 ] || { cat "$log" >&2; exit 1; }
  }
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
    /User time/ { cpu += $2 }
    /System time/ { cpu += $2 }
    /Maximum resident set size/ { rss = $2 }
    END { printf "%.2f %.2f %d\n", s, cpu, rss }' "$log"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo "== building journals ($baseline and $records records)"
build_journal "$work/base" "$baseline"
build_journal "$work/large" "$records"
du -sh "$work/base" "$work/large" | sed 's/^/   /'
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n%-10s %9s %9s %9s   %9s %9s %9s   %9s\n' "" "base" "" "" "large" "" "" "ratio"
printf '%-10s %9s %9s %9s   %9s %9s %9s   %9s\n' command "wall s" "cpu s" "RSS MiB" "wall s" "cpu s" "RSS MiB" "cpu"
for cmd in status "list --limit 50" verify checkpoint; do
  args=($cmd)
  extra_base=() extra_large=()
  if [ "$cmd" = checkpoint ]; then
    extra_base=("$work/base-copy")
    extra_large=("$work/large-copy")
  fi
  read -r bw bc br < <(measure "$fsjournal" --journal-dir "$work/base" "${args[@]}" "${extra_base[@]}")
  read -r lw lc lr < <(measure "$fsjournal" --journal-dir "$work/large" "${args[@]}" "${extra_large[@]}")
  ratio=$(awk -v a="$bc" -v b="$lc" 'BEGIN { if (a < 0.01) a = 0.01; printf "%.0f", b / a }')
  printf '%-10s %9s %9s %9s   %9s %9s %9s   %9s\n' "${args[0]}" "$bw" "$bc" "$(mib "$br")" "$lw" "$lc" "$(mib "$lr")" "$ratio"
done
