"""Helpers shared by bench/peers/bench_torch.py and bench_opencv.py.

The statistics follow bench/ort/bench_ort.js exactly (median of an even count is the mean of the
two middle samples, p90 is nearest-rank), so the peers' numbers are computed the same way as
ONNX Runtime's and kiln's.
"""

import json
import math
import resource
import sys
import time

import numpy as np

# The harness's input data: uniform [0,1) float32 from this numpy seed. (make_unet.py calibrates
# its weights on seed 0's draw; a different seed here means the runtimes are compared on data
# the weights were not fitted to.)
INPUT_SEED = 1


def parse_shape(text):
    dims = [int(d) for d in text.split(",")]
    if len(dims) != 4 or any(d < 1 for d in dims):
        raise ValueError(f"shape must be N,C,H,W with positive dimensions, got {text!r}")
    return tuple(dims)


def make_input(shape, seed=INPUT_SEED):
    return np.random.default_rng(seed).random(tuple(shape), dtype=np.float32)


def load_input(input_npy, shape):
    """The input to feed: the given .npy (checked against --shape if both are given), else the
    harness's seeded random data of `shape`."""
    if input_npy:
        x = np.load(input_npy)
        if x.dtype != np.float32 or x.ndim != 4:
            raise SystemExit(f"{input_npy}: need a float32 NCHW array, got {x.dtype} {x.shape}")
        if shape and tuple(x.shape) != tuple(shape):
            raise SystemExit(f"{input_npy} has shape {x.shape}, --shape says {shape}")
        return np.ascontiguousarray(x)
    if not shape:
        raise SystemExit("give --shape N,C,H,W or --input-npy")
    return make_input(shape)


def parse_run_args(p):
    """Adds the options every runtime benchmark takes to argparse parser `p`, parses, checks."""
    p.add_argument("--shape", help="input N,C,H,W (default: that of --input-npy)")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--input-npy", help="feed this float32 NCHW array instead of seeded random data")
    p.add_argument("--save-output", help="write the last timed run's output here (.npy)")
    a = p.parse_args()
    if a.runs < 1 or a.warmup < 0 or a.threads < 1:
        p.error("--runs and --threads must be >= 1, --warmup >= 0")
    return a


def time_runs(run, warmup, runs):
    """Times `run()` (returns the output): the first call, `warmup` untimed ones, then `runs`
    timed ones. Returns (first_ms, [ms, ...], last output)."""
    def timed():
        t = time.perf_counter()
        y = run()
        return (time.perf_counter() - t) * 1000, y

    first_ms, y = timed()
    for _ in range(warmup):
        timed()
    times = []
    for _ in range(runs):
        ms, y = timed()
        times.append(ms)
    return first_ms, times, y


def percentile(sorted_ms, q):
    if q == 0.5:
        m = len(sorted_ms) // 2
        return sorted_ms[m] if len(sorted_ms) % 2 else (sorted_ms[m - 1] + sorted_ms[m]) / 2
    rank = min(len(sorted_ms), max(1, math.ceil(q * len(sorted_ms))))
    return sorted_ms[rank - 1]


def peak_rss_mb():
    # ru_maxrss is in KB on Linux: the process's high-water mark so far (interpreter included).
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def summarize(runtime, version, create_ms, first_ms, times_ms, batch, **extra):
    """The one JSON object a peer prints; field names as bench_ort.js's."""
    s = sorted(times_ms)
    median = percentile(s, 0.5)
    r = lambda v: round(v, 3)
    out = {
        "runtime": runtime,
        "version": version,
        "create_ms": r(create_ms),
        "first_ms": r(first_ms),
        "steady_median_ms": r(median),
        "steady_min_ms": r(s[0]),
        "steady_max_ms": r(s[-1]),
        "steady_p90_ms": r(percentile(s, 0.9)),
        "throughput_ips": r(batch * 1000.0 / median),
        "peak_rss_mb": peak_rss_mb(),
        "first_over_steady": r(first_ms / median),
    }
    out.update(extra)
    return out


def emit(result):
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
