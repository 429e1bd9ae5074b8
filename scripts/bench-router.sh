#!/usr/bin/env bash
# Benchmarks fsrouter against baselines run side by side in the same run:
#
#   1. PUT acknowledgement latency under 1,000 closed-loop writers (each
#      connection PUTs its own 1 KiB file again and again): the router in
#      front of five stand-ins at the real 333 ms, against one bare stand-in
#      (10 requests at a time; a refused PUT is retried after 100 ms);
#      against nginx taking the same PUTs with its WebDAV module (each body
#      written to a file on tmpfs, /dev/shm: the latency the same client and
#      writers come to on these cores when nothing is promised); and the
#      same router under 100 writers.
#   2. The front door against nginx (worker_processes = the router's
#      --io-threads, BENCH_IO_THREADS, default the core count), the router
#      serving 1 KiB files from its journal and nginx the same bytes from
#      disk (sendfile on): wrk closed loops of 16 and 256 keep-alive
#      connections; the PUT row's client (fsbench_closed_loop) with its
#      1,000 connections, reading, for the latency those connections come
#      to on these cores when nothing is written; a `Connection: close`
#      storm of 256 connections (wrk); an
#      open loop of 5,000 GET/s through fsload; and the CPU and resident
#      memory each server spends on 10,000 idle keep-alive connections
#      (RLIMIT_NOFILE is raised to the hard limit for it). Before and after
#      the rows that close connections, the script waits until the server
#      holds no more descriptors than it started with (plus 64), so that
#      one row's closes are not charged to the next.
#   3. GET of files the router no longer caches (--body-cache-mb 0): five
#      backends against one, at 20 ms and at 333 ms stand-in latency.
#
# Every measurement is repeated (BENCH_REPS, 3) alternating with its baseline;
# the table gives the median of the repetitions, and every ratio has the
# baseline's own figure beside it. Everything runs on loopback
# ports nobody else holds (stand-ins and routers take a port from the kernel;
# nginx a port just probed free) in a temporary directory, removed on exit
# along with every process the script started. Clients run at nice -10 when
# allowed, so that they do not queue behind the servers' threads. About seven
# and a half minutes.
#
#   scripts/bench-router.sh [BUILD_DIR]        default: build-bench
#
# Needs wrk and nginx (nginx-light) on the PATH (scripts/install-deps.sh).
# BUILD_DIR must hold router/fsrouter, fileserver/fileserver, loadtest/fsload
# and the closed-loop client loadtest/bench/fsbench_closed_loop (a Release
# build; the client runs on fsload's HTTP client).
#
# Environment: BENCH_REPS (3), BENCH_IO_THREADS (the core count), BENCH_ONLY (comma list of put,get,read; all),
# BENCH_OUT (a directory to keep every raw result and the logs in),
# BENCH_KEEP=1 (keep the temporary directory).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$repo/build-bench}"
case "$build" in /*) ;; *) build="$(pwd)/$build" ;; esac
reps="${BENCH_REPS:-3}"
only="${BENCH_ONLY:-put,get,read}"
fsrouter="$build/router/fsrouter"
fileserver="$build/fileserver/fileserver"
fsload="$build/loadtest/fsload"
client="$build/loadtest/bench/fsbench_closed_loop"

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: [$((SECONDS - t_begin))s] $*" >&2; }
t_begin=$SECONDS
for b in "$fsrouter" "$fileserver" "$fsload" "$client"; do [ -x "$b" ] || die "$b is not built"; done
[[ "$reps" =~ ^[1-9]$ ]] || die "BENCH_REPS must be 1..9"
command -v python3 >/dev/null || die "python3 is needed"
command -v curl >/dev/null || die "curl is needed"
command -v wrk >/dev/null || die "wrk is needed (scripts/install-deps.sh)"
io_threads="${BENCH_IO_THREADS:-$(nproc)}"
[[ "$io_threads" =~ ^[1-9][0-9]*$ ]] || die "BENCH_IO_THREADS must be a positive number"
# 10,000 idle connections need as many descriptors in the server and in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 10500 ] || die "RLIMIT_NOFILE hard limit $(ulimit -Hn) is under 10,500"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

work="$(mktemp -d "${TMPDIR:-/tmp}/fsrouter-bench.XXXXXX")"
started=()  # pids of the processes this script started
nginx_dirs=()  # the nginx instances' directories (pid files)
shm=""  # a directory on tmpfs, when there is one
routers=()  # the routers among them
cleanup() {
  local pid
  local ng
  for ng in "${nginx_dirs[@]}"; do stop_nginx "$ng"; done
  for pid in "${routers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${routers[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "${BENCH_OUT:-}" ]; then
    mkdir -p "$BENCH_OUT" && cp -r "$work/results" "$work/logs" "$BENCH_OUT/" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
  if [ -n "$shm" ]; then rm -rf "$shm"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/logs" "$work/results"

# Clients run at a higher priority when allowed (root): on one machine they
# would otherwise queue behind the servers' threads, and measure their own
# scheduling delay instead of the server's latency. The router runs in a
# session of its own (setsid), as nginx does once it daemonizes: where the
# kernel groups tasks by session for scheduling (autogroup), a nice value
# weighs only within its group, and a router left in the clients' session
# had its event loops preempted by the boosted wrk at every reply while
# nginx, in its own group, was not (GET at 256 connections: router p99 90 to
# 280 ms against nginx's 11 ms; 10 to 22 ms once the router had its own
# session).
boost=()
if nice -n -10 true 2>/dev/null; then boost=(nice -n -10); fi

# ---------------------------------------------------------------- processes

# wait_log LOG PATTERN PID: prints the first line of LOG matching PATTERN.
wait_log() {
  local log="$1" pattern="$2" pid="$3" line
  for _ in $(seq 300); do
    line="$(grep -m1 -E "$pattern" "$log" 2>/dev/null || true)"
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 5 "$log" >&2; die "process $pid exited; see above"; }
    sleep 0.1
  done
  die "no '$pattern' in $log after 30 s"
}

# start_fileserver TAG DATA_DIR LATENCY_MS: sets port.
start_fileserver() {
  local tag="$1" data="$2" latency="$3" log="$work/logs/fileserver-$1.log"
  mkdir -p "$data"
  "$fileserver" --host 127.0.0.1 --port 0 --data-dir "$data" --latency-ms "$latency" --max-inflight 10 \
    >"$log" 2>&1 </dev/null &
  started+=("$!")
  local line
  line="$(wait_log "$log" 'event=listening' "$!")"
  port="$(sed -E 's/.* port=([0-9]+).*/\1/' <<<"$line")"
}

