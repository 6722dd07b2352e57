#!/usr/bin/python3
"""Build a 3-D (volumetric) U-Net in PyTorch, as CT and X-ray inspection use them, and export it
to ONNX.

Layout, with base width B, one input channel and LEVELS levels (default 3):
  encoder  levels of widths B, 2B, 4B, ...: (Conv3d 3x3x3 pad 1, BatchNorm3d, ReLU) twice,
           then MaxPool3d 2x2x2
  bottom   the same block at the next width
  decoder  ConvTranspose3d 2x2x2 stride 2 halving the width (or, with --upsample trilinear,
           trilinear Upsample x2 and Conv3d 1x1x1 halving it), concat([skip, up]), the block
  head     Conv3d 1x1x1 -> CLASSES channels; Sigmoid for one class, Softmax over channels else

Convolutions start He-initialised (so that the output varies); BatchNorm runs in eval mode
with running statistics drawn at random (so that it is not the identity). Writes DIR/model.onnx and, unless --no-reference, DIR/input.npy (float32 uniform
[0,1), NCDHW) and DIR/expected.npy (PyTorch's float32 output). Reruns with the same arguments
write identical files; --seed changes only the weights (the same architecture).

    /usr/bin/python3 tools/make_unet3d.py --width 4 --depth 16 --size 32 --out DIR
"""

import argparse
import os
import warnings

import numpy as np
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(),
            nn.Conv3d(cout, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU())

    def forward(self, x):
        return self.body(x)


class TrilinearUp(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False)
        self.conv = nn.Conv3d(cin, cout, 1)

    def forward(self, x):
        return self.conv(self.up(x))


class UNet3D(nn.Module):
    def __init__(self, width, levels, classes, upsample="transpose"):
        super().__init__()
        widths = [width * 2 ** i for i in range(levels + 1)]
        self.down = nn.ModuleList()
        cin = 1
        for w in widths[:-1]:
            self.down.append(Block(cin, w))
            cin = w
        self.pool = nn.MaxPool3d(2)
        self.bottom = Block(widths[-2], widths[-1])
        self.up = nn.ModuleList()
        self.after = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose3d(2 * w, w, 2, stride=2) if upsample == "transpose" else TrilinearUp(2 * w, w))
            self.after.append(Block(2 * w, w))
        self.head = nn.Conv3d(width, classes, 1)
        self.classes = classes

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, block, skip in zip(self.up, self.after, reversed(skips)):
            x = block(torch.cat([skip, up(x)], dim=1))
        y = self.head(x)
        return torch.sigmoid(y) if self.classes == 1 else torch.softmax(y, dim=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--classes", type=int, default=1)
    p.add_argument("--depth", type=int, default=16)
    p.add_argument("--size", type=int, default=32, help="height and width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--upsample", choices=["transpose", "trilinear"], default="transpose")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    net = UNet3D(a.width, a.levels, a.classes, a.upsample)
    for m in net.modules():
        # He initialisation keeps the activations' spread through the ReLU layers (PyTorch's
        # default shrinks it layer by layer, and the output would be nearly constant: a weak
        # reference to compare against).
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    os.makedirs(a.out, exist_ok=True)
    shape = (1, 1, a.depth, a.size, a.size)
    rng = np.random.default_rng(1234)  # the input does not depend on --seed
    x = rng.random(shape, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.from_numpy(x), os.path.join(a.out, "model.onnx"), opset_version=a.opset,
                          input_names=["volume"], output_names=["mask"],
                          # Keeps BatchNormalization nodes (the exporter would fold them): the
                          # importer and optimiser see what other exporters write.
                          do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    if not a.no_reference:
        with torch.no_grad():
            y = net(torch.from_numpy(x)).numpy().astype(np.float32)
        np.save(os.path.join(a.out, "input.npy"), x)
        np.save(os.path.join(a.out, "expected.npy"), y)


if __name__ == "__main__":
    main()
