#!/usr/bin/env bash
# Measures how many requests per second fsload schedules and completes on
# this machine: nginx serves a small file at /api/fileserver/x on a loopback
# port, and fsload runs a constant GET-only rate against it. Prints the
# achieved rate as a ratio of the target.
#
#   loadtest/bench-vs-nginx.sh [BUILD_DIR] [RATE] [SECONDS] [extra fsload run flags...]
#   defaults: build-load 5000 10
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-$here/../build-load}"
rate="${2:-5000}"
seconds="${3:-10}"
shift $(( $# < 3 ? $# : 3 ))
fsload="$build/loadtest/fsload"
[ -x "$fsload" ] || { echo "bench: $fsload not built" >&2; exit 2; }
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "bench: nginx not installed" >&2; exit 2; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
# Bounded: at most 60 s and 20,000 requests/s.
[ "$seconds" -le 60 ] && [ "$rate" -le 20000 ] || { echo "bench: keep SECONDS <= 60 and RATE <= 20000" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/fsload-bench.XXXXXX")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() {
  if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/root/api/fileserver" "$work/tmp"
# nginx workers may run as another user (when started as root): let them read.
chmod 755 "$work" "$work/root" "$work/root/api" "$work/root/api/fileserver"
printf 'small file served by nginx for the fsload benchmark\n' > "$work/root/api/fileserver/x"
chmod 644 "$work/root/api/fileserver/x"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp;
  fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp;
  scgi_temp_path $work/tmp;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port backlog=4096;
    root $work/root;
  }
}
CONF
"$nginx_bin" -c "$work/nginx.conf" -p "$work" 2>/dev/null
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/api/fileserver/x" >/dev/null && break
  sleep 0.1
done

echo "bench: nginx on 127.0.0.1:$port, fsload run --rate $rate --duration $seconds (GET only)"
set +e
# On a starved machine the client falls behind and drains long: SIGTERM
# after 30 s more ends the run in order (fsload still writes its result).
timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -f "%U %S %e" -o "$work/cpu")
timeout -s TERM "$((seconds + 30))" "${timer[@]}" "$fsload" run --url "http://127.0.0.1:$port" --rate "$rate" --duration "$seconds" \
  --fixed-name x --mix 1:0:0:0 --check-share 0 --check-share-early 0 \
  --connection keepalive --idle-connections 1024 --quiet --json "$work/result.json" "$@"
code=$?
set -e
python3 - "$work/result.json" "$work/cpu" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
t = r["throughput"]
ok = r["totals"]["successful"]
print(f"bench: target {t['mean_target_per_s']:.0f}/s, completed {t['mean_completed_per_s']:.0f}/s, "
      f"successful {t['mean_successful_per_s']:.0f}/s "
      f"(ratio {t['mean_successful_per_s'] / max(t['mean_target_per_s'], 1):.3f}), "
      f"GET p50 {r['ops']['GET']['latency']['p50_ms']} ms, p99 {r['ops']['GET']['latency']['p99_ms']} ms, "
      f"client issue lag max {t['max_issue_lag_ms']} ms, failures {r['totals']['failures']}")
if os.path.exists(sys.argv[2]):
    user, system, wall = (float(x) for x in open(sys.argv[2]).read().split()[-3:])
    print(f"bench: fsload CPU {user + system:.2f} s over {wall:.1f} s = {(user + system) / wall:.2f} cores, "
          f"{(user + system) / max(r['requests']['completed'], 1) * 1e6:.0f} us per request")
PY
exit $code
