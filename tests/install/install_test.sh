#!/usr/bin/env bash
# The installed tree, as a user gets it: `cmake --install` into a scratch prefix, then, from a
# directory outside the source tree, a C program built through pkg-config, a C++ project through
# find_package(kiln), the Python package, and `kiln demo` finding the installed demo models.
#   tests/install/install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd); src=$(cd "$2" && pwd)
prefix=$(mktemp -d -t kiln-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
work="$prefix/work"; mkdir -p "$work"; cd "$work"
demo="$prefix/share/kiln/models/demo"
export OMP_WAIT_POLICY=PASSIVE
"$prefix/bin/kiln" gen-defects --out . --classes concrete --count 1 --seed 900001 >/dev/null

echo "== C through pkg-config"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c99 -Wall -o segment_png "$src/examples/c/segment_png.c" $(pkg-config --cflags --libs kiln stb)
LD_LIBRARY_PATH="$prefix/lib" ./segment_png "$demo/unet.onnx" "$demo/concrete.safetensors" concrete/900001.png mask.pgm

echo "== C++ through find_package(kiln)"
cmake -S "$src/examples/cpp" -B cpp -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build cpp -j 2 >/dev/null
./cpp/swap_weights "$demo"

echo "== Python from the installed folder"
PYTHONPATH="$prefix/share/kiln/python" /usr/bin/python3 - "$demo" <<'PY'
import sys
import numpy as np
import kiln
demo = sys.argv[1]
with kiln.Engine() as e:
    e.load("leather", f"{demo}/unet.onnx", weights=f"{demo}/leather.safetensors")
    e.wait_ready("leather", 120)
    mask, regions = e.segment("leather", np.full((256, 256), 0.5, np.float32))
    print(f"python: kiln {kiln.version()}, a 256x256 image, {int(mask.sum())} defect pixels, {len(regions)} regions")
    try:
        e.run("nope", np.zeros((1, 1, 8, 8), np.float32))
        sys.exit("no error for an unknown model")
    except kiln.Error as err:
        print(f"python: unknown model -> kiln.Error({err.status!r}): {err}")
PY

echo "== kiln demo from outside the source tree"
"$prefix/bin/kiln" demo --images 1 --out overlays | tail -3
test -s overlays/leather_900000.png
echo "installed tree: ok"
