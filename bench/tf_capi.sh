#!/usr/bin/env bash
# A TensorFlow C API program relinked against kiln's libtensorflow, on the Keras U-Net users run
# (24 convolutions, input_1 -> conv2d_23/Sigmoid): prepare cost, first run against later runs,
# and a second session of the same architecture with other weights (time and memory).
#   bench/tf_capi.sh [--width W] [--size S] [--runs N]     (default: width 32, 256x256, 10 runs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
width=32; size=256; runs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --width) width=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/tf_capi.sh [--width W] [--size S] [--runs N]" >&2; exit 2 ;;
  esac
done
cmake --build build -j2 --target make_tf_unet tf_capi_bench >/dev/null
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
build/make_tf_unet "$dir/a.pb" --seed 1 --width "$width" --size "$size"
build/make_tf_unet "$dir/b.pb" --seed 2 --width "$width" --size "$size"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u +%F)"
build/tf_capi_bench "$dir/a.pb" "$dir/b.pb" --runs "$runs"
