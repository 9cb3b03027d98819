#!/usr/bin/env python3
"""Reference detections for `oar detect --model ssd-mobilenet-v2-coco`: onnxruntime on the converted
ONNX core of ssd_mobilenet_v2_coco (NCHW, ../shared/models/) + this file's own numpy decoding with
TF's anchors (the .npy beside the model), independent of oar's code.

  python tools/ssd_ref.py gen --out DIR [--frame 100] [--crop X,Y] [--size 300]
      one frame of Debian opencv-doc's vtest.avi (decoded with ffmpeg), cropped to SIZExSIZE at
      X,Y and written as a 4:4:4 JPEG (no chroma subsampling: decoders then agree to a level or two)
  python tools/ssd_ref.py ref IMAGE... --out ref.jsonl [--onnx M] [--anchors A] [--score 0.5]
                                       [--iou 0.6] [--plan P.oar] [--threads 1]
      runs the model and writes one JSON line per image in the `oar detect --json` schema:
      {"path", "detections": [{"bbox": [x1,y1,x2,y2], "class", "label", "score"}]}. Warns about
      candidates within 0.05 of the score threshold (they could flip between engines).
      --plan P.oar also runs the plan's NNEF (tract's Python bindings, `pip install tract`) on
      the same input tensor (NHWC) and prints the max abs difference of the raw outputs.
  python tools/ssd_ref.py compare --ref ref.jsonl --pred oar.jsonl [--iou 0.9] [-v]
      as tools/detect_ref.py compare

Pre-processing as the TF graph's Preprocessor: RGB, stretched to 300x300 (cv2 INTER_LINEAR), x * 2/255 - 1.
Decoding as its Postprocessor (pipeline.config): faster_rcnn box coder with scales 10/10/5/5 on
anchors (ymin, xmin, ymax, xmax), clipped to the image, sigmoid scores, class 0 = background,
per-class greedy NMS at IoU 0.6, 100 per class, best 100 in total.
"""
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from detect_ref import cmd_compare
from refkit import run

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "models"
ONNX = SHARED / "ssd_mobilenet_v2_coco_core_nchw.onnx"
ANCHORS = SHARED / "ssd_mobilenet_v2_coco_anchors_yxyx.npy"
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
REGISTRY = Path(__file__).resolve().parent.parent / "models" / "ssd-mobilenet-v2-coco.toml"
SCALES = (10.0, 10.0, 5.0, 5.0)


def labels():
    import tomllib
    return tomllib.loads(REGISTRY.read_text())["labels"]["list"]


def cmd_gen(args):
    import cv2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x, y = (int(v) for v in args.crop.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "frame.png"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(VTEST), "-vf", f"select=eq(n\\,{args.frame})",
                        "-frames:v", "1", str(png)], check=True)
        img = cv2.imread(str(png))
    crop = img[y:y + args.size, x:x + args.size]
    path = out / f"vtest_{args.frame:03d}_{x}_{y}.jpg"
    cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, 90,
                                  cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    print(path)


def preprocess(path):
    """The NHWC [1,300,300,3] input the TF graph's Preprocessor/sub computes, and the image size."""
    import cv2
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise SystemExit(f"{path}: cannot read the image")
    h, w = bgr.shape[:2]
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if (w, h) != (300, 300):
        rgb = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR)
    x = rgb.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return x[None], (w, h)


def iou(a, b):
    """IoU of box a against boxes b (x1, y1, x2, y2)."""
    iw = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda r: np.clip(r[..., 2] - r[..., 0], 0, None) * np.clip(r[..., 3] - r[..., 1], 0, None)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def nms(boxes, scores, thr, keep_max):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size and len(keep) < keep_max:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou(boxes[i], boxes[rest]) <= thr]
    return keep


def decode(enc, logits, anchors, size, score, iou_thr, per_class=100, total=100):
    """Detections (x1, y1, x2, y2 in pixels of a size = (w, h) image), and the candidate scores
    nearest to the threshold on either side."""
    enc = enc.reshape(-1, 4).astype(np.float64)
    ha, wa = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    yca, xca = anchors[:, 0] + ha / 2, anchors[:, 1] + wa / 2
    ty, tx, th, tw = (enc[:, k] / SCALES[k] for k in range(4))
    yc, xc = ty * ha + yca, tx * wa + xca
    h, w = np.exp(th) * ha, np.exp(tw) * wa
    W, H = size
    boxes = np.stack([np.clip(xc - w / 2, 0, 1) * W, np.clip(yc - h / 2, 0, 1) * H,
                      np.clip(xc + w / 2, 0, 1) * W, np.clip(yc + h / 2, 0, 1) * H], axis=1)
    probs = 1 / (1 + np.exp(-logits.reshape(enc.shape[0], -1).astype(np.float64)))
    dets = []
    for c in range(1, probs.shape[1]):
        idx = np.nonzero(probs[:, c] > score)[0]
        for i in nms(boxes[idx], probs[idx, c], iou_thr, per_class):
            dets.append((float(probs[idx[i], c]), c, boxes[idx[i]]))
    dets.sort(key=lambda d: -d[0])
    margin = np.abs(probs[:, 1:] - score).min()
    return dets[:total], float(margin)


def run_plan(plan, x):
    """Raw outputs of a plan's NNEF graph on x, with tract's Python bindings."""
    import tract
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(plan) as t:
            t.extract("model.nnef.tar", tmp, filter="data")
        runnable = tract.nnef().load(Path(tmp) / "model.nnef.tar").into_runnable()
        return [o.to_numpy() for o in runnable.run([x])]


def cmd_ref(args):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(args.onnx), opts, providers=["CPUExecutionProvider"])
    anchors = np.load(args.anchors).astype(np.float64)
    names = labels()
    with open(args.out, "w") as f:
        for p in args.images:
            x, size = preprocess(p)
            enc, logits = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
            dets, margin = decode(enc, logits, anchors, size, args.score, args.iou)
            out = [{"bbox": [round(float(v), 3) for v in b], "class": c, "label": names[c], "score": round(s, 5)}
                   for s, c, b in dets]
            f.write(json.dumps({"path": p, "detections": out}) + "\n")
            print(f"{p}: {len(out)} boxes ({', '.join(d['label'] for d in out)}); nearest score to the "
                  f"threshold {args.score} is {margin:.3f} away", file=sys.stderr)
            if margin < 0.05:
                print(f"{p}: WARNING: a candidate scores within 0.05 of the threshold", file=sys.stderr)
            if args.plan:
                got = run_plan(args.plan, x)
                for name, a, b in zip(("box encodings", "class logits"), (enc, logits), got):
                    d = np.abs(a.reshape(b.shape) - b).max()
                    print(f"{p}: plan vs onnxruntime, {name} {list(b.shape)}: max abs diff {d:.3g} "
                          f"(values up to {np.abs(a).max():.3g})", file=sys.stderr)


def main():
    def extra(p):
        p["gen"].add_argument("--frame", type=int, default=100)
        p["gen"].add_argument("--crop", default="340,60")
        p["gen"].add_argument("--size", type=int, default=300)
        p["ref"].add_argument("--onnx", type=Path, default=ONNX)
        p["ref"].add_argument("--anchors", type=Path, default=ANCHORS)
        p["ref"].add_argument("--score", type=float, default=0.5)
        p["ref"].add_argument("--iou", type=float, default=0.6)
        p["ref"].add_argument("--plan", type=Path)
        p["compare"].add_argument("--iou", type=float, default=0.9)

    run(__doc__, {"gen": cmd_gen, "ref": cmd_ref, "compare": cmd_compare}, extra)


if __name__ == "__main__":
    main()
