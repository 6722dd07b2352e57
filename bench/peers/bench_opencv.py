#!/usr/bin/python3
"""OpenCV DNN (CPU backend) timings of an ONNX model for kiln's peer comparison. Prints ONE line of JSON.

  /usr/bin/python3 bench/peers/bench_opencv.py MODEL.onnx --shape 1,1,256,256 [--runs 15] [--warmup 0]
        [--threads 2] [--input-npy x.npy] [--save-output y.npy]

  -> {"runtime":"opencv-dnn","version":..,"create_ms":..,"first_ms":..,"steady_median_ms":..,
      "steady_min_ms":..,"steady_max_ms":..,"steady_p90_ms":..,"throughput_ips":..,"peak_rss_mb":..,...}

create_ms: cv2.dnn.readNetFromONNX + choosing the OpenCV backend on the CPU target. OpenCV sets
the network up (layer allocation, fusion, weight layout) lazily in the first forward(), so that
work lands in first_ms. Each timed call is setInput + forward, as ONNX Runtime's run() takes its
feeds. The output of the last timed call goes to --save-output.

Use Debian's interpreter (/usr/bin/python3 with python3-opencv, OpenCV 4.6). peak_rss_mb
includes the interpreter and the OpenCV libraries (import_rss_mb: the peak before loading).
"""

import argparse
import time

import cv2
import numpy as np

import peers_common as pc


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="ONNX file")
    a = pc.parse_run_args(p)

    cv2.setNumThreads(a.threads)
    x = pc.load_input(a.input_npy, pc.parse_shape(a.shape) if a.shape else None)
    import_rss = pc.peak_rss_mb()

    t0 = time.perf_counter()
    net = cv2.dnn.readNetFromONNX(a.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    create_ms = (time.perf_counter() - t0) * 1000

    def forward():
        net.setInput(x)
        return net.forward()

    first_ms, times, y = pc.time_runs(forward, a.warmup, a.runs)

    if a.save_output:
        np.save(a.save_output, np.ascontiguousarray(y, dtype=np.float32))
    pc.emit(pc.summarize(
        "opencv-dnn", cv2.__version__, create_ms, first_ms, times, x.shape[0],
        import_rss_mb=import_rss, model=a.model, shape=list(x.shape), threads=a.threads,
        runs=a.runs, warmup=a.warmup, backend="DNN_BACKEND_OPENCV/DNN_TARGET_CPU"))


if __name__ == "__main__":
    main()
