#!/usr/bin/env bash
# Brings the Compose deployment up from a fresh clone: installs what the build
# needs (Debian packages), builds with CMake into build/, builds the images
# (no registry needed), starts the stack and waits until every service is
# healthy, then prints the router's URL.
#
#   scripts/compose-up.sh [--skip-build] [--wait SECONDS]
#
#   --skip-build   use the programs already in build/ (no install, no CMake)
#   --wait S       how long to wait for every service to be healthy [180]
#
# Environment: BUILD_DIR [build], COMPOSE_PROJECT_NAME [fsrouter],
# FSR_IMAGE_TAG [local], FSROUTER_PUBLISH (host side of the published port,
# [IP:]PORT) [8080].
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/compose-lib.sh

skip_build=0
wait_s=180
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) skip_build=1 ;;
    --wait) wait_s="$2"; shift ;;
    *) sed -n '7,10p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
  esac
  shift
done
tag="${FSR_IMAGE_TAG:-local}"
build_dir="${BUILD_DIR:-build}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if [ "$skip_build" -eq 0 ]; then
  bash scripts/install-deps.sh
  if ! command -v docker >/dev/null 2>&1 ||
     { ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; }; then
    echo "compose-up: installing Docker and Compose from Debian's archive"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      docker.io docker-compose
  fi
  echo "=== build"
  cmake -S . -B "$build_dir" >/dev/null
  cmake --build "$build_dir" -j2
fi

if ! docker info >/dev/null 2>&1; then
  echo "compose-up: the Docker daemon is not reachable (is it running? try: $SUDO systemctl start docker)" >&2
  exit 1
fi

echo "=== images"
bash deploy/build-images.sh "$build_dir" "$tag"

echo "=== start (project $project)"
compose up -d

echo "=== waiting for every service to be healthy (up to ${wait_s}s)"
deadline=$((SECONDS + wait_s))
while :; do
  unhealthy=()
  for service in $(compose config --services); do
    id="$(compose ps -q "$service")"
    state="missing"
    [ -z "$id" ] || state="$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")"
    [ "$state" = "running/healthy" ] || unhealthy+=("$service=$state")
  done
  [ "${#unhealthy[@]}" -eq 0 ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "compose-up: not healthy after ${wait_s}s: ${unhealthy[*]}" >&2
    compose ps >&2
    compose logs --tail 20 >&2
    exit 1
  fi
  sleep 2
done
compose ps

published="$(compose port fsrouter 8080)"
port="${published##*:}"
host="${published%:*}"
[ "$host" != "0.0.0.0" ] && [ "$host" != "::" ] || host="localhost"
echo "fsrouter is up: http://$host:$port/api/fileserver/{name}"
echo "  status: http://ROUTER-CONTAINER-IP:8081/admin/status (the compose network only; not published)"