# start_fileservers TAG COUNT DATA_DIR LATENCY_MS: sets backends (HOST:PORT,...).
start_fileservers() {
  local tag="$1" count="$2" data="$3" latency="$4" i
  backends=""
  for ((i = 1; i <= count; i++)); do
    start_fileserver "$tag-$i" "$data" "$latency"
    backends="${backends:+$backends,}127.0.0.1:$port"
  done
}

# nginx cannot name a port the kernel chose: it gets one just probed free.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_nginx DIR [SERVER_DIRECTIVES]: nginx (worker_processes = the
# router's --io-threads) serving DIR/root on a free port, its pid file
# DIR/nginx.pid; sets nginx_port and nginx_pids (master and workers).
start_nginx() {
  local ng="$1" extra="${2:-}"
  nginx_dirs+=("$ng")
  mkdir -p "$ng/root/api/fileserver" "$ng/tmp"
  chmod 755 "$work" "$ng" "$ng/root" "$ng/root/api" "$ng/root/api/fileserver"
  nginx_port="$(free_port)"
  cat >"$ng/nginx.conf" <<CONF
worker_processes $io_threads;
worker_rlimit_nofile 30000;
pid $ng/nginx.pid;
error_log $work/logs/nginx-$(basename "$ng")-error.log warn;
events { worker_connections 12000; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 75s;
  client_body_temp_path $ng/tmp;
  proxy_temp_path $ng/tmp;
  fastcgi_temp_path $ng/tmp;
  uwsgi_temp_path $ng/tmp;
  scgi_temp_path $ng/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port backlog=4096 reuseport;
    root $ng/root;
    $extra
  }
}
CONF
  "$nginx_bin" -c "$ng/nginx.conf" -p "$ng" 2>>"$work/logs/nginx.log" || die "nginx did not start"
  local ready=0
  for _ in $(seq 50); do
    if [ -s "$ng/nginx.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$nginx_port/"; then ready=1; break; fi
    sleep 0.1
  done
  [ "$ready" = 1 ] || die "nginx in $ng is not answering on port $nginx_port (see $work/logs)"
  nginx_pids="$(cat "$ng/nginx.pid") $(ps -o pid= --ppid "$(cat "$ng/nginx.pid")" | tr '\n' ' ')"
}

# stop_nginx DIR: stops the nginx start_nginx started there, if it runs.
stop_nginx() {
  if [ -f "$1/nginx.pid" ]; then kill "$(cat "$1/nginx.pid")" 2>/dev/null || true; fi
  rm -f "$1/nginx.pid"
}

