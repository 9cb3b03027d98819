#!/usr/bin/env python3
"""Writes the minimal ONNX graphs of the paddle2onnx patterns that host/compiler/src/zoo_fixes.rs
rewrites (tests/data/zoo/*.onnx, a few hundred bytes each) and prints onnxruntime's outputs on
their fixed inputs: the goldens written into that module's tests.

Each pattern is written in the forms users' exports take, `NAME.FORM.opN.onnx`: FORM `dyn` (a
symbolic batch, as `paddle.jit.save` with a `None` batch writes it, Reshape targets -1 there),
`dyn0` (the same with Reshape targets 0, "copy the input's dim") where the pattern has a Reshape,
and `fixed` (batch 1 everywhere); at opset 11 and 13 (the `If` + `SequenceMap` pattern exists
only from opset 17, DeformConv from 19). The tests check every form against the same goldens.

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


FORMS = {"dyn": BATCH, "fixed": 1}
OPSETS = (11, 13)


def save(name, nodes, inputs, outputs, inits, feed, opset=13, file=None):
    g = h.make_graph(nodes, name, inputs, outputs, [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8 if opset >= 13 else 6
    onnx.checker.check_model(m)
    OUT.mkdir(parents=True, exist_ok=True)
    file = file or f"{name}.onnx"
    onnx.save(m, OUT / file)
    y = ort.InferenceSession(str(OUT / file), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    print(f"{file}: output {list(y.shape)} = {[round(float(v), 6) for v in y.flatten()]}")


def conv_bias_add(form, opset):
    """Paddle's conv2d with a bias: Conv(x, W) then Add of a [1, C, 1, 1] initializer."""
    n = FORMS[form]
    x = (np.arange(18, dtype=np.float32) / 10 - 0.8).reshape(1, 2, 3, 3)
    w = (np.arange(6, dtype=np.float32) / 5 - 0.5).reshape(3, 2, 1, 1)
    b = np.array([0.5, -1, 2], dtype=np.float32).reshape(1, 3, 1, 1)
    save("conv_bias_add", [h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("Add", ["c", "B"], ["y"])],
         [h.make_tensor_value_info("x", T.FLOAT, [n, 2, 3, 3])],
         [h.make_tensor_value_info("y", T.FLOAT, [n, 3, 3, 3])], {"W": w, "B": b}, {"x": x},
         opset, f"conv_bias_add.{form}.op{opset}.onnx")


def strided_slice_after_reshape(form, opset):
    """LeViT's subsampling of its token grid: Reshape to a grid, Slice with steps 2, Reshape back.
    The Reshape targets' batch is 1 (fixed), -1 (dyn) or 0 (dyn0); `dynshape` computes the grid
    target as paddle2onnx 2.1 writes it for a dynamic batch: Concat(Unsqueeze(Shape(x)[0]), 4, 4, 3)
    through Identity nodes."""
    n, lead = {"fixed": (1, 1), "dyn": (BATCH, -1), "dyn0": (BATCH, 0), "dynshape": (BATCH, -1)}[form]
    x = (np.arange(48, dtype=np.float32) / 8 - 3).reshape(1, 16, 3)
    big = np.iinfo(np.int32).max
    nodes = [
        h.make_node("Reshape", ["x", "grid"], ["g"]),
        h.make_node("Constant", [], ["axes"], value=nh.from_array(np.array([1, 2], dtype=np.int64))),
        h.make_node("Slice", ["g", "starts", "ends", "axes", "steps"], ["s"]),
        h.make_node("Reshape", ["s", "tokens"], ["y"]),
    ]
    inits = {"grid": np.array([lead, 4, 4, 3], dtype=np.int64), "starts": np.array([0, 0], dtype=np.int64),
             "ends": np.array([big, big], dtype=np.int64), "steps": np.array([2, 2], dtype=np.int64),
             "tokens": np.array([lead, 4, 3], dtype=np.int64)}
    if form == "dynshape":
        del inits["grid"]
        inits.update({"zero": np.array(0, dtype=np.int64), "g1": np.array([4], dtype=np.int64),
                      "g2": np.array([4], dtype=np.int64), "g3": np.array([3], dtype=np.int64)})
        unsqueeze = (h.make_node("Unsqueeze", ["batch"], ["batch1"], axes=[0]) if opset < 13 else
                     h.make_node("Unsqueeze", ["batch", "axis0"], ["batch1"]))
        if opset >= 13:
            inits["axis0"] = np.array([0], dtype=np.int64)
        nodes = [h.make_node("Shape", ["x"], ["xshape"]),
                 h.make_node("Gather", ["xshape", "zero"], ["batch"], axis=0),
                 unsqueeze,
                 h.make_node("Concat", ["batch1", "g1", "g2", "g3"], ["grid_c"], axis=0),
                 h.make_node("Identity", ["grid_c"], ["grid"]),
                 *nodes]
    save("strided_slice_after_reshape", nodes, [h.make_tensor_value_info("x", T.FLOAT, [n, 16, 3])],
         [h.make_tensor_value_info("y", T.FLOAT, [n, 4, 3])], inits, {"x": x},
         opset, f"strided_slice_after_reshape.{form}.op{opset}.onnx")


