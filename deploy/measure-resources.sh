#!/usr/bin/env bash
# Measures what each container of a running Compose deployment uses under
# load, to choose the CPU and memory split (docs/deployment.md).
#
#   deploy/measure-resources.sh [--rates "100 300 1000"] [--duration S] [--fsload PATH] [-- FSLOAD_FLAGS...]
#
# For each rate, runs `fsload run` at that constant rate against the router
# container's own address, and prints for every container the CPU it used
# (cores, averaged over the run) and its memory (peak, and resident memory
# without page cache at the end). Reads the containers' cgroups directly
# (v1 or v2), so it runs as root on the Docker host.
#
# Environment: COMPOSE_PROJECT_NAME [fsrouter].
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/compose-lib.sh

rates="100 300 1000"
duration=30
fsload="build/loadtest/fsload"
while [ $# -gt 0 ]; do
  case "$1" in
    --rates) rates="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --fsload) fsload="$2"; shift ;;
    --) shift; break ;;
    *) sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
  shift
done
[ -x "$fsload" ] || { echo "measure-resources: no fsload at $fsload (--fsload PATH)" >&2; exit 2; }

services=($(compose config --services))
declare -A id
for service in "${services[@]}"; do
  id[$service]="$(compose ps -q "$service")"
  [ -n "${id[$service]}" ] || { echo "measure-resources: $service is not running" >&2; exit 1; }
done
router_ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "${id[fsrouter]}")"

# A container's cgroup: "v1 DIR" (cgroupfs driver, one DIR per controller
# kind: cpuacct or memory) or "v2 DIR" (unified hierarchy).
cgroup_dir() {
  local container="$1" controller="$2" path
  path="/sys/fs/cgroup/$controller/docker/$container"
  [ -d "$path" ] && { echo "v1 $path"; return; }
  for path in "/sys/fs/cgroup/system.slice/docker-$container.scope" "/sys/fs/cgroup/docker/$container"; do
    [ -d "$path" ] && { echo "v2 $path"; return; }
  done
  echo "none -"
}

cpu_ns() {  # CPU time used so far, nanoseconds
  read -r kind path <<<"$(cgroup_dir "$1" cpuacct)"
  case "$kind" in
    v1) cat "$path/cpuacct.usage" ;;
    v2) awk '$1 == "usage_usec" { print $2 * 1000 }' "$path/cpu.stat" ;;
    *) echo 0 ;;
  esac
}

reset_peak() {
  read -r kind path <<<"$(cgroup_dir "$1" memory)"
  case "$kind" in
    v1) echo 0 >"$path/memory.max_usage_in_bytes" 2>/dev/null || true ;;
    v2) echo 0 >"$path/memory.peak" 2>/dev/null || true ;;  # kernels >= 6.12
  esac
}

memory_figures() {  # "peak MiB, resident MiB (no page cache)"
  read -r kind path <<<"$(cgroup_dir "$1" memory)"
  case "$kind" in
    v1) awk -v peak="$(cat "$path/memory.max_usage_in_bytes")" \
          '$1 == "total_rss" { rss = $2 } END { printf "%.0f %.0f", peak / 1048576, rss / 1048576 }' \
          "$path/memory.stat" ;;
    v2) awk -v peak="$(cat "$path/memory.peak" 2>/dev/null || echo 0)" \
          '$1 == "anon" { rss = $2 } END { printf "%.0f %.0f", peak / 1048576, rss / 1048576 }' \
          "$path/memory.stat" ;;
    *) echo "? ?" ;;
  esac
}

echo "project $project, router at $router_ip:8080, ${duration}s per rate"
for rate in $rates; do
  declare -A before
  for service in "${services[@]}"; do
    reset_peak "${id[$service]}"
    before[$service]="$(cpu_ns "${id[$service]}")"
  done
  started="$(date +%s.%N)"
  set +e
  report="$("$fsload" run --url "http://$router_ip:8080" --rate "$rate" --duration "$duration" --quiet "$@" 2>&1)"
  status=$?
  set -e
  ended="$(date +%s.%N)"
  echo
  echo "=== rate $rate/s (fsload exit $status)"
  grep -E '^(answers|errors|data|throughput) ' <<<"$report" || echo "$report" | tail -5
  printf '%-12s %8s %10s %12s\n' service cores peak_MiB resident_MiB
  for service in "${services[@]}"; do
    used=$(( $(cpu_ns "${id[$service]}") - ${before[$service]} ))
    read -r peak resident <<<"$(memory_figures "${id[$service]}")"
    printf '%-12s %8.3f %10s %12s\n' "$service" \
      "$(awk -v u="$used" -v a="$started" -v b="$ended" 'BEGIN { print u / 1e9 / (b - a) }')" "$peak" "$resident"
  done
done
