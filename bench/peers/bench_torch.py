#!/usr/bin/python3
"""LibTorch (TorchScript, CPU) timings of the U-Net for kiln's peer comparison. Prints ONE line of JSON.

  /usr/bin/python3 bench/peers/bench_torch.py MODEL.pt --shape 1,1,256,256 [--runs 15] [--warmup 0]
        [--threads 2] [--input-npy x.npy] [--save-output y.npy]
  /usr/bin/python3 bench/peers/bench_torch.py --width 16 [--seed 0] --shape ...   (build in-process)

  -> {"runtime":"libtorch","version":..,"create_ms":..,"first_ms":..,"steady_median_ms":..,
      "steady_min_ms":..,"steady_max_ms":..,"steady_p90_ms":..,"throughput_ips":..,"peak_rss_mb":..,...}

MODEL.pt is the traced, unfrozen module written by bench/peers/export_unet.py. create_ms is
torch.jit.load + torch.jit.freeze + torch.jit.optimize_for_inference (with --width instead of a
file: trace + freeze + optimize; building and fitting the weights, make_unet.py's way, is
reported apart as build_ms). first_ms is the first call, then --warmup calls are discarded and
--runs calls are timed. The output of the last timed call goes to --save-output.

Use Debian's interpreter (/usr/bin/python3 has torch 1.13). PyTorch is 2.5-3.6x faster on this
kind of machine when glibc keeps freed memory instead of returning it to the OS; the harness runs
it with MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736
MALLOC_TOP_PAD_=1073741824 (see ../shared/BASELINES.md); the JSON says whether they were set.
peak_rss_mb includes the interpreter and the torch library (import_rss_mb: the peak before the
model was loaded).
"""

import argparse
import os
import time

import numpy as np
import torch

import peers_common as pc

MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="TorchScript file from export_unet.py")
    p.add_argument("--width", type=int, help="instead of a file: build make_unet.py's U-Net of this base width")
    p.add_argument("--seed", type=int, default=0, help="with --width: make_unet.py's seed")
    p.add_argument("--calib-shape", default="1,1,256,256", help="with --width: see export_unet.py")
    a = pc.parse_run_args(p)
    if (a.model is None) == (a.width is None):
        p.error("give either a TorchScript MODEL or --width")

    torch.set_num_threads(a.threads)
    x = pc.load_input(a.input_npy, pc.parse_shape(a.shape) if a.shape else None)
    xt = torch.from_numpy(x)
    import_rss = pc.peak_rss_mb()

    extra = {}
    with torch.no_grad():
        if a.model:
            t0 = time.perf_counter()
            mod = torch.jit.load(a.model, map_location="cpu")
            mod.eval()
        else:
            from export_unet import build  # make_unet.py's network, same weights as the ONNX export
            t0 = time.perf_counter()
            model = build(a.width, a.seed, pc.parse_shape(a.calib_shape))
            extra["build_ms"] = round((time.perf_counter() - t0) * 1000, 3)
            t0 = time.perf_counter()
            mod = torch.jit.trace(model, xt)
        # freeze inlines the weights as constants; optimize_for_inference then folds conv+relu,
        # pre-packs the weights for oneDNN (MKLDNN) and drops dropout.
        mod = torch.jit.optimize_for_inference(torch.jit.freeze(mod))
        create_ms = (time.perf_counter() - t0) * 1000

        first_ms, times, y = pc.time_runs(lambda: mod(xt), a.warmup, a.runs)

    if a.save_output:
        np.save(a.save_output, y.contiguous().numpy().astype(np.float32, copy=False))
    pc.emit(pc.summarize(
        "libtorch", torch.__version__, create_ms, first_ms, times, x.shape[0],
        import_rss_mb=import_rss,
        model=a.model or f"make_unet width {a.width} seed {a.seed}",
        shape=list(x.shape), threads=a.threads, runs=a.runs, warmup=a.warmup,
        malloc_tuned=all(v in os.environ for v in MALLOC_VARS), **extra))


if __name__ == "__main__":
    main()
