#!/usr/bin/env python3
"""Writes tests/fixtures/import/: the tiny conv model with its initializers stored the other
two ways ONNX allows, to test the importer on each:
  tiny_conv_external.onnx + tiny_conv_external.bin   (external data file)
  tiny_conv_typed.onnx                               (float_data instead of raw_data)
They compute the same as tests/fixtures/errors/tiny_conv.onnx (same input/expected files).
    /usr/bin/python3 tools/make_import_fixtures.py
"""
from pathlib import Path

import onnx
from onnx import numpy_helper

SRC = Path("tests/fixtures/errors/tiny_conv.onnx")
OUT = Path("tests/fixtures/import")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
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


if __name__ == "__main__":
    main()
