#!/usr/bin/env bash
# Checks deploy/monitoring with promtool (Debian's `prometheus` package):
# the scrape configuration, the alert rules, and the rules' unit tests
# (alerts_test.yml: each alert fires on a synthetic failure, none on a
# healthy series). Run by CTest as monitoring_config (label unit).
#   scripts/check-monitoring.sh [SOURCE_DIR]
set -euo pipefail
source_dir="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
monitoring="$source_dir/deploy/monitoring"
if ! command -v promtool >/dev/null; then
  echo "check-monitoring: promtool not found (scripts/install-deps.sh installs the prometheus package)" >&2
  exit 1
fi
cd "$monitoring"
promtool check config prometheus.yml
promtool check rules alerts.yml
promtool test rules alerts_test.yml