# start_router TAG BACKENDS CACHE_MB [FLAGS...]: sets port and pid. The
# router takes a port from the kernel and names it in its event=listening
# line, with the admin port (/admin/status) as admin_listen, kept in
# admin_port_of.
declare -A admin_port_of
start_router() {
  local tag="$1" list="$2" cache="$3" log="$work/logs/fsrouter-$1.log" line
  shift 3
  setsid "$fsrouter" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --backends "$list" --journal-dir "$work/journal-$tag" \
    --body-cache-mb "$cache" --io-threads "$io_threads" "$@" >"$log" 2>&1 </dev/null &
  pid=$!
  started+=("$pid")
  routers+=("$pid")
  line="$(wait_log "$log" 'event=listening' "$pid")"
  # setsid execs in place unless its caller leads a process group (job
  # control on): then $! would be a wrapper that has exited.
  [ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] || die "router $tag is not in a session of its own"
  port="$(sed -E 's/.* listen="[^"]*:([0-9]+)".*/\1/' <<<"$line")"
  admin_port_of[$port]="$(sed -E 's/.* admin_listen="[^"]*:([0-9]+)".*/\1/' <<<"$line")"
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz")" = 200 ] && return 0
    sleep 0.1
  done
  die "router $tag not ready"
}

stop_pid() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# Stops the routers, then the rest, each group at once.
stop_started() {
  local pid
  for pid in "${routers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${routers[@]}"; do stop_pid "$pid"; done
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do stop_pid "$pid"; done
  started=()
  routers=()
}

# status PORT: /admin/status of the router serving clients on PORT.
status() { curl -s --max-time 5 "http://127.0.0.1:${admin_port_of[$1]}/admin/status"; }

# wait_settled PORT SECONDS [cold]: every record applied; with "cold", no
# body kept and every backend confirmed at the last sequence.
wait_settled() {
  local port="$1" limit="$2" mode="${3:-}" deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if status "$port" | python3 -c '
import json, sys
s = json.load(sys.stdin)
ok = s["pending_count"] == 0 and s["applied_seq"] >= s["last_seq"]
if sys.argv[1] == "cold":
    ok = ok and s["body_bytes"] == 0 and all(b["confirmed"] and b["watermark"] >= s["last_seq"] for b in s["backends"])
sys.exit(0 if ok else 1)' "$mode" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  status "$port" >&2 || true
  die "router on port $port did not settle within ${limit}s"
}

# bench TAG ARGS...: runs the closed-loop client, keeps its JSON line.
bench() {
  local tag="$1"
  shift
  "${boost[@]}" "$client" "$@" >>"$work/results/$tag.jsonl" 2>>"$work/logs/client.log" || die "client failed ($tag)"
  tail -n 1 "$work/results/$tag.jsonl" | python3 -c '
import json, sys
r = json.load(sys.stdin)
bad = r["errors"] + r["timeouts"] + r["other_status"] + r["size_mismatch"]
print("bench:   {tag:<14} ok {ok_per_s:8.1f}/s  p50 {ok_p50_ms:8.1f} ms  p99 {ok_p99_ms:8.1f} ms  429 {status_429}  5XX {status_5xx}  other {bad}".format(tag=sys.argv[1], bad=bad, **r), file=sys.stderr)' "$tag"
}

# idle_load TAG PORT PID...: the CPU (cores) the processes use over 2 s
# and the growth of their resident memory (VmRSS summed) while 10,000
# keep-alive connections, each having made one request, sit idle, against
# the same processes with none open; how many were still open at the end.
# Appends one JSON line to results/idle-TAG.jsonl.
idle_load() {
  local tag="$1"
  shift
  "${boost[@]}" python3 - "$@" >>"$work/results/idle-$tag.jsonl" <<'PY'
import json, os, resource, socket, sys, time
port, pids = int(sys.argv[1]), sys.argv[2:]
n = 10000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    total = 0
    for pid in pids:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    return total / tck
def rss_kib():
    total = 0
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total
def cores(seconds):
    c0, t0 = cpu(), time.time()
    time.sleep(seconds)
    return (cpu() - c0) / (time.time() - t0)
out = {"connections": n}
out["idle_0_cores"] = round(cores(2.0), 4)
rss_before = rss_kib()
socks = []
t0 = time.time()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET /api/fileserver/g0 HTTP/1.1\r\nHost: bench\r\n\r\n")
    socks.append(s)
    if len(socks) % 500 == 0:  # read the answers as we go: no send buffer fills
        for t in socks[-500:]:
            t.recv(65536)
for s in socks[len(socks) - len(socks) % 500:]:
    s.recv(65536)
out["open_s"] = round(time.time() - t0, 2)
time.sleep(0.5)
out[f"idle_{n}_cores"] = round(cores(2.0), 4)
out["rss_growth_mib"] = round((rss_kib() - rss_before) / 1024, 1)
still_open = 0
for s in socks:
    s.setblocking(False)
    try:
        still_open += s.recv(1) != b""
    except BlockingIOError:
        still_open += 1
    except OSError:
        pass
    s.close()
out[f"idle_{n}_open_at_end"] = still_open
print(json.dumps(out))
PY
  # The servers see the closes; give them a moment before the next row.
  sleep 1
}

# open_fds PID...: descriptors the processes hold in all.
open_fds() {
  local pid n=0
  for pid in "$@"; do n=$((n + $(ls "/proc/$pid/fd" 2>/dev/null | wc -l))); done
  echo "$n"
}

# settle BASELINE PID...: waits (30 s at most) until the processes hold no
# more than BASELINE + 64 descriptors, so that the connections a row closed
# are gone before the next row starts and do not count against it.
settle() {
  local baseline="$1" deadline=$((SECONDS + 30))
  shift
  while [ "$(open_fds "$@")" -gt $((baseline + 64)) ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
}

# wrk_run TAG URL CONNECTIONS [wrk flags...]: a closed loop of wrk (two
# threads, 4 s); appends its figures to results/TAG.jsonl as one JSON line.
wrk_run() {
  local tag="$1" url="$2" conns="$3"
  shift 3
  "${boost[@]}" wrk -t 2 -c "$conns" -d 4s --timeout 5s --latency "$@" "$url" >"$work/results/$tag.last.txt" 2>&1 ||
    die "wrk failed ($tag): $(tail -n 3 "$work/results/$tag.last.txt")"
  python3 - "$work/results/$tag.last.txt" "$tag" >>"$work/results/$tag.jsonl" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
out = {"req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}
for pct in ("50", "99"):
    m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
    out[f"p{pct}_ms"] = ms(m.group(1)) if m else float("nan")
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
out["non_2xx"] = int(m.group(1)) if m else 0
print(json.dumps(out))
print("bench:   {:<22} {:9.0f} req/s  p50 {:7.2f} ms  p99 {:7.2f} ms  socket errors {}  non-2xx {}".format(
    sys.argv[2], out["req_per_s"], out["p50_ms"], out["p99_ms"], out["socket_errors"], out["non_2xx"]), file=sys.stderr)
PY
}

# Counts of warn/error lines in a router log.
log_problems() { grep -cE 'level=(warn|error)' "$1" || true; }

# ------------------------------------------------------- 1. PUT latency

run_put() {
  say "1. PUT acknowledgement latency, 1,000 writers, ~1 KiB bodies, 333 ms stand-ins"
  start_fileservers put 5 "$work/data-put" 333
  local put_backends="$backends"
  start_router put "$put_backends" 2048
  local router_port="$port"
  start_fileserver bare "$work/data-bare" 333
  local bare_port="$port"
  # nginx taking the same PUTs with its WebDAV module: each body written to
  # a temporary file and renamed into place, on tmpfs (/dev/shm): nothing
  # reaches the disk, so this baseline costs no disk work and leaves none
  # behind for the router's rounds (the kernel would write its files back
  # during them). What the same 1,000 writers on these cores come to for a
  # server that keeps the bytes and promises nothing.
  local ng nginx_port nginx_pids
  if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" = tmpfs ] &&
    shm="$(mktemp -d /dev/shm/fsrouter-bench.XXXXXX)"; then
    chmod 755 "$shm"
    ng="$shm/nginx-put"
  else
    shm="" ng="$work/nginx-put"
    say "  no tmpfs at /dev/shm: nginx's PUT baseline writes to $work (synced after each run)"
  fi
  start_nginx "$ng" "location /api/fileserver/ { dav_methods PUT; client_max_body_size 2m; }"
  chmod 777 "$ng/root/api/fileserver" "$ng/tmp"  # nginx's workers run as nobody under root
  local nginx_put_port="$nginx_port"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary probe "http://127.0.0.1:$nginx_put_port/api/fileserver/probe")" = 201 ] ||
    die "nginx does not take PUT (WebDAV)"
  local args=(--method PUT --duration 8 --warmup 2 --body-size 1024 --backoff-ms 100)
  local r
  bench_nginx_put() {
    bench put-nginx --url "http://127.0.0.1:$nginx_put_port" --prefix "nginx-w$r-" --connections 1000 "${args[@]}"
    [ -n "$shm" ] || sync
  }
  for ((r = 1; r <= reps; r++)); do
    say "  round $r/$reps"
    if ((r % 2)); then
      bench put-router --url "http://127.0.0.1:$router_port" --prefix "router-w$r-" --connections 1000 "${args[@]}"
      bench_nginx_put
      bench put-bare --url "http://127.0.0.1:$bare_port" --prefix "bare-w$r-" --connections 1000 "${args[@]}"
      bench put-router-100 --url "http://127.0.0.1:$router_port" --prefix "router-h$r-" --connections 100 "${args[@]}"
    else
      bench put-router-100 --url "http://127.0.0.1:$router_port" --prefix "router-h$r-" --connections 100 "${args[@]}"
      bench put-bare --url "http://127.0.0.1:$bare_port" --prefix "bare-w$r-" --connections 1000 "${args[@]}"
      bench_nginx_put
      bench put-router --url "http://127.0.0.1:$router_port" --prefix "router-w$r-" --connections 1000 "${args[@]}"
    fi
  done
  stop_nginx "$ng"
  status "$router_port" >"$work/results/put-router-status.json" || true
  log_problems "$work/logs/fsrouter-put.log" >"$work/results/put-router-log-problems.txt"
  stop_started
}

# ------------------------------------------- 2. cached GET against nginx

run_get() {
  say "2. the front door against nginx: 1 KiB files from the router's journal and from nginx's disk"
  local names=100 fsload_rate=5000
  start_fileservers get 1 "$work/data-get" 333
  # Room for the 10,000 idle connections of the last row.
  start_router get "$backends" 2048 --max-connections 12000
  local router_port="$port" router_pid="$pid"
  "$client" --url "http://127.0.0.1:$router_port" --method PUT --name-mode sequence --names "$names" \
    --requests "$names" --connections 10 --prefix g --body-size 1024 --duration 30 \
    >"$work/results/get-preload.json" 2>>"$work/logs/client.log"
  wait_settled "$router_port" 60

  # nginx serves the same bytes (the client's body pattern) from disk.
  local ng="$work/nginx" nginx_port nginx_pids
  mkdir -p "$ng/root/api/fileserver"
  python3 - "$ng/root/api/fileserver" "$names" <<'PY'
import os, sys
body = bytes(ord('a') + i % 26 for i in range(1024))
for i in range(int(sys.argv[2])):
    p = os.path.join(sys.argv[1], f"g{i}")
    open(p, "wb").write(body)
    os.chmod(p, 0o644)
PY
  start_nginx "$ng"
  curl -fs "http://127.0.0.1:$nginx_port/api/fileserver/g0" | cmp -s - <(curl -fs "http://127.0.0.1:$router_port/api/fileserver/g0") ||
    die "nginx and the router do not serve the same bytes"
  local router_fds nginx_fds
  router_fds="$(open_fds "$router_pid")"
  # shellcheck disable=SC2086
  nginx_fds="$(open_fds $nginx_pids)"

  # A run that falls over ends after 200 failures, each bounded by 2 s.
  local fl=(run --mix 1:0:0:0 --fixed-name g0 --rate "$fsload_rate" --duration 3 --check-share 0 --check-share-early 0
    --connection keepalive --idle-connections 64 --timeout 2 --max-failures 200 --quiet)
  local r who url first second
  for ((r = 1; r <= reps; r++)); do
    say "  round $r/$reps"
    if ((r % 2)); then first=router second=nginx; else first=nginx second=router; fi
    for who in "$first" "$second"; do
      local pids fds
      if [ "$who" = router ]; then
        url="http://127.0.0.1:$router_port" pids="$router_pid" fds="$router_fds"
      else
        url="http://127.0.0.1:$nginx_port" pids="$nginx_pids" fds="$nginx_fds"
      fi
      # shellcheck disable=SC2086
      settle "$fds" $pids
      wrk_run "get16-$who" "$url/api/fileserver/g0" 16
      wrk_run "get256-$who" "$url/api/fileserver/g0" 256
      # The PUT row's client and connection count on a request that costs
      # the server least: what latency 1,000 connections on these cores
      # come to when nothing is written.
      bench "get1000-$who" --url "$url" --method GET --prefix g --names "$names" --name-mode random \
        --expect-size 1024 --connections 1000 --duration 8 --warmup 2
      # shellcheck disable=SC2086
      settle "$fds" $pids
      wrk_run "close256-$who" "$url/api/fileserver/g0" 256 -H "Connection: close"
      # shellcheck disable=SC2086
      settle "$fds" $pids
      "${boost[@]}" "$fsload" "${fl[@]}" --url "$url" --json "$work/results/fsload-$who-$r.json" \
        >>"$work/logs/fsload.log" 2>&1 || say "  fsload against $who exited $?"
      say "  10,000 idle keep-alive connections: $who"
      if [ "$who" = router ]; then
        idle_load router "$router_port" "$router_pid"
      else
        # shellcheck disable=SC2086
        idle_load nginx "$nginx_port" $nginx_pids
      fi
      tail -n 1 "$work/results/idle-$who.jsonl" | sed "s/^/bench:   idle $who /" >&2
    done
  done
  stop_nginx "$ng"
  status "$router_port" >"$work/results/get-router-status.json" || true
  log_problems "$work/logs/fsrouter-get.log" >"$work/results/get-router-log-problems.txt"
  stop_started
}

# ---------------------------------- 3. uncached reads: five backends vs one

run_read_at() {
  local latency="$1" names="$2" duration="$3" warmup="$4"
  say "3. uncached reads at ${latency} ms: five backends against one (--body-cache-mb 0)"
  start_fileservers "r$latency-five" 5 "$work/data-r$latency-five" "$latency"
  start_router "r$latency-five" "$backends" 0
  local five="$port" five_pid="$pid"
  start_fileservers "r$latency-one" 1 "$work/data-r$latency-one" "$latency"
  start_router "r$latency-one" "$backends" 0
  local one="$port" one_pid="$pid"
  local p loaders=()
  for p in "$five" "$one"; do
    "$client" --url "http://127.0.0.1:$p" --method PUT --name-mode sequence --names "$names" \
      --requests "$names" --connections 20 --prefix c --body-size 1024 --duration 30 \
      >>"$work/results/read-preload.jsonl" 2>>"$work/logs/client.log" &
    loaders+=("$!")
  done
  for p in "${loaders[@]}"; do wait "$p" || die "preload failed"; done
  wait_settled "$five" 90 cold
  wait_settled "$one" 90 cold
  status "$five" >"$work/results/read-$latency-five-status-before.json"
  status "$one" >"$work/results/read-$latency-one-status-before.json"
  local args=(--method GET --name-mode sequence --names "$names" --prefix c --expect-size 1024
    --connections 60 --duration "$duration" --warmup "$warmup" --backoff-ms 100 --timeout 10)
  local r
  for ((r = 1; r <= reps; r++)); do
    say "  round $r/$reps"
    if ((r % 2)); then
      bench "read-$latency-five" --url "http://127.0.0.1:$five" "${args[@]}"
      bench "read-$latency-one" --url "http://127.0.0.1:$one" "${args[@]}"
    else
      bench "read-$latency-one" --url "http://127.0.0.1:$one" "${args[@]}"
      bench "read-$latency-five" --url "http://127.0.0.1:$five" "${args[@]}"
    fi
  done
  status "$five" >"$work/results/read-$latency-five-status.json"
  status "$one" >"$work/results/read-$latency-one-status.json"
  log_problems "$work/logs/fsrouter-r$latency-five.log" >"$work/results/read-$latency-five-log-problems.txt"
  log_problems "$work/logs/fsrouter-r$latency-one.log" >"$work/results/read-$latency-one-log-problems.txt"
  : "$five_pid" "$one_pid"
  stop_started
}

run_read() {
  run_read_at 20 1000 4 1
  run_read_at 333 300 6 2
}

# ------------------------------------------------------------------ report

say "build $build, $reps rounds, work in $work"
[[ ",$only," == *",put,"* ]] && run_put
[[ ",$only," == *",get,"* ]] && run_get
[[ ",$only," == *",read,"* ]] && run_read

python3 - "$work/results" "$reps" "$((SECONDS - t_begin))" <<'PY'
import glob, json, os, statistics, sys

d, reps, took = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def runs(tag):
    p = os.path.join(d, tag + ".jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []

def med(rs, key):
    vals = [r[key] for r in rs if r.get(key, -1) >= 0]
    return statistics.median(vals) if vals else float("nan")

# Median of the ratios of the rounds (each pair ran side by side); a round
# without the figure on either side (-1: no answer counted) is left out.
def ratio(xs, ys, key="ok_per_s"):
    rs = [x[key] / y[key] for x, y in zip(xs, ys) if y[key] > 0 and x[key] >= 0]
    return statistics.median(rs) if rs else float("nan")

def failures(rs):
    return sum(r["status_5xx"] + r["errors"] + r["timeouts"] + r["other_status"] + r["size_mismatch"] for r in rs)

# A round stalled when one of its seconds acknowledged under a tenth of the
# median rate of all rounds.
def stalled(rs):
    typical = statistics.median(r["ok_per_s"] for r in rs)
    return sum(1 for r in rs if r["per_second_ok"] and min(r["per_second_ok"]) < typical / 10)

def problems(name):
    p = os.path.join(d, name + "-log-problems.txt")
    return open(p).read().strip() if os.path.exists(p) else "?"

rows = []
def row(*cells):
    rows.append(cells)

router, bare = runs("put-router"), runs("put-bare")
if router and bare:
    share = statistics.median(r["status_429"] / max(r["completed"], 1) for r in bare)
    rw = statistics.median(r["connections_with_ok"] for r in bare)
    row("PUT 1 KiB, 1,000 writers, 333 ms", "router, 5 stand-ins",
        f"ack p50 {med(router, 'ok_p50_ms'):.0f} ms, p99 {med(router, 'ok_p99_ms'):.0f} ms; "
        f"{med(router, 'ok_per_s'):.0f} PUT/s acknowledged; stalled rounds {stalled(router)} of {len(router)}; "
        f"429 {sum(r['status_429'] for r in router)}; failures {failures(router)}")
    row("", "one bare stand-in",
        f"201 p50 {med(bare, 'ok_p50_ms'):.0f} ms, p99 {med(bare, 'ok_p99_ms'):.0f} ms; "
        f"{med(bare, 'ok_per_s'):.0f} PUT/s acknowledged; 429 share {share:.1%}; "
        f"{rw:.0f} of 1,000 writers acknowledged at least once; failures {failures(bare)}")
    row("", "router / bare",
        f"{ratio(router, bare):.0f}x acknowledged PUT/s")
    ngput = runs("put-nginx")
    if ngput:
        row("", "nginx, WebDAV PUT, nothing synced (same client and writers)",
            f"2xx p50 {med(ngput, 'ok_p50_ms'):.0f} ms, p99 {med(ngput, 'ok_p99_ms'):.0f} ms; "
            f"{med(ngput, 'ok_per_s'):.0f} PUT/s answered; failures {failures(ngput)}")
        row("", "router / nginx",
            f"p99 {ratio(router, ngput, 'ok_p99_ms'):.2f} of nginx's {med(ngput, 'ok_p99_ms'):.0f} ms; "
            f"PUT/s {ratio(router, ngput):.2f} of nginx's {med(ngput, 'ok_per_s'):.0f}")
    hundred = runs("put-router-100")
    if hundred:
        row("PUT 1 KiB, 100 writers, 333 ms", "router, 5 stand-ins (same router)",
            f"ack p50 {med(hundred, 'ok_p50_ms'):.0f} ms, p99 {med(hundred, 'ok_p99_ms'):.0f} ms; "
            f"{med(hundred, 'ok_per_s'):.0f} PUT/s acknowledged; stalled rounds {stalled(hundred)} of {len(hundred)}; "
            f"failures {failures(hundred)}")

for tag, label in (("get16", "GET cached 1 KiB, wrk closed loop, 16 keep-alive connections"),
                   ("get256", "GET cached 1 KiB, wrk closed loop, 256 keep-alive connections"),
                   ("close256", "GET cached 1 KiB, `Connection: close` storm, wrk, 256 connections")):
    a, b = runs(f"{tag}-router"), runs(f"{tag}-nginx")
    if not (a and b):
        continue
    def line(rs):
        return (f"{med(rs, 'req_per_s'):.0f} req/s, p50 {med(rs, 'p50_ms'):.2f} ms, p99 {med(rs, 'p99_ms'):.2f} ms; "
                f"socket errors {sum(r['socket_errors'] for r in rs)}, non-2xx {sum(r['non_2xx'] for r in rs)}")
    row(label, "router (journal)", line(a))
    row("", "nginx (disk, sendfile)", line(b))
    row("", "router / nginx", f"{ratio(a, b, 'req_per_s'):.2f} of nginx's {med(b, 'req_per_s'):.0f} req/s")

# The PUT row's 1,000 connections and client, reading: the same figures
# for a server that writes nothing and promises nothing.
a, b = runs("get1000-router"), runs("get1000-nginx")
if a and b:
    def line(rs):
        return (f"{med(rs, 'ok_per_s'):.0f} req/s, p50 {med(rs, 'ok_p50_ms'):.0f} ms, p99 {med(rs, 'ok_p99_ms'):.0f} ms; "
                f"failures {failures(rs)}")
    row("GET cached 1 KiB, fsbench_closed_loop, 1,000 keep-alive connections (the PUT row's client)",
        "router (journal)", line(a))
    row("", "nginx (disk, sendfile)", line(b))
    row("", "router / nginx", f"{ratio(a, b, 'ok_per_s'):.2f} of nginx's {med(b, 'ok_per_s'):.0f} req/s; "
        f"p99 {ratio(a, b, 'ok_p99_ms'):.2f} of nginx's {med(b, 'ok_p99_ms'):.0f} ms")

fl = {}
for who in ("router", "nginx"):
    rs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, f"fsload-{who}-*.json")))]
    if rs:
        fl[who] = dict(
            target=statistics.median(r["throughput"]["mean_target_per_s"] for r in rs),
            ok=statistics.median(r["throughput"]["mean_successful_per_s"] for r in rs),
            p50=statistics.median(r["ops"]["GET"]["latency"]["p50_ms"] for r in rs),
            p99=statistics.median(r["ops"]["GET"]["latency"]["p99_ms"] for r in rs),
            fail=sum(r["totals"]["failures"] for r in rs),
            fell=sum(1 for r in rs if r["totals"]["failures"] > 0),
            n=len(rs),
            rates=[(r["throughput"]["mean_successful_per_s"], r["totals"]["failures"]) for r in rs],
            lag=statistics.median(r["throughput"]["max_issue_lag_ms"] for r in rs))
