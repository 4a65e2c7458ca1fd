#!/usr/bin/env bash
# The shell steps of .github/workflows/pages.yml, so that the workflow runs the same commands as
# tests/test_workflow.py does locally (there on tiny-cnn, with ATLAS_OPTIONS for small settings).
#
#   pages-build.sh matrix N           the shard list [0, 1, ..., N-1] as JSON, for the workflow's job matrix
#   pages-build.sh build OUT          the whole atlas in one process (the preview profile's job)
#   pages-build.sh shard I N OUT      shard I of N into its own directory (one job of the full profile's matrix)
#   pages-build.sh merge OUT DIR...   the shard directories merged and rendered into one site OUT (and, for a
#                                     config with [[compare]] tables, its checkpoints compared)
#   pages-build.sh check SITE         every link of every page resolves inside the site (tests/sitecheck.py)
#
# A config with [[models]] tables builds every model into OUT/<name>/ with a models index at OUT/index.html; a
# shard job then builds a share of every model's units (docs/publishing.md).
# Environment: ATLAS_CONFIG (default atlas.toml), ATLAS_PROFILE (preview), ATLAS_OPTIONS (more `atlas build`
# options, split on spaces; empty in the workflow), PYTHON (python: the one the project is installed in).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-python}
config=${ATLAS_CONFIG:-atlas.toml}
profile=${ATLAS_PROFILE:-preview}
read -r -a options <<< "${ATLAS_OPTIONS:-}"

atlas() { "$python" -m generator.cli "$@"; }
usage() { sed -n '5,10p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

command=${1:-}
shift || true
case "$command" in
  matrix)
    [ $# -eq 1 ] || usage
    "$python" -c 'import json, sys
count = int(sys.argv[1])
if count < 1:
    sys.exit(f"the number of shards must be at least 1, got {count}")
print(json.dumps(list(range(count))))' "$1"
    ;;
  build)
    [ $# -eq 1 ] || usage
    atlas build --config "$config" --profile "$profile" --out "$1" "${options[@]}"
    ;;
  shard)
    [ $# -eq 3 ] || usage
    atlas build --config "$config" --profile "$profile" --shard "$1/$2" --out "$3" "${options[@]}"
    ;;
  merge)
    [ $# -ge 2 ] || usage
    out=$1
    shift
    merges=()
    for directory in "$@"; do merges+=(--merge "$directory"); done
    atlas render "$out" "${merges[@]}"
    if grep -q '^\[\[compare\]\]' "$config"; then atlas compare --config "$config" --out "$out"; fi
    ;;
  check)
    [ $# -eq 1 ] || usage
    "$python" "$root/tests/sitecheck.py" "$1"
    ;;
  *)
    usage
    ;;
esac
