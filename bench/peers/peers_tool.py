#!/usr/bin/python3
"""Helpers for bench/compare_peers.sh (one tool, four subcommands).

  peers_tool.py input --shape N,C,H,W --out x.npy
      The harness's input for one shape: float32 uniform [0,1) from a fixed numpy seed, written
      once and fed to every runtime so their outputs can be compared.
  peers_tool.py run [--timeout SEC] --stats FILE -- CMD ...
      Runs one benchmark process, its stdout and stderr passed through, and writes FILE with how
      busy the rest of the machine was meanwhile. Timings on a 2-core machine are worthless if
      anything else ran (measured: TorchScript U-Net-16 went from 50 ms to 800 ms next to a test
      run), so every row records it and the table flags disturbed rows. Exit status: CMD's, or
      124 if it ran longer than SEC (it is then killed).
  peers_tool.py agree --ref NAME=REF.npy NAME=OUT.npy ...
      One JSON line per output: max |OUT - REF| (and the mean), or why it could not be compared.
  peers_tool.py table FILE.jsonl [--tolerance 1e-3]
      The markdown report of compare_peers.sh's JSON lines.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_common as pc  # noqa: E402

# A row whose run shared the machine with more than this many cores' worth of other work
# (averaged over the run) is marked as disturbed in the table.
BUSY_CORES = 0.15


# ---------------------------------------------------------------- input
def cmd_input(a):
    x = pc.make_input(pc.parse_shape(a.shape))
    tmp = a.out + ".tmp.npy"
    np.save(tmp, x)
    os.replace(tmp, a.out)


# ---------------------------------------------------------------- run
def cpu_jiffies():
    """(busy, steal) jiffies summed over all CPUs, from /proc/stat's first line."""
    with open("/proc/stat") as f:
        v = [int(t) for t in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def cmd_run(a):
    import resource
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        raise SystemExit("peers_tool.py run: no command")
    hz = os.sysconf("SC_CLK_TCK")
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, steal0 = cpu_jiffies()
    t0 = time.monotonic()
    # Own process group, so a timeout kills the benchmark's helpers too (not just `env`).
    p = subprocess.Popen(cmd, start_new_session=True)
    timed_out = False
    try:
        rc = p.wait(timeout=a.timeout if a.timeout > 0 else None)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = 124
    wall = time.monotonic() - t0
    busy1, steal1 = cpu_jiffies()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    machine_cpu = (busy1 - busy0) / hz
    stats = {
        "wall_s": round(wall, 3),
        "cpu_s": round(child_cpu, 3),
        # What the rest of the machine used meanwhile, in cores (jiffy resolution: 10 ms).
        "other_cores": round(max(0.0, machine_cpu - child_cpu) / wall, 3) if wall > 0 else 0.0,
        "steal_cores": round((steal1 - steal0) / hz / wall, 3) if wall > 0 else 0.0,
        "rc": rc,
        "timed_out": timed_out,
    }
    with open(a.stats, "w") as f:
        json.dump(stats, f)
    sys.exit(rc)


# ---------------------------------------------------------------- agree
def cmd_agree(a):
    ref_name, ref_path = a.ref.split("=", 1)
    ref = np.load(ref_path).astype(np.float64)
    for item in a.outputs:
        name, path = item.split("=", 1)
        row = {"runtime": name, "ref": ref_name}
        if not os.path.exists(path):
            row["error"] = "no output"
        else:
            y = np.load(path)
            if y.shape != ref.shape:
                row["error"] = f"shape {list(y.shape)} vs {ref_name} {list(ref.shape)}"
            else:
                d = np.abs(y.astype(np.float64) - ref)
                row["max_abs_diff"] = float(d.max())
                row["mean_abs_diff"] = float(d.mean())
                row["nonfinite"] = int(np.count_nonzero(~np.isfinite(y)))
        print(json.dumps(row))


# ---------------------------------------------------------------- table
LABEL = {"kiln": "kiln", "kiln-winograd": "kiln --conv winograd", "kiln-auto": "kiln --conv auto",
         "kiln-bf16": "kiln --precision bf16", "kiln-int8": "kiln --precision int8",
         "onnxruntime": "ONNX Runtime", "libtorch": "LibTorch (TorchScript)",
         "libtorch-default-malloc": "LibTorch, default malloc", "opencv-dnn": "OpenCV DNN"}


BF16_TOLERANCE = 0.1  # sigmoid outputs; the masks' IoU against fp32 is tested (tests/demo)
# int8 on these random-weight nets (outputs all near 0.5, calibrated on the one bench input)
# moves outputs far more than on trained ones; its accuracy is judged on the demo models.
INT8_TOLERANCE = 1.0


def fmt(x, d=1):
    return f"{x:.{d}f}" if isinstance(x, (int, float)) and x == x else "n/a"


def kiln_create_ms(res):
    # kiln bench's total_load_ms is the time until "ready": load + compile + pack + one warm-up
    # run (kiln warms up while preparing, the others do not; the create+first column compares).
    if isinstance(res.get("total_load_ms"), (int, float)):
        return res["total_load_ms"]
    parts = [res.get(k) for k in ("load_ms", "compile_ms", "pack_ms", "warmup_ms")]
    parts = [p for p in parts if isinstance(p, (int, float))]
    return sum(parts) if parts else None


def cmd_table(a):
    rows = [json.loads(l) for l in open(a.jsonl) if l.strip()]
    benches = [r for r in rows if r.get("kind") == "bench"]
    agrees = {(r["model"], r["size"], r["batch"], r["runtime"]): r for r in rows if r.get("kind") == "agree"}
    configs = []
    for r in benches:
        c = (r["model"], r["size"], r["batch"])
        if c not in configs:
            configs.append(c)

    print("| model | size | batch | runtime | create ms | first ms | create+first ms | steady median (min-max) ms "
          "| throughput img/s | x ORT throughput | peak RSS MB | max abs diff vs kiln |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    disagreements, disturbed, versions, import_rss = [], [], {}, {}
    for c in configs:
        model, size, batch = c
        crow = [r for r in benches if (r["model"], r["size"], r["batch"]) == c]
        ort = next((r for r in crow if r["runtime"] == "onnxruntime" and "result" in r), None)
        ort_ips = batch * 1000 / ort["result"]["steady_median_ms"] if ort else None
        for r in crow:
            rt = r["runtime"]
            head = f"| {model} | {size}x{size} | {batch} | "
            if "result" not in r:
                why = r.get("skipped") or r.get("error") or "no result"
                print(head + f"{LABEL.get(rt, rt)} | n/a ({why}) | | | | | | | |")
                continue
            s = r["result"]
            if s.get("version") and not rt.endswith("-default-malloc"):
                versions[rt] = s["version"]
            if isinstance(s.get("import_rss_mb"), (int, float)) and not rt.endswith("-default-malloc"):
                import_rss.setdefault(rt, []).append(s["import_rss_mb"])
            create = kiln_create_ms(s) if rt.startswith("kiln") else s.get("create_ms")
            first = s.get("first_ms")
            cf = create + first if isinstance(create, (int, float)) and isinstance(first, (int, float)) else None
            med = s.get("steady_median_ms")
            ips = batch * 1000 / med if med else None
            ratio = f"{ips / ort_ips:.2f}x" if ips and ort_ips else "n/a"
            steady = f"{fmt(med, 1)} ({fmt(s.get('steady_min_ms'), 1)}-{fmt(s.get('steady_max_ms'), 1)})"
            ag = agrees.get((model, size, batch, rt))
            if ag is None:
                diff = "n/a"
            elif ag.get("runtime") == ag.get("ref"):
                diff = "(reference)"
            elif "max_abs_diff" in ag:
                diff = f"{ag['max_abs_diff']:.1e}"
                # bf16 keeps 8 bits of mantissa: its outputs are judged against bf16's own bound.
                tol = BF16_TOLERANCE if rt.endswith("bf16") else INT8_TOLERANCE if rt.endswith("int8") else a.tolerance
                if ag["max_abs_diff"] > tol or ag.get("nonfinite"):
                    diff = f"**{diff} > {tol:g}**"
                    disagreements.append(f"{model} {size}x{size} b{batch} {rt}: max |diff| {ag['max_abs_diff']:.3g}")
            else:
                diff = f"n/a ({ag.get('error')})"
            mark = ""
            load = r.get("load") or {}
            if load.get("other_cores", 0) > BUSY_CORES:
                mark = " (!)"
                disturbed.append(f"{model} {size}x{size} b{batch} {rt}: other processes used "
                                 f"{load['other_cores']:.2f} cores on average during the run")
            print(head + f"{LABEL.get(rt, rt)}{mark} | {fmt(create)} | {fmt(first)} | {fmt(cf)} | {steady} | "
                  f"{fmt(ips, 2)} | {ratio} | {fmt(s.get('peak_rss_mb'))} | {diff} |")

    print()
    runs = sorted({(r["model"], r["size"], r["batch"], r.get("runs")) for r in benches if "result" in r})
    per = {}
    for m, sz, b, n in runs:
        per.setdefault(n, []).append(f"{m} {sz}x{sz} b{b}")
    threads = sorted({r.get("threads") for r in benches if r.get("threads")})
    print(f"- Threads: {', '.join(map(str, threads)) or 'n/a'}. Timed runs after the first: " +
          "; ".join(f"{n} for {', '.join(v)}" for n, v in sorted(per.items(), key=lambda kv: -(kv[0] or 0))) + ".")
    if versions:
        print("- Versions: " + ", ".join(f"{LABEL.get(k, k)} {v}" for k, v in sorted(versions.items())) + ".")
    print("- create: ONNX Runtime InferenceSession.create; TorchScript torch.jit.load + freeze + "
          "optimize_for_inference; OpenCV readNetFromONNX (it sets the network up lazily, inside the "
          "first run); kiln load + compile + pack + its warm-up run (time until ready, so kiln's first "
          "run is already warm). create+first = a fresh process's time to its first result, "
          "interpreter start-up and imports excluded.")
    print("- x ORT throughput: images/s divided by ONNX Runtime's in the same configuration (>1: faster).")
    if import_rss:
        print("- Peak RSS includes each runtime's host process: " + ", ".join(
            f"{LABEL.get(k, k)} ~{min(v):.0f} MB before loading the model" for k, v in sorted(import_rss.items())) +
            "; Node.js with onnxruntime-node loaded is ~51 MB. kiln is a bare C++ process.")
    torch_rows = [r for r in benches if r["runtime"] == "libtorch" and "result" in r]
    if torch_rows:
        tuned = {r["result"].get("malloc_tuned") for r in torch_rows}
        print("- LibTorch ran with " + ("glibc malloc tuned (MALLOC_MMAP_THRESHOLD_/TRIM_THRESHOLD_/TOP_PAD_, "
              "its faster setting here)" if tuned == {True} else "default glibc malloc" if tuned == {False}
              else "mixed malloc settings") + ".")
    print(f"- Outputs: every runtime got the same input .npy; max |diff| is against kiln --conv direct "
          f"(where kiln did not run, against the row marked (reference)); flagged above {a.tolerance:g}.")
    bins = {}
    for r in benches:
        if r.get("kiln_binary"):
            bins.setdefault((r["kiln_binary"]["sha256"], r["kiln_binary"]["mtime"]), []).append(
                f"{r['model']} {r['size']}x{r['size']} b{r['batch']}")
    if len(bins) == 1:
        (sha, mtime), = bins
        print(f"- kiln binary: sha256 {sha}..., built {mtime}.")
    elif bins:
        print("- **kiln binary changed between rows** (rebuilt meanwhile): " + "; ".join(
            f"{sha}... built {mtime} for {', '.join(dict.fromkeys(v))}" for (sha, mtime), v in bins.items()) + ".")
    if disagreements:
        print("- **Disagreements:** " + "; ".join(disagreements) + ".")
    if disturbed:
        print("- (!) disturbed runs, timings unreliable: " + "; ".join(disturbed) + ".")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    s = sub.add_parser("input")
    s.add_argument("--shape", required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("run")
    s.add_argument("--timeout", type=float, default=0, help="seconds, 0 = none")
    s.add_argument("--stats", required=True)
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s = sub.add_parser("agree")
    s.add_argument("--ref", required=True, help="NAME=REF.npy")
    s.add_argument("outputs", nargs="*", help="NAME=OUT.npy")
    s = sub.add_parser("table")
    s.add_argument("jsonl")
    s.add_argument("--tolerance", type=float, default=1e-3)
    a = p.parse_args()
    {"input": cmd_input, "run": cmd_run, "agree": cmd_agree, "table": cmd_table}[a.what](a)


if __name__ == "__main__":
    main()
