#!/usr/bin/env python3
"""Time onnxruntime on one ONNX model with a fixed input shape.

    python tools/bench_ort.py MODEL.onnx --shape 1,3,48,320 --threads 1 [--runs 50] [--warmup 5] [--json]

Session: CPU provider, intra_op_num_threads = --threads, inter_op 1,
sequential execution, graph optimisation ORT_ENABLE_ALL. Input: uniform [0,1)
random values from a fixed seed (numpy default_rng(0)), dtype taken from the
model's first input (float32 for PaddleOCR models). 5 warm-up runs, then
--runs timed runs; prints median and p90 (nearest-rank) in milliseconds.
--json prints {"model", "shape", "threads", "runs", "median_ms", "p90_ms", "mean_ms", "min_ms", "max_ms"}.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8,
}


def parse_shape(s):
    return [int(x) for x in s.replace("x", ",").split(",") if x.strip()]


def percentile_nearest_rank(sorted_vals, q):
    k = max(1, math.ceil(q / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def session(model, threads, profile_prefix=None):
    """A CPU session with this script's settings; with `profile_prefix`, onnxruntime's own profiling on."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def seeded_feed(sess, model, shape, seed=0):
    """The session's single input, uniform [0,1) from `seed`, in the input's dtype."""
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise SystemExit(f"{model}: expected 1 input, got {[i.name for i in inputs]}")
    dtype = DTYPES.get(inputs[0].type, np.float32)
    rng = np.random.default_rng(seed)
    x = rng.random(size=shape, dtype=np.float64).astype(dtype)
    return {inputs[0].name: x}


def bench(model, shape, threads, runs=50, warmup=5, seed=0):
    sess = session(model, threads)
    feed = seeded_feed(sess, model, shape, seed)
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000.0)
    st = sorted(times)
    return {
        "model": str(model),
        "shape": list(shape),
        "threads": threads,
        "runs": runs,
        "median_ms": round(statistics.median(st), 3),
        "p90_ms": round(percentile_nearest_rank(st, 90), 3),
        "mean_ms": round(statistics.fmean(st), 3),
        "min_ms": round(st[0], 3),
        "max_ms": round(st[-1], 3),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--shape", required=True, help="e.g. 1,3,48,320")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = bench(args.model, parse_shape(args.shape), args.threads, args.runs, args.warmup)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['model']} shape={r['shape']} threads={r['threads']} runs={r['runs']}: "
              f"median {r['median_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms (min {r['min_ms']:.2f}, max {r['max_ms']:.2f})")


if __name__ == "__main__":
    sys.exit(main())
