#!/usr/bin/env bash
# The main job: install, build, and run the built-in demo — six defect-segmentation U-Nets of
# one architecture (models/demo/), prepared on one plan, segmenting generated surface images.
#   ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh
kiln_install_deps
kiln_build kiln_cli
echo
build/kiln demo --images 2 --out build/demo
echo
echo "Look at the overlays in build/demo/ (defect pixels red, regions boxed yellow)."
echo "More: build/kiln --help, build/kiln bench models/demo/unet.onnx, build/kiln gen-defects --out /tmp/defects"
