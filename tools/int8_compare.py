#!/usr/bin/env python3
"""oar int8 vs float vs onnxruntime's own static int8 quantization, side by side in one run.

    python tools/int8_compare.py --oar target/profiling/oar --out /tmp/int8cmp \
        [--models ppocr-v4-det,ppocr-v4-rec,picodet-layout-cdla] [--methods kl,percentile,minmax,pact] \
        [--threads 1,2] [--runs 20] [--compile-args="--float-kxk"]

Per model:
- oar: `oar compile ID --int8 --calib CALIB --method M --eval SET` for each method (accuracy
  float vs int8 from the plan's manifest, computed by oar-eval), file size of the float plan and
  each int8 plan, `oar bench --json` latency of the float plan and the first method's int8 plan
  at each thread count (the int8 graph is the same for every method, only scales differ);
- onnxruntime 1.32: `quantize_static` (QDQ, per-channel int8 weights, int8 activations, the same
  calibration images pre-processed as in oar's plan manifest, MinMax calibration and Entropy),
  file size, latency (tools/bench_ort.py's timing, same shape and threads) and accuracy of the
  ORT float model vs the ORT QDQ model on the same evaluation images with RapidOCR's /
  rapid_layout's own pipelines (rec: line accuracy and CER; det: hmean at IoU 0.5;
  layout: mAP@0.5 against the float model's boxes).

Sets (made by tools/gen_ocr_set.py / tools/detect_ref.py, calibration and evaluation never share
images): OCR calibration /tmp/ocrcalib (seed 2), evaluation /tmp/ocrset; layout calibration
/tmp/layoutcalib (seed c), evaluation /tmp/layouteval (seed e).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocr_score import edit_distance, iou_xyxy, rect  # noqa: E402  (the scoring rules of eval_ocr.sh)

HOME = Path(os.environ.get("OAR_HOME", Path.home() / ".cache" / "oar"))

MODELS = {
    "ppocr-v4-det": dict(calib="/tmp/ocrcalib/scenes", eval="/tmp/ocrset", kind="scene", limit=20),
    "ppocr-v4-rec": dict(calib="/tmp/ocrcalib/lines", eval="/tmp/ocrset", kind="line", limit=40),
    "picodet-layout-cdla": dict(calib="/tmp/layoutcalib", eval="/tmp/layouteval", kind=None, limit=20),
}


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stderr[-3000:]}")
    return r.stdout


def onnx_path(model_id):
    d = HOME / "models" / model_id
    return next(p for p in d.iterdir() if p.suffix == ".onnx")


def manifest(oar, plan):
    return json.loads(run([oar, "inspect", plan, "--json"]))


def plan_input_spec(plan):
    """The [input] table of a plan's oar.toml (the first entry of the plan's tar)."""
    import tarfile
    import tomllib
    with tarfile.open(plan) as t:
        return tomllib.loads(t.extractfile("oar.toml").read().decode())["input"]


def typical_shape(spec):
    """As oar_compiler::typical_input_shape (NCHW)."""
    r = spec["resize"]
    if r["policy"] == "limit-side":
        m = max(1, r["multiple"])
        h = -(-r["limit"] // m) * m
        return [1, 3, h, h * 4 // 3 // m * m]
    if r["policy"] == "fixed-height":
        return [1, 3, r["height"], r["min_width"]]
    if r["policy"] == "stretch":
        return [1, 3, r["height"], r["width"]]
    return [1, 3, r["crop"], r["crop"]]


# --------------------------------------------------------------------------
# pre-processing as the plan's manifest says (for ORT calibration only)

def preprocess(path, spec):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    r = spec["resize"]
    pol = r["policy"]
    if pol == "limit-side":
        lim, m = r["limit"], r["multiple"]
        ratio = lim / min(w, h) if (r["mode"] == "min" and min(w, h) < lim) else (lim / max(w, h) if (r["mode"] == "max" and max(w, h) > lim) else 1.0)
        rw, rh = [max(m, int(round(int(v * ratio) / m) * m)) for v in (w, h)]
        img, pad_w = img.resize((rw, rh), Image.BILINEAR), rw
    elif pol == "fixed-height":
        H = r["height"]
        rw = max(1, min(int(np.ceil(H * w / h)), r.get("max_width") or 10**6))
        pad_w = max(rw, r["min_width"]) if not r.get("max_width") else r["max_width"]
        img = img.resize((rw, H), Image.BILINEAR)
    elif pol == "stretch":
        img, pad_w = img.resize((r["width"], r["height"]), Image.BILINEAR), r["width"]
    else:
        raise SystemExit(f"policy {pol} not handled here")
    x = np.asarray(img, dtype=np.float32)
    if spec["color"] == "BGR":
        x = x[..., ::-1]
    x = (x * spec["scale"] - np.array(spec["mean"], np.float32)) / np.array(spec["std"], np.float32)
    x = x.transpose(2, 0, 1)
    out = np.zeros((3, x.shape[1], pad_w), np.float32)
    out[:, :, : x.shape[2]] = x[:, :, :pad_w]
    return out[None]


def quantize_ort(src, dst, calib_files, spec, method):
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    import onnxruntime as ort

    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    # Entropy calibration needs one shape: inputs are zero-padded (the normalised mean) to the largest.
    xs = [preprocess(p, spec) for p in calib_files]
    H, W = max(x.shape[2] for x in xs), max(x.shape[3] for x in xs)
    xs = [np.pad(x, ((0, 0), (0, 0), (0, H - x.shape[2]), (0, W - x.shape[3]))) for x in xs]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(xs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: x}

    quantize_static(
        str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy}[method],
    )


# --------------------------------------------------------------------------
# ORT accuracy with the reference pipelines

def labels(set_dir, kind, limit):
    ls = [json.loads(l) for l in open(Path(set_dir) / "labels.jsonl", encoding="utf-8") if l.strip()]
    return [l for l in ls if l["kind"] == kind][:limit]


def ort_rec_accuracy(model, set_dir, limit, threads):
    from rapidocr_onnxruntime import RapidOCR
    eng = RapidOCR(rec_model_path=str(model), intra_op_num_threads=threads, inter_op_num_threads=1)
    right = edits = chars = 0
    labs = labels(set_dir, "line", limit)
    for lab in labs:
        res, _ = eng(str(Path(set_dir) / lab["image"]), use_det=False, use_cls=False, use_rec=True)
        text = " ".join(t for t, _ in (res or [])).strip()
        truth = " ".join(l["text"].strip() for l in lab["lines"])
        right += text == truth
        edits += edit_distance(text, truth)
        chars += len(truth)
    return {"rec line accuracy": 100 * right / len(labs), "CER": 100 * edits / max(chars, 1)}


def ort_det_accuracy(model, set_dir, limit, threads):
    import cv2
    from rapidocr_onnxruntime import RapidOCR
    eng = RapidOCR(det_model_path=str(model), intra_op_num_threads=threads, inter_op_num_threads=1)
    matched = n_gt = n_pred = 0
    for lab in labels(set_dir, "scene", limit):
        img = cv2.imread(str(Path(set_dir) / lab["image"]))
        boxes, _ = eng.text_det(img)
        boxes = [] if boxes is None else [b.tolist() for b in boxes]
        gt = [l["box"] for l in lab["lines"]]
        pairs = sorted(((-iou_xyxy(rect(g), rect(p)), i, j) for i, g in enumerate(gt) for j, p in enumerate(boxes)))
        ug, up = set(), set()
        for v, i, j in pairs:
            if -v >= 0.5 and i not in ug and j not in up:
                ug.add(i); up.add(j)
        matched += len(ug); n_gt += len(gt); n_pred += len(boxes)
    p, r = 100 * matched / max(n_pred, 1), 100 * matched / max(n_gt, 1)
    return {"det hmean": 2 * p * r / (p + r) if p + r else 0.0, "precision": p, "recall": r}


def layout_boxes(model, images, threads):
    from rapid_layout import RapidLayout
    eng = RapidLayout(model_dir_or_path=str(model), engine_cfg={"intra_op_num_threads": threads, "inter_op_num_threads": 1})
    out = []
    for p in images:
        r = eng(str(p))
        boxes = [] if r.boxes is None else list(r.boxes)
        out.append([(list(map(float, b)), c, float(s)) for b, c, s in zip(boxes, r.class_names, r.scores)])
    return out


def mean_ap(pred, ref):
    classes = sorted({c for img in ref for _, c, _ in img})
    if not classes:
        return 100.0 if not any(pred) else 0.0
    aps = []
    for c in classes:
        gt = [(i, b) for i, img in enumerate(ref) for b, cc, _ in img if cc == c]
        pr = sorted(((s, i, b) for i, img in enumerate(pred) for b, cc, s in img if cc == c), key=lambda x: -x[0])
        used, tp, curve = set(), 0, []
        for k, (s, i, b) in enumerate(pr, 1):
            cands = [(iou_xyxy(b, g), gi) for gi, (ii, g) in enumerate(gt) if ii == i and gi not in used]
            best = max(cands, default=(0, None))
            if best[0] >= 0.5:
                used.add(best[1]); tp += 1
            curve.append((tp / len(gt), tp / k))
        ap, best_p, next_r = 0.0, 0.0, curve[-1][0] if curve else 0.0
        for r, p in reversed(curve):
            ap += (next_r - r) * best_p
            best_p = max(best_p, p)
            next_r = r
        aps.append(ap + next_r * best_p)
    return 100 * sum(aps) / len(aps)


def ort_accuracy(model_id, cfg, model, float_model, threads):
    if model_id.endswith("-rec"):
        return ort_rec_accuracy(model, cfg["eval"], cfg["limit"], threads)
    if model_id.endswith("-det"):
        return ort_det_accuracy(model, cfg["eval"], cfg["limit"], threads)
    images = sorted(Path(cfg["eval"]).glob("*.png"))[: cfg["limit"]]
    ref = layout_boxes(float_model, images, threads)
    got = layout_boxes(model, images, threads)
    return {"mAP@0.5 vs float": mean_ap(got, ref)}


def ort_latency(model, shape, threads, runs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    feed = {s.get_inputs()[0].name: x}
    for _ in range(3):
        s.run(None, feed)
    t = []
    for _ in range(runs):
        a = time.perf_counter()
        s.run(None, feed)
        t.append((time.perf_counter() - a) * 1e3)
    return float(np.median(t))


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oar", required=True)
    ap.add_argument("--out", type=Path, default=Path("/tmp/int8cmp"))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--methods", default="kl,percentile,minmax,pact")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--compile-args", default="", help="extra `oar compile` flags for every int8 plan, e.g. --float-kxk")
    ap.add_argument("--skip-ort", action="store_true")
    ap.add_argument("--ort-methods", default="minmax,entropy",
                    help="onnxruntime calibrations (entropy needs >24 GB on ppocr-v4-det at 16 scenes: OOM here)")
    ap.add_argument("--skip-oar", action="store_true", help="only the onnxruntime side (needs the float plans in $OAR_HOME/plans)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    threads = [int(t) for t in args.threads.split(",")]
    methods = args.methods.split(",")
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for mid in args.models.split(","):
        cfg = MODELS[mid]
        res = results.setdefault(mid, {"oar": {}, "ort": {}})
        float_plan = HOME / "plans" / f"{mid}.oar"
        spec = plan_input_spec(float_plan)
        shape = res["shape"] = typical_shape(spec)
        for m in ([] if args.skip_oar else methods):
            if m == methods[0]:
                run([args.oar, "fetch", "--compile", mid])
                res["oar"]["float"] = {"bytes": float_plan.stat().st_size}
            plan = args.out / f"{mid}-int8-{m}.oar"
            print(f"[{mid}] oar compile --int8 --method {m}", file=sys.stderr)
            r = subprocess.run([str(c) for c in [args.oar, "compile", mid, "--int8", "--calib", cfg["calib"], "--method", m,
                                "--eval", cfg["eval"], "--eval-limit", cfg["limit"], "-o", plan, *args.compile_args.split()]],
                               capture_output=True, text=True)
            (args.out / f"{mid}-int8-{m}.log").write_text(r.stdout + r.stderr)
            if r.returncode != 0:
                # A method whose plan oar refuses is a result too (the reason is in the log).
                res["oar"][m] = {"error": r.stderr.strip().splitlines()[-1][-300:]}
                continue
            acc = manifest(args.oar, plan)["manifest"]["accuracy"]
            res["oar"][m] = {"bytes": plan.stat().st_size, "float": acc["float"], "int8": acc["int8"], "loss": acc["loss"]}
        for t in ([] if args.skip_oar else threads):
            for name, plan in [("float", float_plan), (methods[0], args.out / f"{mid}-int8-{methods[0]}.oar")]:
                b = json.loads(run([args.oar, "bench", plan, "--threads", t, "--runs", args.runs, "--json"]))
                res["oar"][name][f"ms_{t}t"] = b["median_ms"]
        if args.skip_ort:
            continue
        src = onnx_path(mid)
        calib = sorted(p for p in Path(cfg["calib"]).iterdir() if p.suffix in (".png", ".jpg", ".bmp"))[:32]
        res["ort"]["float"] = {"bytes": src.stat().st_size, "acc": ort_accuracy(mid, cfg, src, src, 1)}
        for m in args.ort_methods.split(","):
            dst = args.out / f"{mid}-ort-qdq-{m}.onnx"
            print(f"[{mid}] onnxruntime quantize_static QDQ {m}", file=sys.stderr)
            if not dst.exists():
                quantize_ort(src, dst, calib, spec, m)
            res["ort"][m] = {"bytes": dst.stat().st_size, "acc": ort_accuracy(mid, cfg, dst, src, 1)}
        for t in threads:
            res["ort"]["float"][f"ms_{t}t"] = ort_latency(src, shape, t, args.runs)
            res["ort"]["minmax"][f"ms_{t}t"] = ort_latency(args.out / f"{mid}-ort-qdq-minmax.onnx", shape, t, args.runs)
        results_path.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    results_path.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