if len(fl) == 2:
    for i, (who, side) in enumerate((("router", "router"), ("nginx", "nginx"))):
        f = fl[who]
        row("GET cached 1 KiB, fsload open loop 5,000/s, 3 s" if i == 0 else "", side,
            f"{f['ok']:.0f}/{f['target']:.0f} req/s, p50 {f['p50']} ms, p99 {f['p99']} ms; "
            f"failures {f['fail']} (rounds with failures: {f['fell']} of {f['n']}); client issue lag max {f['lag']} ms")
    # Only rounds in which neither side failed: a run the failure budget
    # ended says more about the client's lag than about the server.
    pairs = [a / b for (a, fa), (b, fb) in zip(fl["router"]["rates"], fl["nginx"]["rates"]) if b > 0 and fa == 0 and fb == 0]
    row("", "router / nginx",
        f"{statistics.median(pairs):.2f} of nginx's {fl['nginx']['ok']:.0f} req/s over {len(pairs)} round(s) without failures"
        if pairs else "n/a (every round had failures)")

idle = {who: runs(f"idle-{who}") for who in ("router", "nginx")}
if idle["router"] and idle["nginx"]:
    for i, who in enumerate(("router", "nginx")):
        rs = idle[who]
        n = rs[0]["connections"]
        row("10,000 idle keep-alive connections (target: router <= 0.02 cores, <= 64 MiB)" if i == 0 else "", who,
            f"{med(rs, f'idle_{n}_cores'):.3f} cores (none open: {med(rs, 'idle_0_cores'):.3f}); "
            f"RSS growth {max(r['rss_growth_mib'] for r in rs):.1f} MiB (largest of the rounds); "
            f"still open at the end {min(r[f'idle_{n}_open_at_end'] for r in rs)} "
            f"(fewest of {len(rs)} rounds); opened in {med(rs, 'open_s'):.1f} s")
    rr, nn = idle["router"], idle["nginx"]
    # The largest growth is the first round's: memory a server keeps once
    # the connections close is reused by the later rounds.
    big_r, big_n = max(r["rss_growth_mib"] for r in rr), max(r["rss_growth_mib"] for r in nn)
    row("", "router / nginx", f"RSS growth {big_r / big_n:.1f}x nginx's {big_n:.1f} MiB" if big_n > 0 else "n/a")

