#!/usr/bin/env python3
"""Trains the demo models: one U-Net per texture class, all of one architecture.

    /usr/bin/python3 tools/train_demo_models.py [--kiln build/kiln] [--classes a,b] [--steps N]

Data comes from kiln's own generator (`kiln gen-defects --npy`): 160 training images per
class (seeds 1000+, a fifth of them defect-free) at 512x512. The network is the classic
24-convolution U-Net of tools/make_unet.py at base width 8 (0.49 M parameters). Training:
random 128x128 crops (80% of them around a defect pixel), batch 8, Adam (lr 1e-3, cosine-decayed
to 1e-4), loss = BCE with defect pixels weighted 10x + soft Dice, on 2 CPU threads, for STEPS[class]
steps (the classes with thin or faint defects need more to reach IoU 0.75 held out) unless --steps
says otherwise. Each class has its own seed, so one class can be retrained alone. Output in models/demo/:
  unet.onnx                 the architecture (and brushed_metal's weights), input 1x1x512x512
  <class>.safetensors       each class's weights, named as unet.onnx's initializers
  training.json             steps per class (read by tools/write_model_cards.py)
The model cards (models/demo/<class>.md) are written by tools/write_model_cards.py from
`kiln demo --evaluate`, so their figures are what kiln measures.
Deterministic for a given torch build (seeded); needs Debian's python3-torch and numpy.
"""
import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_unet import UNet, count_convs, init_weights  # noqa: E402

POSITIVE_WEIGHT = 10.0
CLASSES = ["brushed_metal", "woven_fabric", "wood_grain", "speckle", "concrete", "leather"]
OUT = Path("models/demo")
# Steps per class: 400 was enough for the first three; the other three were retrained longer
# (2026-12-06) until kiln measured IoU >= 0.75 on 64 held-out images, or as far as they got.
STEPS = {"brushed_metal": 400, "woven_fabric": 2400, "wood_grain": 2400, "speckle": 2400, "concrete": 400,
         "leather": 400}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        blobs.append(arr.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_class(kiln, data_dir, name, count, seed, defect_free):
    subprocess.run([kiln, "gen-defects", "--out", data_dir, "--classes", name, "--count", str(count), "--seed",
                    str(seed), "--defect-free", str(defect_free), "--npy", "--no-png"], check=True,
                   stdout=subprocess.DEVNULL)
    return (np.load(Path(data_dir) / f"{name}_images.npy"), np.load(Path(data_dir) / f"{name}_masks.npy"))


def batches(images, masks, rng, batch, crop):
    n, _, h, w = images.shape
    while True:
        xs, ys = [], []
        for _ in range(batch):
            i = rng.integers(n)
            pos = np.argwhere(masks[i, 0] > 0.5)
            if len(pos) and rng.random() < 0.8:
                cy, cx = pos[rng.integers(len(pos))]
                y0 = int(np.clip(cy - rng.integers(crop), 0, h - crop))
                x0 = int(np.clip(cx - rng.integers(crop), 0, w - crop))
            else:
                y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            x = images[i, :, y0:y0 + crop, x0:x0 + crop]
            y = masks[i, :, y0:y0 + crop, x0:x0 + crop]
            if rng.random() < 0.5:
                x, y = x[:, :, ::-1], y[:, :, ::-1]
            if rng.random() < 0.5:
                x, y = x[:, ::-1, :], y[:, ::-1, :]
            xs.append(x.copy())
            ys.append(y.copy())
        yield torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def train(name, images, masks, width, steps, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = UNet(width)
    assert count_convs(model) == 24
    data = batches(images, masks, rng, batch=8, crop=128)
    # Data-dependent init (tools/make_unet.py): with plain He init most of the 2-channel head
    # is dead at width 8 and the network learns to answer "no defect" everywhere.
    init_weights(model, next(data)[0], logit_std=1.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-4)
    model.train()
    t0 = time.time()
    for step in range(steps):
        x, y = next(data)
        p = model(x).clamp(1e-6, 1 - 1e-6)
        # Defect pixels are ~1% of a crop: weight them up, or the network learns "no defect".
        weight = 1.0 + (POSITIVE_WEIGHT - 1.0) * y
        bce = F.binary_cross_entropy(p, y, weight=weight)
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            with torch.no_grad():
                pred, truth = p > 0.5, y > 0.5
                iou = (pred & truth).sum().item() / max(1, (pred | truth).sum().item())
            print(f"  {name} step {step:4d} loss {loss.item():.4f} batch IoU {iou:.3f} ({time.time() - t0:.0f} s)",
                  flush=True)
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/kiln")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None, help="steps for every class trained (default: STEPS)")
    ap.add_argument("--count", type=int, default=160)
    ap.add_argument("--classes", default=",".join(CLASSES))
    args = ap.parse_args()
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        for name in args.classes.split(","):
            k = CLASSES.index(name)
            steps = args.steps or STEPS[name]
            images, masks = load_class(args.kiln, data_dir, name, args.count, 1000, 0.2)
            print(f"{name}: {len(images)} training images, {masks.mean() * 100:.2f}% defect pixels", flush=True)
            model = train(name, images, masks, args.width, steps, seed=17 + k)
            state = {n: t.detach().numpy() for n, t in model.state_dict().items()}
            write_safetensors(OUT / f"{name}.safetensors", state)
            if name == CLASSES[0] or not (OUT / "unet.onnx").exists():
                torch.onnx.export(model, torch.zeros(1, 1, 512, 512), str(OUT / "unet.onnx"), input_names=["image"],
                                  output_names=["defect_probability"], opset_version=13, do_constant_folding=True)
            record = OUT / "training.json"
            done = json.loads(record.read_text()) if record.exists() else {}
            done[name] = {"steps": steps}
            record.write_text(json.dumps(dict(sorted(done.items())), indent=1) + "\n")
            print(f"{name}: wrote {OUT / (name + '.safetensors')}", flush=True)


if __name__ == "__main__":
    main()