def if_sequence_map(form):
    """Paddle's set_value as paddle2onnx 2.1 writes it (Swin's attention mask, F.pad): an `If` on a
    condition computed from constant shapes, whose else branch splits a constant into a sequence,
    maps a body (Squeeze, Range, Size) over it and concatenates the results (both `new_axis`)."""
    i64 = lambda v: nh.from_array(np.array(v, dtype=np.int64))
    seq_in = lambda n, t: h.make_tensor_value_info(n, t, None)
    body = h.make_graph(
        [h.make_node("Squeeze", ["piece"], ["n"]),
         h.make_node("Constant", [], ["zero"], value=i64(0)),
         h.make_node("Constant", [], ["one"], value=i64(1)),
         h.make_node("Range", ["zero", "n", "one"], ["r"]),
         h.make_node("Size", ["r"], ["size"]),
         h.make_node("Cast", ["size"], ["f"], to=T.FLOAT),
         h.make_node("Mul", ["xin", "f"], ["scaled"]),
         h.make_node("Constant", [], ["axis0"], value=i64([0])),
         h.make_node("Unsqueeze", ["size", "axis0"], ["len"])],
        "map_body", [seq_in("piece", T.INT64), seq_in("xin", T.FLOAT)],
        [seq_in("scaled", T.FLOAT), seq_in("len", T.INT64)])
    else_branch = h.make_graph(
        [h.make_node("SplitToSequence", ["sizes", "ones"], ["seq"]),
         h.make_node("SequenceMap", ["seq", "x"], ["scaled_seq", "len_seq"], body=body),
         h.make_node("ConcatFromSequence", ["scaled_seq"], ["stacked"], axis=1, new_axis=1),
         h.make_node("Constant", [], ["axis1"], value=i64([1])),
         h.make_node("ReduceSum", ["stacked", "axis1"], ["summed"], keepdims=0),
         h.make_node("ConcatFromSequence", ["len_seq"], ["lens"], axis=0),
         h.make_node("ReduceSum", ["lens"], ["total"], keepdims=0),
         h.make_node("Cast", ["total"], ["total_f"], to=T.FLOAT),
         h.make_node("Add", ["summed", "total_f"], ["set"])],
        "else", [], [seq_in("set", T.FLOAT)])
    then_branch = h.make_graph([h.make_node("Identity", ["x"], ["same"])], "then", [], [seq_in("same", T.FLOAT)])
    nodes = [
        h.make_node("Shape", ["sizes"], ["shape"]),
        h.make_node("ReduceSum", ["shape"], ["rank_sum"], keepdims=0),
        h.make_node("Constant", [], ["limit"], value=i64(0)),
        h.make_node("Less", ["rank_sum", "limit"], ["cond"]),
        h.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
    ]
    x = (np.arange(4, dtype=np.float32) / 4 - 0.5).reshape(1, 4)
    inits = {"sizes": np.array([2, 3], dtype=np.int64), "ones": np.array([1, 1], dtype=np.int64)}
    n = FORMS[form]
    save("if_sequence_map", nodes, [h.make_tensor_value_info("x", T.FLOAT, [n, 4])],
         [h.make_tensor_value_info("y", T.FLOAT, [n, 4])], inits, {"x": x}, 17, f"if_sequence_map.{form}.op17.onnx")


def gelu(form, opset):
    """paddle2onnx's exact GELU: x · 0.5 · (1 + erf(x / √2)), with a Div as it writes it."""
    x = (np.arange(8, dtype=np.float32) / 2 - 2).reshape(1, 8)
    nodes = [
        h.make_node("Div", ["x", "sqrt2"], ["d"]),
        h.make_node("Erf", ["d"], ["e"]),
        h.make_node("Add", ["e", "one"], ["a"]),
        h.make_node("Mul", ["x", "a"], ["m"]),
        h.make_node("Mul", ["m", "half"], ["y"]),
    ]
    inits = {"sqrt2": np.array(np.sqrt(2), dtype=np.float32), "one": np.array(1, dtype=np.float32),
             "half": np.array(0.5, dtype=np.float32)}
    n = FORMS[form]
    save("gelu", nodes, [h.make_tensor_value_info("x", T.FLOAT, [n, 8])],
         [h.make_tensor_value_info("y", T.FLOAT, [n, 8])], inits, {"x": x}, opset, f"gelu.{form}.op{opset}.onnx")