for lat in (20, 333):
    five, one = runs(f"read-{lat}-five"), runs(f"read-{lat}-one")
    if five and one:
        a, b = med(five, "ok_per_s"), med(one, "ok_per_s")
        spread = ""
        p = os.path.join(d, f"read-{lat}-five-status.json")
        q = os.path.join(d, f"read-{lat}-five-status-before.json")
        if os.path.exists(p) and os.path.exists(q):
            after, before = json.load(open(p)), json.load(open(q))
            reqs = [x["requests"] - y["requests"] for x, y in zip(after["backends"], before["backends"])]
            total = max(sum(reqs), 1)
            spread = "; backend shares " + " ".join(f"{n / total:.0%}" for n in reqs)
        row(f"GET uncached 1 KiB, 60 connections, {lat} ms", "router, 5 backends",
            f"{a:.0f} req/s, p50 {med(five, 'ok_p50_ms'):.0f} ms, p99 {med(five, 'ok_p99_ms'):.0f} ms; failures {failures(five)}{spread}")
        row("", "router, 1 backend",
            f"{b:.0f} req/s, p50 {med(one, 'ok_p50_ms'):.0f} ms, p99 {med(one, 'ok_p99_ms'):.0f} ms; failures {failures(one)}")
        row("", "five / one", f"{ratio(five, one):.2f}")

print(f"\nfsrouter benchmark: median of {reps} rounds (failures: sum over the rounds), {took} s in all\n")
print("| measurement | side | result |")
print("|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
notes = []
for name in ("put-router", "get-router", "read-20-five", "read-20-one", "read-333-five", "read-333-one"):
    v = problems(name)
    if v not in ("?", "0"):
        notes.append(f"{name}: {v} warn/error lines in the router's log")
if notes:
    print("\n" + "\n".join(notes))
PY
