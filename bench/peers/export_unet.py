#!/usr/bin/python3
"""Export one U-Net for one input shape, for every runtime of bench/compare_peers.sh.

  /usr/bin/python3 bench/peers/export_unet.py --width 16 --shape 4,1,512,512 --out DIR [--seed 0]

Writes DIR/model.onnx (static input shape --shape) and DIR/model.pt (the same network traced with
torch.jit.trace at that shape, not yet frozen: bench_torch.py's timed "create" is load + freeze +
optimize_for_inference, the TorchScript counterpart of ONNX Runtime's parse + graph optimisation).

Why one export per shape: make_unet.py exports a static 1x1xHxW input. kiln re-specialises a
model to --input-shape, and OpenCV DNN happens to accept other shapes, but ONNX Runtime rejects
an input whose dimensions differ from the declared ones. A static export per shape keeps the
graph exactly the one make_unet.py writes (a dynamic-axes export would add Shape/Gather ops) and
lets every runtime see the same file.

Why the weights do not depend on the shape: make_unet.py fits its weights to the calibration
input it draws (see init_weights), so its weights change with --height/--batch. Here the network
is always built as `make_unet.py --width W --seed S --batch 1 --height 256 --width-px 256` builds
it (--calib-shape), so all shapes run the same weights as bench/models/unetW/model.onnx.
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import make_unet  # noqa: E402  (tools/make_unet.py)

from peers_common import parse_shape  # noqa: E402

DEFAULT_CALIB = "1,1,256,256"


def build(width, seed, calib_shape):
    """make_unet.py's network for (width, seed), weights fitted on calib_shape."""
    model, _ = make_unet.build_seeded_unet(width, seed, calib_shape)
    # make_unet sets deterministic mode for reproducible weights; the runs that follow need not.
    torch.use_deterministic_algorithms(False)
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, required=True, help="base channel width B")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shape", required=True, help="input shape N,1,H,W of the exported model")
    p.add_argument("--calib-shape", default=DEFAULT_CALIB,
                   help=f"shape make_unet.py fits the weights on (default {DEFAULT_CALIB})")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-torchscript", action="store_true", help="write only model.onnx")
    a = p.parse_args()
    shape, calib = parse_shape(a.shape), parse_shape(a.calib_shape)
    if shape[1] != 1 or shape[2] % 16 or shape[3] % 16:
        p.error("shape must be N,1,H,W with H and W multiples of 16")

    t0 = time.perf_counter()
    model = build(a.width, a.seed, calib)
    example = torch.zeros(shape)
    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "model.onnx")
    make_unet.export_onnx(model, example, onnx_path)
    info = {"width": a.width, "seed": a.seed, "shape": list(shape), "calib_shape": list(calib),
            "onnx": onnx_path}
    if not a.no_torchscript:
        pt_path = os.path.join(a.out, "model.pt")
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        torch.jit.save(traced, pt_path)
        info["torchscript"] = pt_path
    info["export_s"] = round(time.perf_counter() - t0, 2)
    with open(os.path.join(a.out, "export.json"), "w") as f:
        json.dump(info, f)
        f.write("\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
