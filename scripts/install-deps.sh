#!/usr/bin/env bash
# Installs everything the project builds, tests and deploys with, from
# Debian's archive only. Idempotent: a second run installs nothing new.
set -euo pipefail

packages=(
  cmake g++ make pkg-config git ca-certificates
  libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
  librocksdb-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  libxxhash-dev libcurl4-openssl-dev libcli11-dev libboost1.81-dev
  # GET /metrics: prometheus-cpp's core (Registry, TextSerializer); promtool
  # (in prometheus) checks deploy/monitoring's configuration, rules and rule tests
  prometheus-cpp-dev prometheus
  # scripts/fuzz.sh: clang, and libclang-rt-14-dev for libFuzzer and the
  # sanitizer runtimes (libclang_rt.fuzzer-x86_64.a; only recommended by clang)
  clang libclang-rt-14-dev
  # fsrouter's allocator: tcmalloc_minimal from gperftools (router/CMakeLists.txt)
  libgoogle-perftools-dev
  curl nginx-light wrk procps psmisc python3 iproute2
  # tests/router/status_page_test.cc: headless Chromium loads the status
  # page; a font so that its screenshot has text
  chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