def deform_conv():
    """paddle2onnx's deformable conv v2 (PP-YOLO / TTFNet DCN): offsets and a sigmoid mask computed
    by convs of the input, then DeformConv(x, W, offset, B, mask), 3x3, pad 1, stride 1; then a
    second DeformConv with neither bias nor mask, stride 2, uneven pads, 2 groups. The offsets reach
    ±4 px, so taps fall outside the image. Input and onnxruntime's outputs are written as .npy."""
    rng = np.random.default_rng(7)
    f = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)
    x = f(1, 4, 6, 7)
    nodes = [
        h.make_node("Conv", ["x", "Woff"], ["off"], pads=[1, 1, 1, 1]),
        h.make_node("Conv", ["x", "Wm"], ["mlogit"], pads=[1, 1, 1, 1]),
        h.make_node("Sigmoid", ["mlogit"], ["mask"]),
        h.make_node("DeformConv", ["x", "W", "off", "B", "mask"], ["y"], dilations=[1, 1], group=1,
                    pads=[1, 1, 1, 1], strides=[1, 1]),
        h.make_node("Conv", ["y", "Woff2"], ["off2"], pads=[1, 0, 1, 1], strides=[2, 2]),
        h.make_node("DeformConv", ["y", "W2", "off2"], ["y2"], kernel_shape=[3, 3], group=2,
                    pads=[1, 0, 1, 1], strides=[2, 2]),
    ]
    inits = {"Woff": f(18, 4, 3, 3, scale=0.6), "Wm": f(9, 4, 3, 3, scale=0.5), "W": f(6, 4, 3, 3, scale=0.3),
             "B": f(6), "Woff2": f(18, 6, 3, 3, scale=0.5), "W2": f(4, 3, 3, 3, scale=0.3)}
    save("deform_conv", nodes, [h.make_tensor_value_info("x", T.FLOAT, [BATCH, 4, 6, 7])],
         [h.make_tensor_value_info("y", T.FLOAT, [BATCH, 6, 6, 7]),
          h.make_tensor_value_info("y2", T.FLOAT, [BATCH, 4, 3, 3])], inits, {"x": x}, opset=19)
    sess = ort.InferenceSession(str(OUT / "deform_conv.onnx"), providers=["CPUExecutionProvider"])
    np.save(OUT / "deform_conv_input.npy", x)
    for i, y in enumerate(sess.run(None, {"x": x})):
        np.save(OUT / f"deform_conv_output_{i}.npy", y)


