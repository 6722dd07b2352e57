#!/usr/bin/env bash
# The main job: install, build, and run kiln on the bundled U-Net and image.
#   ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/deps.sh
kiln_install_deps
kiln_build kiln_cli
mkdir -p build/demo
echo
echo "== kiln inspect: what the bundled U-Net is"
build/kiln inspect tests/fixtures/unet/w8_96x128/model.onnx --input-shape 1,1,256,256
echo
echo "== kiln run: segment demo/surface.png (256x256), write the mask"
build/kiln run tests/fixtures/unet/w8_96x128/model.onnx --input demo/surface.png --output build/demo/surface_mask.png
echo
echo "== kiln bench: load, first run and steady latency"
build/kiln bench tests/fixtures/unet/w8_96x128/model.onnx --input-shape 1,1,256,256 --runs 20
