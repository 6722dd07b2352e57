#!/usr/bin/env python3
"""Writes demo/surface.png: a 256x256 grayscale textured surface with a scratch and a spot.

Deterministic (fixed seed). Needs only numpy; the PNG is written with zlib by hand so that
no imaging library is required.
    /usr/bin/python3 tools/make_demo_image.py
"""
import struct
import zlib
from pathlib import Path

import numpy as np


def write_png(path, img):
    h, w = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))
    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def main():
    rng = np.random.default_rng(7)
    h = w = 256
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    # Brushed-metal texture: horizontal streaks plus fine noise.
    streaks = rng.normal(0, 1, size=(h, 1)).astype(np.float32) * 0.06
    img = 0.55 + streaks + rng.normal(0, 0.03, size=(h, w)).astype(np.float32)
    img += 0.05 * np.sin(x / 9.0)
    # A thin diagonal scratch and a dark spot.
    d = np.abs((y - 40) - 0.6 * (x - 30)) / np.sqrt(1 + 0.36)
    img -= 0.35 * np.exp(-(d ** 2) / 2.0) * ((x > 30) & (x < 200))
    img -= 0.3 * np.exp(-(((x - 180) ** 2 + (y - 190) ** 2) / (2 * 9.0 ** 2)))
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    Path("demo").mkdir(exist_ok=True)
    write_png("demo/surface.png", out)
    print("wrote demo/surface.png", out.shape)


if __name__ == "__main__":
    main()
