#!/usr/bin/env bash
# Fails when a source file includes a project header from a layer above its
# own. Layers, lowest first (docs/architecture.md, "Source layout"):
#   common <- journal <- router/upstream <- recovery <- router
# Beside them: journal/fsjournal (the inspection program) sits on journal;
# fileserver, loadtest, deploy and supervisor sit on common. tests/ may include anything.
#   scripts/check-layers.sh [REPO_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# folder -> the folders its files may include from (its own included)
allowed_for() {
  case "$1" in
    common/*)           echo "common" ;;
    journal/fsjournal/*) echo "common journal journal/fsjournal" ;;
    journal/*)          echo "common journal" ;;
    router/upstream/*)  echo "common journal router/upstream" ;;
    recovery/*)         echo "common journal router/upstream recovery" ;;
    router/*)           echo "common journal router/upstream recovery router" ;;
    fileserver/*)       echo "common fileserver" ;;
    loadtest/*)         echo "common loadtest" ;;
    deploy/*)           echo "common deploy" ;;
    supervisor/*)       echo "common supervisor" ;;
    *)                  echo "" ;;
  esac
}

# The folder a header belongs to, as a layer name (the longest that matches).
layer_of() {
  case "$1" in
    journal/fsjournal/*) echo "journal/fsjournal" ;;
    router/upstream/*)   echo "router/upstream" ;;
    */*)                 echo "${1%%/*}" ;;
    *)                   echo "" ;;
  esac
}

violations=0
checked=0
while IFS= read -r file; do
  allowed="$(allowed_for "$file")"
  [ -n "$allowed" ] || continue
  checked=$((checked + 1))
  while IFS= read -r line; do
    header="$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/' <<<"$line")"
    [ -e "$header" ] || continue  # a header relative to the file itself, or a system one
    layer="$(layer_of "$header")"
    ok=0
    for a in $allowed; do [ "$a" = "$layer" ] && ok=1; done
    if [ "$ok" -eq 0 ]; then
      echo "check-layers: $file includes $header (layer $layer; $file may include: $allowed)" >&2
      violations=$((violations + 1))
    fi
  done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$file" || true)
done < <(find common journal router recovery fileserver loadtest deploy supervisor -type f \( -name '*.h' -o -name '*.cc' \) | sort)

if [ "$violations" -gt 0 ]; then
  echo "check-layers: $violations include(s) against the layer order" >&2
  exit 1
fi
echo "check-layers: $checked files, every include runs down the layers"
