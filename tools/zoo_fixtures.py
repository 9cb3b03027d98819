#!/usr/bin/env python3
"""Writes the minimal ONNX graphs of the paddle2onnx patterns that host/compiler/src/zoo_fixes.rs
rewrites (tests/data/zoo/*.onnx, a few hundred bytes each) and prints onnxruntime's outputs on
their fixed inputs: the goldens written into that module's tests.

    python3 tools/zoo_fixtures.py
"""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "zoo"
BATCH = "DynamicDimension.0"  # paddle2onnx's batch symbol, on every shape


def save(name, nodes, inputs, outputs, inits, feed):
    g = h.make_graph(nodes, name, inputs, outputs, [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    OUT.mkdir(parents=True, exist_ok=True)
    onnx.save(m, OUT / f"{name}.onnx")
    y = ort.InferenceSession(str(OUT / f"{name}.onnx"), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    print(f"{name}: output {list(y.shape)} = {[round(float(v), 6) for v in y.flatten()]}")


def conv_bias_add():
    """Paddle's conv2d with a bias: Conv(x, W) then Add of a [1, C, 1, 1] initializer."""
    x = (np.arange(18, dtype=np.float32) / 10 - 0.8).reshape(1, 2, 3, 3)
    w = (np.arange(6, dtype=np.float32) / 5 - 0.5).reshape(3, 2, 1, 1)
    b = np.array([0.5, -1, 2], dtype=np.float32).reshape(1, 3, 1, 1)
    save("conv_bias_add", [h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("Add", ["c", "B"], ["y"])],
         [h.make_tensor_value_info("x", T.FLOAT, [BATCH, 2, 3, 3])],
         [h.make_tensor_value_info("y", T.FLOAT, [BATCH, 3, 3, 3])], {"W": w, "B": b}, {"x": x})


def strided_slice_after_reshape():
    """LeViT's subsampling of its token grid: Reshape to a grid, Slice with steps 2, Reshape back."""
    x = (np.arange(48, dtype=np.float32) / 8 - 3).reshape(1, 16, 3)
    big = np.iinfo(np.int32).max
    nodes = [
        h.make_node("Reshape", ["x", "grid"], ["g"]),
        h.make_node("Constant", [], ["axes"], value=nh.from_array(np.array([1, 2], dtype=np.int64))),
        h.make_node("Slice", ["g", "starts", "ends", "axes", "steps"], ["s"]),
        h.make_node("Reshape", ["s", "tokens"], ["y"]),
    ]
    inits = {"grid": np.array([1, 4, 4, 3], dtype=np.int64), "starts": np.array([0, 0], dtype=np.int64),
             "ends": np.array([big, big], dtype=np.int64), "steps": np.array([2, 2], dtype=np.int64),
             "tokens": np.array([1, 4, 3], dtype=np.int64)}
    save("strided_slice_after_reshape", nodes, [h.make_tensor_value_info("x", T.FLOAT, [BATCH, 16, 3])],
         [h.make_tensor_value_info("y", T.FLOAT, [BATCH, 4, 3])], inits, {"x": x})


if __name__ == "__main__":
    conv_bias_add()
    strided_slice_after_reshape()
