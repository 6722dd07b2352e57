# Sourced by the bench/ scripts: strict mode, the repository root as the working directory,
# and the tools they run (override by environment).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
KILN="${KILN:-build/kiln}"
PYTHON="${PYTHON:-/usr/bin/python3}"  # Debian's: torch, onnx, numpy, cv2 (another python3 may come first on PATH)
NODE="${NODE:-node}"
