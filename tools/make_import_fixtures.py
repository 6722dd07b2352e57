#!/usr/bin/env python3
"""Writes tests/fixtures/import/: the tiny conv model with its initializers stored the other
two ways ONNX allows, to test the importer on each:
  tiny_conv_external.onnx + tiny_conv_external.bin   (external data file)
  tiny_conv_typed.onnx                               (float_data instead of raw_data)
They compute the same as tests/fixtures/errors/tiny_conv.onnx (same input/expected files).
Also tests/fixtures/unet/w4_64x64_seed11_renamed/: the width-4 U-Net with other weights (seed
11) and every initializer renamed, i.e. a second export of the same architecture whose
tensor names differ (made from tools/make_unet.py's output).
    /usr/bin/python3 tools/make_import_fixtures.py
"""
from pathlib import Path

import onnx
from onnx import numpy_helper

SRC = Path("tests/fixtures/errors/tiny_conv.onnx")
OUT = Path("tests/fixtures/import")


def renamed_second_export():
    import shutil
    import subprocess
    import sys
    tmp = Path("/tmp/kiln_w4_seed11")
    subprocess.run([sys.executable, "tools/make_unet.py", "--width", "4", "--height", "64", "--width-px", "64",
                    "--seed", "11", "--out", str(tmp)], check=True, capture_output=True)
    m = onnx.load(str(tmp / "model.onnx"))
    ren = {init.name: f"other_export_w{i}" for i, init in enumerate(m.graph.initializer)}
    for init in m.graph.initializer:
        init.name = ren[init.name]
    for n in m.graph.node:
        for i, x in enumerate(n.input):
            if x in ren:
                n.input[i] = ren[x]
    for inp in m.graph.input:
        if inp.name in ren:
            inp.name = ren[inp.name]
    onnx.checker.check_model(m)
    out = Path("tests/fixtures/unet/w4_64x64_seed11_renamed")
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(out / "model.onnx"))
    for f in ("input.npy", "expected.npy"):
        shutil.copy(tmp / f, out / f)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("tiny_conv_external.*"):
        stale.unlink()  # onnx appends to an existing external-data file
    model = onnx.load(str(SRC))
    onnx.save_model(model, str(OUT / "tiny_conv_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="tiny_conv_external.bin", size_threshold=0)

    typed = onnx.load(str(SRC))
    for i, init in enumerate(typed.graph.initializer):
        arr = numpy_helper.to_array(init)
        t = onnx.helper.make_tensor(init.name, onnx.TensorProto.FLOAT, arr.shape, arr.flatten().tolist(), raw=False)
        typed.graph.initializer[i].CopyFrom(t)
    onnx.checker.check_model(typed)
    onnx.save(typed, str(OUT / "tiny_conv_typed.onnx"))
    print("wrote", sorted(p.name for p in OUT.iterdir()))
    renamed_second_export()


if __name__ == "__main__":
    main()
