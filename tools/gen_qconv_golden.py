#!/usr/bin/env python3
"""Golden cases for oar-kernels' int8 convolutions, computed by onnxruntime's QLinearConv.

    python3 tools/gen_qconv_golden.py [OUT_DIR]   (default firmware/kernels/tests/golden_qconv)

Each case is one ONNX QLinearConv (int8 x, int8 symmetric per-channel w, int32 bias, int8 y) run by
onnxruntime on the CPU; the file holds the inputs and ORT's output as text (read by
firmware/kernels/tests/golden_qconv.rs):

    kind dw|pw  channels_in channels_out height width kernel stride pad_t pad_l pad_b pad_r
    x_scale x_zero_point y_scale y_zero_point
    w_scale  (one per output channel, repr floats)
    bias     (int32 per output channel)
    x        (int8, CHW)
    w        (int8, OIHW)
    y        (int8, CHW, onnxruntime's result)
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

CASES = [
    # kind, cin, cout, h, w, k, stride, pads (t, l, b, r)
    ("dw", 4, 4, 7, 9, 3, 1, (1, 1, 1, 1)),
    ("dw", 3, 3, 8, 8, 3, 2, (0, 0, 1, 1)),
    ("dw", 5, 5, 6, 11, 3, 1, (0, 0, 0, 0)),
    ("dw", 3, 3, 9, 7, 5, 1, (2, 2, 2, 2)),
    ("dw", 4, 4, 10, 9, 5, 2, (2, 1, 2, 2)),
    ("pw", 6, 5, 5, 7, 1, 1, (0, 0, 0, 0)),
    ("pw", 7, 9, 3, 11, 1, 1, (0, 0, 0, 0)),
    ("pw", 33, 4, 4, 5, 1, 1, (0, 0, 0, 0)),
]


def run(case, rng):
    kind, cin, cout, h, w, k, s, pads = case
    group = cin if kind == "dw" else 1
    x = rng.integers(-128, 128, size=(1, cin, h, w), dtype=np.int8)
    wt = rng.integers(-127, 128, size=(cout, cin // group, k, k), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=(cout,), dtype=np.int32)
    x_scale = np.float32(rng.uniform(0.005, 0.05))
    x_zp = np.int8(rng.integers(-40, 40))
    w_scale = rng.uniform(0.002, 0.02, size=(cout,)).astype(np.float32)
    y_scale = np.float32(rng.uniform(0.02, 0.2))
    y_zp = np.int8(rng.integers(-20, 20))
    t, l, b, r = pads
    node = helper.make_node(
        "QLinearConv",
        ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
        ["y"],
        kernel_shape=[k, k], strides=[s, s], pads=[t, l, b, r], group=group,
    )
    inits = [
        helper.make_tensor("xs", TensorProto.FLOAT, [], [float(x_scale)]),
        helper.make_tensor("xz", TensorProto.INT8, [], [int(x_zp)]),
        helper.make_tensor("w", TensorProto.INT8, wt.shape, wt.flatten().tolist()),
        helper.make_tensor("ws", TensorProto.FLOAT, [cout], w_scale.tolist()),
        helper.make_tensor("wz", TensorProto.INT8, [cout], [0] * cout),
        helper.make_tensor("ys", TensorProto.FLOAT, [], [float(y_scale)]),
        helper.make_tensor("yz", TensorProto.INT8, [], [int(y_zp)]),
        helper.make_tensor("b", TensorProto.INT32, [cout], bias.tolist()),
    ]
    graph = helper.make_graph(
        [node], "qconv",
        [helper.make_tensor_value_info("x", TensorProto.INT8, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.INT8, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]
    ints = lambda a: " ".join(str(int(v)) for v in np.asarray(a).flatten())
    floats = lambda a: " ".join(repr(float(v)) for v in np.asarray(a, dtype=np.float32).flatten())
    return "\n".join([
        f"{kind} {cin} {cout} {h} {w} {k} {s} {t} {l} {b} {r}",
        f"{float(x_scale)!r} {int(x_zp)} {float(y_scale)!r} {int(y_zp)}",
        floats(w_scale), ints(bias), ints(x), ints(wt), ints(y),
    ]) + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "firmware/kernels/tests/golden_qconv"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(8)
    for i, case in enumerate(CASES):
        name = f"{case[0]}{case[5]}x{case[5]}_s{case[6]}_{i}.txt"
        with open(os.path.join(out, name), "w") as f:
            f.write(run(case, rng))
        print(name)
    print(f"onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main()
