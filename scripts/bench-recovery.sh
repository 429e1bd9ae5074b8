#!/usr/bin/env bash
# Benchmark (not a test): how long the router takes to recover its journal,
# and how much memory the recovered index holds, as the journal grows.
#
#   scripts/bench-recovery.sh [BUILD_DIR] [SIZES]
#
# For each size N in SIZES (default "10000 100000 1000000") it builds three
# journals with fsjournal_bench (the router's own Journal class): N records
# over exactly N names (--sequential-names), every record marked applied
# ("0 pending"), the same with one record in N/10000 left pending
# ("10000 pending"; all of them when N is 10000), and that again left without
# closing, as a killed router leaves it, its last writes only in RocksDB's
# log for the open to replay ("10000-killed"). One record in 50 is a
# DELETE, one in 1000 has a 100 KiB body file, the rest 200-byte inline
# bodies. Then it starts fsrouter on each (backends pointing at a closed
# port, so nothing is applied meanwhile) and reports:
#   recovered_ms  process start to the `journal_recovered` log line
#   ready_ms      process start to `listening` (the router answers /readyz)
#   rss_mib       the router's resident memory once listening
#   walked_ms     process start to `journal_index_walked`: the background walk
#                 of the whole index (totals, orphan cleanup) has finished
#   walked_mib    the router's resident memory then
# The 10,000-name journal of the same variant is the baseline of vs_10k, each
# size's recovery time as a ratio of it (10x names at linear cost: 10, 100).
set -euo pipefail

build="${1:-build}"
sizes="${2:-10000 100000 1000000}"
cmake --build "$build" -j2 --target fsrouter fsjournal_bench >/dev/null
router="$build/router/fsrouter"
maker="$build/journal/fsjournal/fsjournal_bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/fsrouter-recovery-XXXXXX")"
router_pid=""
cleanup() {
  [ -n "$router_pid" ] && kill -9 "$router_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# Milliseconds from START_MS to the `ts=` of the first line of LOG with EVENT.
event_ms() {  # LOG EVENT START_MS
  python3 - "$1" "$2" "$3" <<'EOF'
import re, sys, datetime
log, event, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
for line in open(log, errors="replace"):
    if f"event={event} " in line or line.rstrip().endswith(f"event={event}"):
        ts = re.search(r"ts=(\S+)", line).group(1).rstrip("Z")
        t = datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc)
        print(int(t.timestamp() * 1000) - start)
        sys.exit(0)
print("-")
EOF
}

measure() {  # JOURNAL_DIR LABEL
  local dir="$1" label="$2" log="$work/router.log" start
  : >"$log"
  start="$(now_ms)"
  "$router" --listen 127.0.0.1:0 --backends 127.0.0.1:9 --journal-dir "$dir" --log-level info 2>"$log" &
  router_pid=$!
  local deadline=$((start + 120000))
  until grep -q "event=listening" "$log"; do
    kill -0 "$router_pid" 2>/dev/null || { cat "$log" >&2; echo "bench-recovery: the router died" >&2; exit 1; }
    [ "$(now_ms)" -lt "$deadline" ] || { echo "bench-recovery: not listening after 120 s" >&2; exit 1; }
    sleep 0.01
  done
  local rss_kib walked_kib names pending
  rss_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$router_pid/status")"
  until grep -q "event=journal_index_walked" "$log"; do
    [ "$(now_ms)" -lt "$deadline" ] || { echo "bench-recovery: index not walked after 120 s" >&2; exit 1; }
    sleep 0.01
  done
  walked_kib="$(awk '/^VmRSS:/ {print $2}' "/proc/$router_pid/status")"
  names="$(grep -o 'event=journal_index_walked .*' "$log" | grep -o 'names=[0-9]*' | cut -d= -f2)"
  pending="$(grep -o 'event=journal_recovered .*' "$log" | grep -o 'pending=[0-9]*' | cut -d= -f2)"
  kill -TERM "$router_pid"
  wait "$router_pid" 2>/dev/null || true
  router_pid=""
  printf '%s %s %s %s %s %s %s %s\n' "$label" "$names" "$pending" \
    "$(event_ms "$log" journal_recovered "$start")" "$(event_ms "$log" listening "$start")" \
    "$(awk -v k="$rss_kib" 'BEGIN { printf "%.0f", k / 1024 }')" \
    "$(event_ms "$log" journal_index_walked "$start")" "$(awk -v k="$walked_kib" 'BEGIN { printf "%.0f", k / 1024 }')"
}

results="$work/results.txt"
for n in $sizes; do
  for variant in 0 10000 10000-killed; do
    dir="$work/journal-$n-$variant"
    pending_every=0 crash=()
    [ "$variant" = 0 ] || pending_every=$((n / 10000 > 0 ? n / 10000 : 1))
    [ "$variant" = 10000-killed ] && crash=(--crash)
    echo "== building $n names, one record in ${pending_every} pending (0: none) ${crash[*]}" >&2
    "$maker" --journal-dir "$dir" --records "$n" --names "$n" --sequential-names --threads 64 \
      --pending-every "$pending_every" "${crash[@]}" >&2
    measure "$dir" "$n/$variant" >>"$results"
    rm -rf "$dir"
  done
done

echo
printf '%-16s %10s %9s %13s %9s %8s %9s %10s %11s\n' "names/pending" "names" "pending" "recovered_ms" "ready_ms" "rss_mib" "vs_10k" \
  "walked_ms" "walked_mib"
awk '
  { split($1, a, "/"); if (a[1] == 10000) base[a[2]] = $4 }
  { lines[NR] = $0 }
  END {
    for (i = 1; i <= NR; i++) {
      split(lines[i], f, " "); split(f[1], a, "/")
      ratio = (base[a[2]] > 0 && f[4] != "-") ? sprintf("%.1f", f[4] / base[a[2]]) : "-"
      printf "%-16s %10s %9s %13s %9s %8s %9s %10s %11s\n", f[1], f[2], f[3], f[4], f[5], f[6], ratio, f[7], f[8]
    }
  }' "$results"
