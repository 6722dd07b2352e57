#!/usr/bin/python3
"""Write the small ONNX fixtures for kiln's import/error-path tests into tests/fixtures/errors/.

  tiny_conv.onnx           valid: input "x" 1x3x8x8 -> Conv 3->4 3x3 pad 1 -> Relu -> output "y"
  tiny_conv_input.npy      float32 uniform [0,1), seeded
  tiny_conv_expected.npy   PyTorch's float32 output for it
  truncated.onnx           the first 60% of tiny_conv.onnx's bytes (a protobuf parse error)
  not_a_model.onnx         a plain text file
  unsupported_op.onnx      valid model whose only node is Einsum, named "my_einsum"

Reruns write identical files. Run with Debian's interpreter:
  /usr/bin/python3 tools/make_error_fixtures.py [--out tests/fixtures/errors]
"""

import argparse
import os
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper

SEED = 0


class TinyConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))


def write_tiny_conv(out):
    torch.manual_seed(SEED)
    model = TinyConv().eval()
    x = np.random.default_rng(SEED).random((1, 3, 8, 8), dtype=np.float32)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        y = model(xt).numpy().astype(np.float32)
    path = os.path.join(out, "tiny_conv.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(model, xt, path, opset_version=13, do_constant_folding=True,
                          input_names=["x"], output_names=["y"])
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert ops == ["Conv", "Relu"], ops
    np.save(os.path.join(out, "tiny_conv_input.npy"), x)
    np.save(os.path.join(out, "tiny_conv_expected.npy"), y)
    print(f"tiny_conv.onnx: ops {ops}, {os.path.getsize(path)} bytes; "
          f"output zeros {np.mean(y == 0):.2f}, max {y.max():.3f}")
    return path


def write_truncated(out, src):
    with open(src, "rb") as f:
        data = f.read()
    cut = data[: int(len(data) * 0.6)]
    path = os.path.join(out, "truncated.onnx")
    with open(path, "wb") as f:
        f.write(cut)
    try:
        m = onnx.ModelProto()
        m.ParseFromString(cut)
        outcome = f"parsed anyway?! nodes={len(m.graph.node)}"
    except Exception as e:  # protobuf DecodeError
        outcome = f"parse fails: {type(e).__name__}"
    print(f"truncated.onnx: {len(cut)} of {len(data)} bytes; {outcome}")


def write_not_a_model(out):
    path = os.path.join(out, "not_a_model.onnx")
    with open(path, "w") as f:
        f.write("This is not an ONNX model.\nIt is a plain text file used to test kiln's error "
                "reporting for files that are not protobuf ModelProto messages.\n")
    # 'T' (0x54) reads as field 10 with wire type 4 (END_GROUP) outside any group, which C++
    # protobuf's ParseFromString rejects; Python's protobuf only warns, so treat that as failure.
    with open(path, "rb") as f:
        data = f.read()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m = onnx.ModelProto()
            m.ParseFromString(data)
            outcome = f"protobuf parses it (graph nodes={len(m.graph.node)})"
        except Exception as e:
            outcome = f"parse fails: {type(e).__name__}"
    if caught:
        outcome = f"parse fails ({caught[0].message})"
    print(f"not_a_model.onnx: {outcome}")


def write_unsupported_op(out):
    # y[n,c,w,h] = x[n,c,h,w]: a valid, shape-inferable model whose op kiln does not support.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 4])
    node = helper.make_node("Einsum", ["x"], ["y"], name="my_einsum", equation="nchw->ncwh")
    graph = helper.make_graph([node], "unsupported_op", [x], [y])
    m = helper.make_model(graph, producer_name="kiln-fixtures",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(out, "unsupported_op.onnx")
    onnx.save(m, path)
    print(f"unsupported_op.onnx: Einsum node 'my_einsum', {os.path.getsize(path)} bytes")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "errors"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    src = write_tiny_conv(a.out)
    write_truncated(a.out, src)
    write_not_a_model(a.out)
    write_unsupported_op(a.out)


if __name__ == "__main__":
    main()
