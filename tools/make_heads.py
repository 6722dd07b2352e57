#!/usr/bin/python3
"""Write tests/fixtures/heads/: small PyTorch networks ending in the heads multi-class
segmentation and classification models end in, exported to ONNX, with PyTorch's outputs.

  seg_softmax.onnx   conv 3x3 + ReLU, conv 1x1 to 4 classes, Softmax over channels
  seg_argmax.onnx    the same network, ArgMax over channels (keepdim): the class map
  classify.onnx      conv 3x3 + ReLU, global average pool, Flatten, Linear (Gemm) to 5
                     classes, LogSoftmax
  input.npy          1x1x32x48 float32 in [0, 1)
  expected_seg_softmax.npy, expected_seg_argmax.npy (the class indices as float32),
  expected_classify.npy

    /usr/bin/python3 tools/make_heads.py [--out tests/fixtures/heads]
"""
import argparse
import os
import warnings

import numpy as np
import torch
import torch.nn as nn


class Segment(nn.Module):
    def __init__(self, head):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
        self.head = head

    def forward(self, x):
        y = self.body(x)
        return torch.softmax(y, dim=1) if self.head == "softmax" else torch.argmax(y, dim=1, keepdim=True)


class Classify(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(8, 5))

    def forward(self, x):
        return torch.log_softmax(self.body(x), dim=1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="tests/fixtures/heads")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    x = np.random.default_rng(5).random((1, 1, 32, 48), dtype=np.float32)
    np.save(os.path.join(a.out, "input.npy"), x)
    torch.manual_seed(3)
    seg = Segment("softmax").eval()
    arg = Segment("argmax").eval()
    arg.load_state_dict(seg.state_dict())
    torch.manual_seed(4)
    cls = Classify().eval()
    for name, net in (("seg_softmax", seg), ("seg_argmax", arg), ("classify", cls)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, torch.from_numpy(x), os.path.join(a.out, name + ".onnx"), opset_version=13,
                              input_names=["image"], output_names=["out"])
        with torch.no_grad():
            y = net(torch.from_numpy(x)).numpy().astype(np.float32)
        np.save(os.path.join(a.out, "expected_" + name + ".npy"), y)


if __name__ == "__main__":
    main()
