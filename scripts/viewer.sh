#!/usr/bin/env bash
# The defect viewer: install, build, and serve the six demo models with the viewer page
# (web/) on http://127.0.0.1:8000/ until Ctrl-C. Prepare and Unload on the page need the
# admin token this script writes to build/viewer-token.
#   ./scripts/viewer.sh [--http HOST:PORT] [any other kiln serve option]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh
kiln_install_deps
kiln_build kiln_cli
HTTP=127.0.0.1:8000
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --http) HTTP="$2"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [[ ! -s build/viewer-token ]]; then
  (umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > build/viewer-token)
fi
echo
echo "kiln viewer: open http://${HTTP}/ in a browser (admin token for Prepare/Unload: $(cat build/viewer-token))"
echo "             the models prepare in the background; the page shows their progress. Ctrl-C stops."
echo
exec build/kiln serve --demo --web web --http "$HTTP" --grpc '' --model-control explicit \
  --admin-token-file build/viewer-token "${ARGS[@]}"
