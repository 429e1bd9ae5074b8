#!/usr/bin/env bash
# The local development stack: N `fileserver` backends sharing one data
# directory, and `fsrouter` in front of them, run by `fsrouter-supervisor`
# (which holds the router's port and restarts it), when both are built.
#
#   scripts/stack.sh up [--backends N]   start it (refuses if one already runs)
#   scripts/stack.sh status              show what runs
#   scripts/stack.sh down                stop everything (SIGTERM, then SIGKILL)
#
# Everything lives under .stack/ in the repository:
#   .stack/data/      the shared data directory of the backends
#   .stack/journal/   the router's journal
#   .stack/logs/      one log file per process
#   .stack/pids       one line per process: role pid port program (the
#                     router's line names the supervisor)
#
# Environment (defaults in brackets):
#   STACK_BUILD_DIR    build folder holding the programs [build]
#   STACK_BACKENDS     number of backends, 1..5 [5]; --backends N wins
#   STACK_BASE_PORT    port of the first backend; the others follow [9001]
#   STACK_ROUTER_PORT  router port on 127.0.0.1 [8080]
#   STACK_LATENCY_MS   backend latency; unset keeps the real 333 ms []
#   STACK_WAIT_SEC     how long `up` waits for every process to answer [30]
#   STACK_STOP_GRACE_SEC  how long `down` waits after SIGTERM before SIGKILL [10]
#
# Backends keep the real server's defaults (333 ms latency, 10 requests in
# flight), so the stack behaves like the deployment. Readiness of a backend is
# checked with a TCP connect only: an HTTP request would take one of its ten
# slots and a third of a second.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
stack_dir="$repo/.stack"
pids_file="$stack_dir/pids"
build_dir="${STACK_BUILD_DIR:-build}"
case "$build_dir" in /*) ;; *) build_dir="$repo/$build_dir" ;; esac
backends="${STACK_BACKENDS:-5}"
base_port="${STACK_BASE_PORT:-9001}"
router_port="${STACK_ROUTER_PORT:-8080}"
wait_sec="${STACK_WAIT_SEC:-30}"
stop_grace_sec="${STACK_STOP_GRACE_SEC:-10}"
fileserver_bin="$build_dir/fileserver/fileserver"
router_bin="$build_dir/router/fsrouter"
supervisor_bin="$build_dir/supervisor/fsrouter-supervisor"

say() { echo "stack: $*"; }
die() {
  echo "stack: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

is_number() { [[ "$1" =~ ^[0-9]+$ ]]; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when pid runs `program` (guards against a recycled pid).
pid_runs() {
  local pid="$1" program="$2" first
  [ -r "/proc/$pid/cmdline" ] || return 1
  first="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1)" || return 1
  [ "$first" = "$program" ]
}

# Lines of the pids file whose process still runs.
live_entries() {
  [ -f "$pids_file" ] || return 0
  local role pid port program
  while read -r role pid port program; do
    [ -n "${pid:-}" ] || continue
    if pid_runs "$pid" "$program"; then echo "$role $pid $port $program"; fi
  done <"$pids_file"
}

router_ready() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null | grep -qx 200
}

# Starts a program detached from this shell (own session, so a Ctrl-C here
# does not reach it) and records it. Sets started_pid.
start_process() {
  local role="$1" port="$2" log="$3"
  shift 3
  setsid "$@" >>"$log" 2>&1 </dev/null &
  started_pid=$!
  echo "$role $started_pid $port $1" >>"$pids_file"
}

# Polls check (a command) until it succeeds, the process dies, or wait_sec passes.
wait_ready() {
  local what="$1" pid="$2" program="$3" log="$4"
  shift 4
  local deadline=$((SECONDS + wait_sec))
  until "$@"; do
    if ! pid_runs "$pid" "$program"; then
      echo "stack: $what exited; last lines of $log:" >&2
      tail -n 20 "$log" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "stack: $what did not answer within ${wait_sec}s; see $log" >&2
      return 1
    fi
    sleep 0.1
  done
}

stop_all() {
  [ -f "$pids_file" ] || return 0
  local entries role pid port program
  entries="$(live_entries)"
  if [ -n "$entries" ]; then
    # The router first, so that it stops sending to backends that go away.
    local ordered
    ordered="$(echo "$entries" | grep '^router ' || true; echo "$entries" | grep -v '^router ' || true)"
    while read -r role pid port program; do
      [ -n "${pid:-}" ] || continue
      say "stopping $role (pid $pid, port $port)"
      kill -TERM "$pid" 2>/dev/null || true
      # Router first: give it its grace before the backends go.
      if [ "$role" = router ]; then wait_gone "$pid" "$program" "$stop_grace_sec" || kill -KILL "$pid" 2>/dev/null || true; fi
    done <<<"$ordered"
    while read -r role pid port program; do
      [ -n "${pid:-}" ] || continue
      if ! wait_gone "$pid" "$program" "$stop_grace_sec"; then
        say "$role (pid $pid) ignored SIGTERM for ${stop_grace_sec}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" "$program" 5 || die "$role (pid $pid) survived SIGKILL"
      fi
    done <<<"$ordered"
  fi
  rm -f "$pids_file"
}

# Polls until pid no longer runs program; false after patience seconds.
wait_gone() {
  local pid="$1" program="$2" tenths=$(($3 * 10))
  while pid_runs "$pid" "$program"; do
    [ "$tenths" -gt 0 ] || return 1
    tenths=$((tenths - 1))
    sleep 0.1
  done
}

# A start that failed half-way stops whatever it started.
abort_start() {
  echo "stack: start failed; stopping what was started" >&2
  stop_all
  exit 1
}

cmd_up() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --backends) [ $# -ge 2 ] || die "--backends needs a number"; backends="$2"; shift 2 ;;
      --backends=*) backends="${1#--backends=}"; shift ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown argument to up: $1 (see scripts/stack.sh --help)" ;;
    esac
  done
  is_number "$backends" && [ "$backends" -ge 1 ] && [ "$backends" -le 5 ] || die "backends must be 1..5, got '$backends'"
  is_number "$base_port" || die "STACK_BASE_PORT must be a port number"
  is_number "$router_port" || die "STACK_ROUTER_PORT must be a port number"
  is_number "$wait_sec" || die "STACK_WAIT_SEC must be a number of seconds"
  is_number "$stop_grace_sec" || die "STACK_STOP_GRACE_SEC must be a number of seconds"
  [ -z "${STACK_LATENCY_MS:-}" ] || is_number "$STACK_LATENCY_MS" || die "STACK_LATENCY_MS must be a number of ms"
  [ -x "$fileserver_bin" ] || die "no $fileserver_bin; build it first (cmake --build $build_dir --target fileserver)"

  mkdir -p "$stack_dir"
  if [ -n "$(live_entries)" ]; then
    die "a stack is already running (see scripts/stack.sh status); stop it with scripts/stack.sh down"
  fi
  rm -f "$pids_file"

  local with_router=0
  [ -x "$router_bin" ] && [ -x "$supervisor_bin" ] && with_router=1
  local ports=() i
  for ((i = 0; i < backends; i++)); do ports+=($((base_port + i))); done
  local wanted=("${ports[@]}")
  [ "$with_router" = 1 ] && wanted+=("$router_port")
  for port in "${wanted[@]}"; do
    if port_open "$port"; then die "port $port is already in use on 127.0.0.1"; fi
  done

  mkdir -p "$stack_dir/data" "$stack_dir/logs" "$stack_dir/journal"
  : >"$pids_file"

  local latency_args=()
  [ -n "${STACK_LATENCY_MS:-}" ] && latency_args=(--latency-ms "$STACK_LATENCY_MS")
  local backend_list="" n=0 pids=() logs=()
  for port in "${ports[@]}"; do
    n=$((n + 1))
    local log="$stack_dir/logs/fileserver-$n.log"
    start_process "backend-$n" "$port" "$log" "$fileserver_bin" --host 127.0.0.1 --port "$port" \
      --data-dir "$stack_dir/data" "${latency_args[@]}"
    pids+=("$started_pid")
    logs+=("$log")
    backend_list="${backend_list:+$backend_list,}127.0.0.1:$port"
  done
  for ((i = 0; i < backends; i++)); do
    wait_ready "backend-$((i + 1)) on port ${ports[$i]}" "${pids[$i]}" "$fileserver_bin" "${logs[$i]}" \
      port_open "${ports[$i]}" || abort_start
  done

  local router_log="$stack_dir/logs/fsrouter.log"
  if [ "$with_router" = 1 ]; then
    # Under fsrouter-supervisor, which holds the port: a router that dies is
    # restarted and connections wait meanwhile. It kills a router that has
    # not stopped a second before `down` would kill the supervisor.
    local supervisor_stop_ms=$(((stop_grace_sec > 1 ? stop_grace_sec - 1 : 1) * 1000))
    start_process router "$router_port" "$router_log" "$supervisor_bin" --listen "127.0.0.1:$router_port" \
      --stop-timeout-ms "$supervisor_stop_ms" -- \
      "$router_bin" --listen "127.0.0.1:$router_port" --backends "$backend_list" --journal-dir "$stack_dir/journal"
    wait_ready "router on port $router_port" "$started_pid" "$supervisor_bin" "$router_log" router_ready "$router_port" || abort_start
  fi

  say "up: $backends backend(s), latency ${STACK_LATENCY_MS:-333 (default)} ms, 10 requests in flight each"
  for ((i = 0; i < backends; i++)); do
    printf '  backend-%d  pid %-7s http://127.0.0.1:%s/api/fileserver/{name}  log %s\n' \
      $((i + 1)) "${pids[$i]}" "${ports[$i]}" "${logs[$i]}"
  done
  if [ "$with_router" = 1 ]; then
    printf '  router     supervisor pid %-7s http://127.0.0.1:%s/api/fileserver/{name}  log %s\n' \
      "$started_pid" "$router_port" "$router_log"
    echo "  journal:   $stack_dir/journal"
  else
    echo "  router:    not started ($router_bin or $supervisor_bin is not built)"
  fi
  echo "  data:      $stack_dir/data"
  echo "  pids:      $pids_file"
  if [ "$with_router" = 1 ]; then
    echo "  try:       curl -X PUT --data-binary @somefile http://127.0.0.1:$router_port/api/fileserver/somefile"
  else
    echo "  try:       curl -X PUT --data-binary @somefile http://127.0.0.1:${ports[0]}/api/fileserver/somefile"
  fi
  echo "  stop with: scripts/stack.sh down"
}

cmd_status() {
  if [ ! -f "$pids_file" ]; then
    say "not running (no $pids_file)"
    return 1
  fi
  local role pid port program state all_up=0
  printf '%-10s %-8s %-6s %-10s %s\n' ROLE PID PORT STATE ANSWERS
  while read -r role pid port program; do
    [ -n "${pid:-}" ] || continue
    if pid_runs "$pid" "$program"; then
      state=running
      if [ "$role" = router ]; then
        if router_ready "$port"; then answers="readyz 200"; else answers="readyz not 200"; all_up=1; fi
      else
        if port_open "$port"; then answers="tcp ok"; else answers="no tcp"; all_up=1; fi
      fi
    else
      state=gone
      answers="-"
      all_up=1
    fi
    printf '%-10s %-8s %-6s %-10s %s\n' "$role" "$pid" "$port" "$state" "$answers"
  done <"$pids_file"
  echo "data: $stack_dir/data  journal: $stack_dir/journal  logs: $stack_dir/logs"
  return "$all_up"
}

cmd_down() {
  is_number "$stop_grace_sec" || die "STACK_STOP_GRACE_SEC must be a number of seconds"
  if [ ! -f "$pids_file" ]; then
    say "nothing to stop (no $pids_file)"
    return 0
  fi
  stop_all
  say "down (data, journal and logs kept under $stack_dir)"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