def token_encoder():
    """A plan that is not an image: a one-layer attention encoder as ERNIE / BERT exports have it,
    on token ids and segment ids (int64, 1 x seq, `seq` symbolic): word + segment + position
    embeddings (Gather; positions sliced to the sequence's length from Shape), LayerNorm, one
    self-attention head (MatMul, Softmax over the sequence), GELU, then the per-token states and
    their mean. Written to tests/data/tensors/ with two cases, lengths 5 and 11, each a folder of
    input_N.npy and onnxruntime's output_N.npy (what `oar conform --case` reads)."""
    out = OUT.parent / "tensors"
    rng = np.random.default_rng(11)
    vocab, types, max_len, d = 50, 2, 32, 8
    f = lambda *s, scale=0.5: (rng.standard_normal(s) * scale).astype(np.float32)
    inits = {"word": f(vocab, d), "seg": f(types, d), "pos": f(max_len, d), "gamma": 1 + f(d, scale=0.1), "beta": f(d, scale=0.1),
             "wq": f(d, d), "wk": f(d, d), "wv": f(d, d), "wo": f(d, d), "scale": np.array(d ** -0.5, np.float32),
             "zero": np.array([0], np.int64), "one": np.array([1], np.int64), "sqrt2": np.array(2 ** 0.5, np.float32),
             "half": np.array(0.5, np.float32), "onef": np.array(1.0, np.float32)}
    nodes = [
        h.make_node("Gather", ["word", "input_ids"], ["we"]),
        h.make_node("Gather", ["seg", "token_type_ids"], ["se"]),
        h.make_node("Shape", ["input_ids"], ["shape"]),
        h.make_node("Constant", [], ["shape_end"], value=nh.from_array(np.array([2], np.int64))),
        h.make_node("Slice", ["shape", "one", "shape_end"], ["len"]),
        h.make_node("Slice", ["pos", "zero", "len", "zero"], ["pe"]),
        h.make_node("Add", ["we", "se"], ["e1"]),
        h.make_node("Add", ["e1", "pe"], ["e"]),
        h.make_node("LayerNormalization", ["e", "gamma", "beta"], ["x"], axis=-1, epsilon=1e-5),
        h.make_node("MatMul", ["x", "wq"], ["q"]),
        h.make_node("MatMul", ["x", "wk"], ["k"]),
        h.make_node("MatMul", ["x", "wv"], ["v"]),
        h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["q", "kt"], ["qk"]),
        h.make_node("Mul", ["qk", "scale"], ["logits"]),
        h.make_node("Softmax", ["logits"], ["att"], axis=-1),
        h.make_node("MatMul", ["att", "v"], ["ctx"]),
        h.make_node("MatMul", ["ctx", "wo"], ["o"]),
        h.make_node("Add", ["o", "x"], ["r"]),
        # GELU as paddle2onnx writes it: 0.5 x (1 + erf(x / sqrt 2)).
        h.make_node("Div", ["r", "sqrt2"], ["rs"]),
        h.make_node("Erf", ["rs"], ["erf"]),
        h.make_node("Add", ["erf", "onef"], ["erf1"]),
        h.make_node("Mul", ["r", "erf1"], ["g1"]),
        h.make_node("Mul", ["g1", "half"], ["hidden"]),
        h.make_node("ReduceMean", ["hidden"], ["pooled"], axes=[1], keepdims=0),
    ]
    ids = lambda n: [h.make_tensor_value_info(k, T.INT64, [1, "seq"]) for k in ("input_ids", "token_type_ids")][n]
    g = h.make_graph(nodes, "token_encoder", [ids(0), ids(1)],
                     [h.make_tensor_value_info("hidden", T.FLOAT, [1, "seq", d]), h.make_tensor_value_info("pooled", T.FLOAT, [1, d])],
                     [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(m, out / "token_encoder.onnx")
    # The same graph with the length named apart per input, as paddle2onnx writes it.
    for k, i in enumerate(m.graph.input):
        i.type.tensor_type.shape.dim[1].dim_param = f"DynamicDimension_{k}"
    onnx.save(m, out / "token_encoder_p2o.onnx")
    sess = ort.InferenceSession(str(out / "token_encoder.onnx"), providers=["CPUExecutionProvider"])
    for case, n in (("a", 5), ("b", 11)):
        feed = {"input_ids": rng.integers(0, vocab, (1, n)).astype(np.int64),
                "token_type_ids": (np.arange(n) >= n // 2).astype(np.int64)[None]}
        (out / case).mkdir(exist_ok=True)
        for i, k in enumerate(("input_ids", "token_type_ids")):
            np.save(out / case / f"input_{i}.npy", feed[k])
        for i, y in enumerate(sess.run(None, feed)):
            np.save(out / case / f"output_{i}.npy", y)
        print(f"token_encoder {case}: seq {n}, pooled {sess.run(None, feed)[1][0, :3]}")


def position_ids():
    """Position ids as paddle2onnx writes them for ERNIE / BERT: CumSum(Cast(Expand(1, Shape(ids))))
    - 1, then a position-embedding Gather (host/compiler/src/zoo_fixes.rs `cumsum_over_shapes`).
    tests/data/tensors/position_ids.onnx with cases pos_a (length 5) and pos_b (9)."""
    out = OUT.parent / "tensors"
    rng = np.random.default_rng(12)
    nodes = [h.make_node("Shape", ["ids"], ["s"]), h.make_node("Expand", ["one", "s"], ["e"]),
             h.make_node("Cast", ["e"], ["c"], to=T.INT64), h.make_node("CumSum", ["c", "axis"], ["pos"]),
             h.make_node("Sub", ["pos", "one"], ["p"]), h.make_node("Gather", ["emb", "p"], ["y"])]
    inits = {"one": np.array(1, np.int64), "axis": np.array(-1, np.int64), "emb": rng.standard_normal((32, 4)).astype(np.float32)}
    g = h.make_graph(nodes, "position_ids", [h.make_tensor_value_info("ids", T.INT64, [1, "seq"])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, "seq", 4])], [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, out / "position_ids.onnx")
    sess = ort.InferenceSession(str(out / "position_ids.onnx"), providers=["CPUExecutionProvider"])
    for case, n in (("pos_a", 5), ("pos_b", 9)):
        (out / case).mkdir(parents=True, exist_ok=True)
        x = rng.integers(0, 30, (1, n)).astype(np.int64)
        np.save(out / case / "input_0.npy", x)
        np.save(out / case / "output_0.npy", sess.run(None, {"ids": x})[0])


if __name__ == "__main__":
    for opset in OPSETS:
        for form in FORMS:
            conv_bias_add(form, opset)
            gelu(form, opset)
        for form in ("dyn", "dyn0", "dynshape", "fixed"):
            strided_slice_after_reshape(form, opset)
    for form in FORMS:
        if_sequence_map(form)
    deform_conv()
    token_encoder()
    position_ids()
