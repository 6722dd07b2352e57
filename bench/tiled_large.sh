#!/usr/bin/env bash
# A large image through tiles: U-Net-16 (fp32) on a 4096x4096 image, against the issue's bound
# of 1.5 GB peak RSS, and the same image at 1024x1024 whole and tiled (their difference).
#
#   bench/tiled_large.sh [--size 4096] [--tile 512] [--overlap 256] [--threads 2]
#
# Generates, when missing, bench/models/unet16/model.onnx (tools/make_unet.py) and random
# inputs in bench/models/inputs/ (fixed seed). Runs `kiln run --tile` in a fresh process and
# prints its time and peak RSS (kiln run reports the process's own peak).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SIZE=4096
TILE=512
OVERLAP=256
THREADS=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) SIZE="$2"; shift 2 ;;
    --tile) TILE="$2"; shift 2 ;;
    --overlap) OVERLAP="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "tiled_large.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
MODEL=bench/models/unet16/model.onnx
if [[ ! -s "$MODEL" ]]; then
  "$PYTHON" tools/make_unet.py --width 16 --height 256 --width-px 256 --seed 0 --out bench/models/unet16 --no-reference >&2
fi
mkdir -p bench/models/inputs
input() {  # SIZE -> path of a [1,1,SIZE,SIZE] random float32 .npy
  local f="bench/models/inputs/image_${1}.npy"
  [[ -s "$f" ]] || "$PYTHON" -c "import numpy as np, sys; np.random.seed(3); n = int(sys.argv[1]); np.save(sys.argv[2], np.random.rand(1, 1, n, n).astype(np.float32))" "$1" "$f"
  echo "$f"
}
BIG="$(input "$SIZE")"
echo "== U-Net-16, ${SIZE}x${SIZE} in ${TILE}x${TILE} tiles, overlap $OVERLAP, $THREADS threads"
"$KILN" run "$MODEL" --input "$BIG" --tile "$TILE" --overlap "$OVERLAP" --threads "$THREADS" \
  | grep -E '^(output|timings|tiles|memory)'
SMALL="$(input 1024)"
out=bench/models/inputs/out
echo "== U-Net-16, 1024x1024: whole image against ${TILE}x${TILE} tiles (random weights, random input)"
"$KILN" run "$MODEL" --input "$SMALL" --threads "$THREADS" --output "${out}_whole.npy" | grep -E '^memory'
"$KILN" run "$MODEL" --input "$SMALL" --tile "$TILE" --overlap "$OVERLAP" --threads "$THREADS" \
  --output "${out}_tiled.npy" | grep -E '^memory'
"$PYTHON" -c "
import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
d = np.abs(a - b)
print(f'max |tiled - whole| {d.max():.2e}, mean {d.mean():.2e}')
" "${out}_whole.npy" "${out}_tiled.npy"
