#!/usr/bin/env bash
# Stops and removes the Compose deployment. The router gets its full
# stop_grace_period to drain. Volumes (the journal and the shared data) are
# kept unless --volumes is given: removing the journal loses every
# acknowledged write not yet applied to the backends.
#
#   scripts/compose-down.sh [--volumes]
#
# Environment: COMPOSE_PROJECT_NAME [fsrouter].
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/compose-lib.sh

args=(down --remove-orphans)
case "${1:-}" in
  "") ;;
  --volumes) args+=(--volumes) ;;
  *) sed -n '7p' "$0" | sed 's/^# *//' >&2; exit 2 ;;
esac
compose "${args[@]}"
