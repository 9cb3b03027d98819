#!/usr/bin/env python3
"""Exports seed-list architectures of the PaddlePaddle zoo to ONNX with seeded random weights, with a
fixed input and onnxruntime's outputs, for `oar conform` (see docs/zoo.md).

Definitions come from PyPI packages: PaddleClas backbones (`paddleclas==2.6.0`, module `ppcls`),
PaddleSeg models (`paddleseg==2.8.0`) and PaddleDetection detectors (`paddledet==2.6.0`, module
`ppdet`, assembled from the architecture sections of their configs in `tools/zoo_det.py`). Export: paddlepaddle 3.0.0 `paddle.onnx.export` (paddle2onnx
2.1.0, opset 13). Environment, as `.ci/run` and `tools/zoo_run.py` make it:

    python3 -m venv --system-site-packages VENV        # onnxruntime and numpy come from the system
    VENV/bin/pip install paddlepaddle==3.0.0 paddle2onnx==2.1.0
    VENV/bin/pip install --no-deps paddleclas==2.6.0 paddleseg==2.8.0 paddledet==2.6.0
    VENV/bin/pip install scikit-learn pyyaml opencv-python-headless easydict tqdm prettytable ujson \
        pycocotools typeguard matplotlib pandas

Usage:
    VENV/bin/python tools/zoo_export.py --out DIR [--set ci|all] [--max-params M] [NAME...]
    VENV/bin/python tools/zoo_export.py --list            # the exportable catalogue, one per line

For each model it writes DIR/NAME/{model.onnx, input.npy, output_0.npy ..., export.json}, or
DIR/NAME/error.json with the reason it could not be exported. Existing results are reused. Each
model is exported in its own subprocess (a crash or a hang of one export does not stop the others).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_det  # noqa: E402
import zoo_table  # noqa: E402

# Small, quick models for CI: each ONNX file at most 20 MB (PP-LiteSeg(STDC-1), 33 MB, is replaced
# by PP-HumanSegV2, the same PP-LiteSeg head on MobileNetV3, 15 MB), together a minute or two of
# export. GhostNet_x0_5 guards the compile-time check's relative tolerance (its outputs reach 4e4).
CI_SET = [
    "PPLCNet_x0_25", "PPLCNet_x0_5", "MobileNetV3_small_x0_35", "MobileNetV1_x0_25", "MobileNetV2_x0_25",
    "ShuffleNetV2_x0_25", "SqueezeNet1_1", "ESNet_x0_25", "GhostNet_x0_5", "PP-HumanSegV2",
]
CI_MAX_BYTES = 20 << 20

SEED = 0

# Seed names that name an architecture family rather than one model: the PaddleClas definition exported
# for them (the smallest of the family, or the one PaddleClas documents for it).
CLAS_ALIASES = {"ConvNeXt": "ConvNeXt_tiny", "VAN": "VAN_B0", "RegNet": "RegNetX_4GF"}


def clas_input(name):
    """Input side of a PaddleClas backbone: the size its pretrained weights were trained at."""
    if "384" in name:
        return 384
    if name in ("InceptionV3", "InceptionV4") or name.startswith("Xception"):
        return 299
    if name.startswith("EfficientNet"):
        return {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "B4": 380, "B5": 456, "B6": 528, "B7": 600}[name[-2:]]
    if name.startswith("MobileViT"):
        return 256
    return 224


def seg_builders():
    """Seed name -> (constructor, input side) of PaddleSeg models (19 Cityscapes classes)."""
    import paddleseg.models as m
    import paddleseg.models.backbones as b

    return {
        "Fast-SCNN": (lambda: m.FastSCNN(num_classes=19), 256),
        "BiSeNetv2": (lambda: m.BiSeNetV2(num_classes=19), 256),
        "ENet": (lambda: m.ENet(num_classes=19), 256),
        "SegFormer_B0": (lambda: m.SegFormer(num_classes=19, backbone=b.MixVisionTransformer_B0(), embedding_dim=256), 256),
        "STDC_STDC1": (lambda: m.STDCSeg(num_classes=19, backbone=b.STDC1()), 256),
        "PP-LiteSeg(STDC-1)": (lambda: m.PPLiteSeg(num_classes=19, backbone=b.STDC1()), 256),
        "PP-LiteSeg(STDC-2)": (lambda: m.PPLiteSeg(num_classes=19, backbone=b.STDC2()), 256),
        "DDRNet_23（DDRNet）": (lambda: m.DDRNet_23(num_classes=19), 256),
        "BiSeNetV1": (lambda: m.BiseNetV1(num_classes=19, backbone=b.ResNet18_vd()), 256),
        "ESPNetV1": (lambda: m.ESPNetV1(num_classes=19), 256),
        "ESPNetV2": (lambda: m.ESPNetV2(num_classes=19), 256),
        "FCN_HRNet_W18_small": (lambda: m.FCN(num_classes=2, backbone=b.HRNet_W18_Small_V1()), 256),
        "FCN_HRNet_W18": (lambda: m.FCN(num_classes=19, backbone=b.HRNet_W18()), 256),
        "OCRNet_HRNetW18": (lambda: m.OCRNet(num_classes=19, backbone=b.HRNet_W18(), backbone_indices=[0]), 256),
        "OCRNet_HRNetW48": (lambda: m.OCRNet(num_classes=19, backbone=b.HRNet_W48(), backbone_indices=[0]), 256),
        "LRASPP-MV3": (lambda: m.LRASPP(num_classes=19, backbone=b.MobileNetV3_large_x1_0()), 256),
        "TopFormer": (lambda: m.TopFormer(num_classes=19, backbone=b.TopTransformer_Base()), 256),
        "RTFormer": (lambda: m.RTFormer(num_classes=19), 256),
        "UHRNet": (lambda: m.FCN(num_classes=19, backbone=b.UHRNet_W18_Small()), 256),
        # PP-HumanSegV2-Lite: PP-LiteSeg on MobileNetV3-large with narrow heads (its paddleseg config).
        "PP-HumanSegV2": (lambda: m.PPLiteSeg(num_classes=2, backbone=b.MobileNetV3_large_x1_0(), backbone_indices=[1, 2, 3],
                                              arm_out_chs=[32, 64, 128], seg_head_inter_chs=[32, 32, 32]), 256),
        "DeepLabv3p_resnet50_cityscapes": (lambda: m.DeepLabV3P(num_classes=19, backbone=b.ResNet50_vd(output_stride=8), backbone_indices=[0, 3]), 256),
        "PP-HumanSeg-Server (DeepLabv3p_resnet50)": (lambda: m.DeepLabV3P(num_classes=2, backbone=b.ResNet50_vd(output_stride=8), backbone_indices=[0, 3]), 256),
        "CCNet": (lambda: m.CCNet(num_classes=19, backbone=b.ResNet50_vd(output_stride=8), backbone_indices=[2, 3]), 256),
        "GloRe": (lambda: m.GloRe(num_classes=19, backbone=b.ResNet50_vd(output_stride=8), backbone_indices=[2, 3]), 256),
        "ENCNet": (lambda: m.ENCNet(num_classes=19, backbone=b.ResNet50_vd(output_stride=8), backbone_indices=[1, 2, 3]), 256),
        "DMNet": (lambda: m.DMNet(num_classes=19, backbone=b.ResNet50_vd(output_stride=8)), 256),
        "PFPNNet": (lambda: m.PFPNNet(num_classes=19, backbone=b.ResNet50_vd(), backbone_indices=[0, 1, 2, 3], channels=256), 256),
        "UPERNet": (lambda: m.UPerNet(num_classes=150, backbone=b.ResNet50_vd(), backbone_indices=[0, 1, 2, 3]), 256),
        "HRNetW48Contrast": (lambda: m.HRNetW48Contrast(bb_channels=720, num_classes=19, backbone=b.HRNet_W48(), drop_prob=0.1, proj_dim=720), 256),
    }


def catalogue():
    """[(family, seed name, kind)] of every seed model this script knows how to build."""
    sys.path.insert(0, str(paddleclas_root()))
    import ppcls.arch.backbone as clas

    out = []
    segs = seg_builders()
    for row in zoo_table.read_seed(zoo_table.DEFAULT_SEED):
        family, name = row["family"], row["name"]
        if family == "PaddleClas" and hasattr(clas, CLAS_ALIASES.get(name, name)):
            out.append((family, name, "clas"))
        elif family == "PaddleSeg" and name in segs:
            out.append((family, name, "seg"))
        elif family == "PaddleDetection" and name in zoo_det.CONFIGS:
            out.append((family, name, "det"))
    return out


def paddleclas_root():
    """paddleclas installs `ppcls` inside its own package directory."""
    import importlib.util

    spec = importlib.util.find_spec("paddleclas")
    if spec is None:
        sys.exit("paddleclas is not installed (pip install --no-deps paddleclas==2.6.0)")
    return Path(spec.origin).parent


def build(name, kind):
    """The model (eval mode, seeded weights) and its input shape."""
    import paddle

    paddle.seed(SEED)
    if kind == "clas":
        sys.path.insert(0, str(paddleclas_root()))
        import ppcls.arch.backbone as clas
        from ppcls.utils import logger

        logger.init_logger()  # some backbones warn through it (e.g. on unused return_stages)
        definition = CLAS_ALIASES.get(name, name)
        model, side = getattr(clas, definition)(class_num=1000), clas_input(definition)
    elif kind == "det":
        return zoo_det.build(name)
    else:
        ctor, side = seg_builders()[name]
        model = ctor()
    model.eval()
    return model, [1, 3, side, side]


def export_one(name, kind, out_dir, max_params, form="fixed", opset=13):
    """Exports one model into out_dir (runs in its own process). `form` "dyn" gives the input a
    symbolic batch (`InputSpec([None, ...])`, as users' `paddle.jit.save` exports have it)."""
    import numpy as np
    import onnxruntime as ort
    import paddle

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        model, shape = build(name, kind)
    except Exception as e:  # the definition itself, before paddle2onnx sees anything
        raise DefinitionError(f"{type(e).__name__}: {e}") from e
    params = int(sum(int(np.prod(p.shape)) for p in model.parameters()))
    if max_params and params > max_params * 1e6:
        raise SkipModel(f"not exported: {params / 1e6:.1f} M parameters, over this run's --max-params {max_params} M")
    start = time.time()
    tmp = out_dir / "model.tmp"
    spec = [None, *shape[1:]] if form == "dyn" else shape
    paddle.onnx.export(model, str(tmp), input_spec=[paddle.static.InputSpec(spec, "float32", "x")], opset_version=opset)
    export_s = time.time() - start
    x = np.random.default_rng(SEED).uniform(-1, 1, size=shape).astype(np.float32)
    sess = ort.InferenceSession(str(tmp) + ".onnx", providers=["CPUExecutionProvider"])
    outputs = sess.run(None, {sess.get_inputs()[0].name: x})
    np.save(out_dir / "input.npy", x)
    for i, y in enumerate(outputs):
        np.save(out_dir / f"output_{i}.npy", np.asarray(y, dtype=np.float32))
    os.replace(str(tmp) + ".onnx", out_dir / "model.onnx")
    meta = {
        "name": name, "kind": kind, "shape": shape, "params": params, "outputs": len(outputs),
        "onnx_bytes": (out_dir / "model.onnx").stat().st_size, "export_s": round(export_s, 1),
        "paddle": paddle.__version__, "seed": SEED, "form": form, "opset": opset,
    }
    zoo_table.write_json(out_dir / "export.json", meta)


class SkipModel(Exception):
    pass


class DefinitionError(Exception):
    pass


def model_dir(out, name):
    return Path(out) / zoo_table.safe_dir(name)


def run_child(name, kind, out, max_params, timeout, form, opset):
    d = model_dir(out, name)
    if (d / "export.json").exists() or (d / "error.json").exists():
        return "cached"
    d.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--one", name, "--kind", kind, "--out", str(out), "--max-params", str(max_params),
           "--form", form, "--opset", str(opset)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode == 0:
            return "exported"
        # paddle's fatal-signal report goes to stdout, Python's errors to stderr.
        lines = [l for l in (p.stdout + p.stderr).splitlines() if l.strip() and "warn" not in l.lower()]
        defs = [l for l in lines if l.startswith("DefinitionError: ")]
        if defs:
            zoo_table.write_json(d / "error.json", {"name": name, "stage": "definition",
                                                    "reason": defs[-1][len("DefinitionError: "):][:400]})
            return "failed"
        fatal = [l.strip() for l in lines if l.startswith("FatalError")]
        if fatal:
            reason = fatal[-1]
        elif lines:
            reason = lines[-1]
        elif p.returncode < 0:
            reason = f"the exporter process died of {signal.Signals(-p.returncode).name}"
        else:
            reason = f"exit code {p.returncode}"
        # paddle2onnx says what it could not convert in [ERROR] lines before the fatal one.
        errors = list(dict.fromkeys(l.replace("[ERROR][Paddle2ONNX]", "").strip() for l in lines if "[ERROR]" in l))
        if errors:
            reason = " ".join(errors)
        elif "Folding Constants" in p.stdout + p.stderr:
            reason = f"in paddle2onnx's constant folding (Polygraphy), after the ONNX was written: {reason}"
    except subprocess.TimeoutExpired:
        reason = f"export took over {timeout} s"
    if reason.startswith("SkipModel: "):
        zoo_table.write_json(d / "error.json", {"name": name, "stage": "skipped", "reason": reason[len("SkipModel: "):]})
        return "skipped"
    zoo_table.write_json(d / "error.json", {"name": name, "stage": "export", "reason": reason[:400]})
    return "failed"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="cache directory of exported models")
    ap.add_argument("--set", choices=["ci", "all"], default="all")
    ap.add_argument("--max-params", type=float, default=30, help="skip models over this many million parameters (0: none)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds allowed per export")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--form", choices=["fixed", "dyn"], default="fixed",
                    help="fixed: batch 1 (the zoo table's exports); dyn: a symbolic batch, as users' exports have it")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()

    if args.one:
        try:
            export_one(args.one, args.kind, model_dir(args.out, args.one), args.max_params, args.form, args.opset)
        except (SkipModel, DefinitionError) as e:
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(3)
        return
    cat = catalogue()
    if args.out:
        # What could be exported here: zoo_table.py tells "not run yet" from "no definition".
        Path(args.out).mkdir(parents=True, exist_ok=True)
        zoo_table.write_atomic(Path(args.out) / "catalogue.tsv", "".join(f"{f}\t{n}\t{k}\n" for f, n, k in cat))
    if args.list:
        for family, name, kind in cat:
            print(f"{family}\t{name}\t{kind}")
        return
    if not args.out:
        ap.error("--out DIR is required")
    # The named models, plus the CI set with --set ci; neither: every model.
    wanted = set(args.names) | (set(CI_SET) if args.set == "ci" else set()) or None
    todo = [(f, n, k) for f, n, k in cat if wanted is None or n in wanted]
    if args.names:
        # Named ones first, in the order given (smallest first, say), then the rest in the seed list's.
        todo.sort(key=lambda t: args.names.index(t[1]) if t[1] in args.names else len(args.names))
    missing = (wanted or set()) - {n for _, n, _ in todo}
    if missing:
        print(f"not in the catalogue, skipped: {', '.join(sorted(missing))} (see --list)", file=sys.stderr)
    counts = {}
    for i, (family, name, kind) in enumerate(todo, 1):
        t = time.time()
        result = run_child(name, kind, args.out, args.max_params, args.timeout, args.form, args.opset)
        counts[result] = counts.get(result, 0) + 1
        print(f"[{i}/{len(todo)}] {family} {name}: {result} ({time.time() - t:.0f} s)", flush=True)
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
