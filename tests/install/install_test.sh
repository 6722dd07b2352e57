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

echo "== A TensorFlow C API program relinked against kiln's libtensorflow (pkg-config kiln-tensorflow)"
tfex="$src/examples/tensorflow_c"
c++ -std=c++17 -O2 -Wall -o segment_tf "$tfex/segment.cpp" "$tfex/tf_utils.cpp" -I"$tfex" $(pkg-config --cflags --libs kiln-tensorflow)
readelf -d segment_tf | grep -q 'libtensorflow.so.2' || { echo "segment_tf does not link libtensorflow.so.2" >&2; exit 1; }
fixtures="$src/../shared/fixtures/tf"
if [ -d "$fixtures" ]; then
  # TensorFlow's frozen graphs and outputs (their .npy files are NCHW; the graphs NHWC).
  for case in single_conv keras_deconv_same fused_batch_norm; do
    /usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1]).transpose(0, 2, 3, 1).copy())" \
      "$fixtures/$case/${case}_in.npy" "$case.in.npy"
    out=$(/usr/bin/python3 -c "
import sys
sys.path.insert(0, '$src/tests/install')
import tf_graph_ends; print(tf_graph_ends.ends('$fixtures/$case/${case}_net.pb'))")
    ./segment_tf "$fixtures/$case/${case}_net.pb" $out "$case.in.npy" "$case.out.npy" 2 | tail -1
    /usr/bin/python3 - "$fixtures/$case/${case}_out.npy" "$case.out.npy" "$case" <<'PY'
import sys
import numpy as np
want = np.load(sys.argv[1]).transpose(0, 2, 3, 1)
got = np.load(sys.argv[2])
err = float(np.abs(got - want).max())
print(f"{sys.argv[3]}: max abs error against TensorFlow {err:.2g}")
sys.exit(0 if got.shape == want.shape and err <= 1e-5 else 1)
PY
  done
else
  echo "(../shared/fixtures/tf absent: TensorFlow's outputs not compared)"
fi
"$build/make_tf_unet" unet.pb --width 8 --size 64 >/dev/null
/usr/bin/python3 -c "import numpy as np; np.save('u.npy', np.random.default_rng(1).random((1, 64, 64, 1), dtype=np.float32))"
./segment_tf unet.pb input_1 conv2d_23/Sigmoid u.npy mask_tf.npy 3
"$prefix/bin/kiln" run unet.pb --input u.npy --output mask_kiln.npy >/dev/null
/usr/bin/python3 -c "import numpy as np; a, b = np.load('mask_tf.npy'), np.load('mask_kiln.npy'); assert a.shape == b.shape == (1, 64, 64, 1) and (a == b).all(), 'the relinked program and kiln run differ'; print('U-Net: the relinked program equals kiln run')"

echo "== kiln demo from outside the source tree"
"$prefix/bin/kiln" demo --images 1 --out overlays | tail -3
test -s overlays/leather_900000.png
echo "installed tree: ok"
