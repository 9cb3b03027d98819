#!/usr/bin/env python3
"""onnxruntime per-layer reference for oar's int8 kernels: QLinearConv (int8 activations and
weights, per-channel weight scales) and float Conv, for the two layers of
firmware/ops/examples/layer_bench.rs, at 1 and 2 threads.

    python3 tools/bench_qconv_ort.py [--runs 200]

Prints the same tab-separated lines as layer_bench: layer, engine, threads, median_us, p10_us
(10 warm-up runs, then --runs timed runs of session.run; sequential execution, ORT_ENABLE_ALL).
"""
import argparse
import time

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

LAYERS = [("dw3x3 64ch 56x56", 64, 64, 3, 64), ("pw1x1 32->64 56x56", 32, 64, 1, 1)]
HW = 56


def model(cin, cout, k, group, quantized):
    rng = np.random.default_rng(1)
    w = rng.integers(-127, 128, size=(cout, cin // group, k, k), dtype=np.int8)
    ws = (0.001 + np.arange(cout) * 1e-5).astype(np.float32)
    bias = rng.integers(-1000, 1000, size=(cout,), dtype=np.int32)
    p = k // 2
    attrs = dict(kernel_shape=[k, k], pads=[p, p, p, p], group=group)
    if quantized:
        node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], **attrs)
        inits = [
            helper.make_tensor("xs", TensorProto.FLOAT, [], [0.02]),
            helper.make_tensor("xz", TensorProto.INT8, [], [3]),
            helper.make_tensor("w", TensorProto.INT8, w.shape, w.flatten().tolist()),
            helper.make_tensor("ws", TensorProto.FLOAT, [cout], ws.tolist()),
            helper.make_tensor("wz", TensorProto.INT8, [cout], [0] * cout),
            helper.make_tensor("ys", TensorProto.FLOAT, [], [0.05]),
            helper.make_tensor("yz", TensorProto.INT8, [], [-2]),
            helper.make_tensor("b", TensorProto.INT32, [cout], bias.tolist()),
        ]
        dt = TensorProto.INT8
    else:
        node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
        wf = (w.astype(np.float32) * ws[:, None, None, None]).astype(np.float32)
        inits = [
            helper.make_tensor("w", TensorProto.FLOAT, wf.shape, wf.flatten().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, [cout], (bias * 2e-5).astype(np.float32).tolist()),
        ]
        dt = TensorProto.FLOAT
    g = helper.make_graph([node], "l", [helper.make_tensor_value_info("x", dt, [1, cin, HW, HW])],
                          [helper.make_tensor_value_info("y", dt, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def bench(sess, x, runs):
    for _ in range(10):
        sess.run(None, {"x": x})
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        sess.run(None, {"x": x})
        t.append((time.perf_counter() - s) * 1e6)
    t.sort()
    return t[runs // 2], t[runs // 10]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()
    rng = np.random.default_rng(3)
    for name, cin, cout, k, group in LAYERS:
        for threads in (1, 2):
            for quantized, engine in ((False, "ort float Conv"), (True, "ort QLinearConv int8")):
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.inter_op_num_threads = 1
                so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                sess = ort.InferenceSession(model(cin, cout, k, group, quantized), so, providers=["CPUExecutionProvider"])
                if quantized:
                    x = rng.integers(-128, 128, size=(1, cin, HW, HW), dtype=np.int8)
                else:
                    x = rng.uniform(-1.28, 1.28, size=(1, cin, HW, HW)).astype(np.float32)
                med, p10 = bench(sess, x, a.runs)
                print(f"{name}\t{engine}\t{threads}\t{med:.1f}\t{p10:.1f}", flush=True)


if __name__ == "__main__":
    main()
