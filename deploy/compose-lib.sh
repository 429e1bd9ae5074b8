# Sourced by scripts/compose-up.sh and scripts/compose-down.sh.
#
# compose ARGS...   runs Compose on the repository's docker-compose.yml under
#                   the project name $COMPOSE_PROJECT_NAME (default fsrouter),
#                   so that volumes are always fsrouter_journal and
#                   fsrouter_data whatever the checkout's folder is called.
# Debian's docker-compose 1.29 and Compose v2 (`docker compose`) both read the
# file (format 2.4).
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="${COMPOSE_PROJECT_NAME:-fsrouter}"

compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    docker-compose -p "$project" -f "$repo_root/docker-compose.yml" "$@"
  elif docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" -f "$repo_root/docker-compose.yml" "$@"
  else
    echo "neither docker-compose nor 'docker compose' is installed" >&2
    return 1
  fi
}
