#!/usr/bin/env python3
"""Reference outputs for `oar detect` from rapid-layout 1.2.1 (onnxruntime), and agreement scores.

  python tools/detect_ref.py gen --out DIR [--n 12] [--seed 1] [--small]
      synthetic document pages (titles, paragraphs, tables, figures with captions, headers,
      footers) as PNG; --small makes small pages with few grey levels (for golden files)
  python tools/detect_ref.py ref IMAGE... --out ref.jsonl [--threads 1]
      runs rapid_layout.RapidLayout (pp_layout_cdla, its own pre/post-processing, conf 0.5,
      iou 0.5) and writes one JSON line per image in the `oar detect --json` schema:
      {"path", "detections": [{"bbox": [x1,y1,x2,y2], "class", "label", "score"}]}
  python tools/detect_ref.py compare --ref ref.jsonl --pred oar.jsonl [--iou 0.9] [-v]
      fraction of reference boxes matched one-to-one by a prediction of the same class at
      IoU >= --iou (and the reverse), plus max score difference of matched boxes
"""
import json
import random
import sys
from pathlib import Path

from refkit import load_by_name, run

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
WORDS = ("the of and model layout detection page table figure result method data image text "
         "network training value section shows each model input output block region scale "
         "paper system accuracy layer feature test sample these which from with").split()


# --fonts heldout: the same page layouts in fonts no tuning set used (Debian fonts-liberation).
HELDOUT_FONTS = {
    "DejaVuSerif.ttf": "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "DejaVuSans.ttf": "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "DejaVuSans-Bold.ttf": "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
}
FONT_SET = {"name": "default"}


def _font(name, size):
    from PIL import ImageFont
    if FONT_SET["name"] == "heldout":
        return ImageFont.truetype(HELDOUT_FONTS[name], size)
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_page(rng, w, h, small):
    """A page with header, title, paragraphs, a table and a figure with captions."""
    from PIL import Image, ImageDraw
    img = Image.new("L" if small else "RGB", (w, h), 255 if small else (255, 255, 255))
    d = ImageDraw.Draw(img)
    ink = 0 if small else (20, 20, 20)
    s = w / 800.0
    margin = int(60 * s)
    body = _font("DejaVuSerif.ttf", max(9, int(15 * s)))
    small_f = _font("DejaVuSans.ttf", max(8, int(12 * s)))
    y = int(30 * s)
    d.text((margin, y), _sentence(rng, 5).upper(), font=small_f, fill=ink)  # header
    y += int(50 * s)
    title = _font("DejaVuSans-Bold.ttf", max(14, int(30 * s)))
    d.text((margin, y), _sentence(rng, rng.randint(3, 5)).title(), font=title, fill=ink)
    y += int(70 * s)
    line_h = int(22 * s)
    chars = int((w - 2 * margin) / (8.2 * s))
    blocks = ["para", "table", "para", "figure", "para"]
    rng.shuffle(blocks)
    for kind in blocks:
        if y > h - int(120 * s):
            break
        if kind == "para":
            for _ in range(rng.randint(3, 7)):
                text = _sentence(rng, 40)[: chars - rng.randint(0, 10)]
                d.text((margin, y), text, font=body, fill=ink)
                y += line_h
            y += int(20 * s)
        elif kind == "table":
            d.text((margin, y), "Table %d: %s" % (rng.randint(1, 9), _sentence(rng, 6)), font=small_f, fill=ink)
            y += int(24 * s)
            rows, cols = rng.randint(3, 6), rng.randint(3, 5)
            cw, rh = (w - 2 * margin) // cols, int(24 * s)
            for r in range(rows + 1):
                d.line([(margin, y + r * rh), (margin + cols * cw, y + r * rh)], fill=ink, width=1)
            for c in range(cols + 1):
                d.line([(margin + c * cw, y), (margin + c * cw, y + rows * rh)], fill=ink, width=1)
            for r in range(rows):
                for c in range(cols):
                    v = rng.choice(WORDS) if r == 0 or c == 0 else "%.2f" % rng.uniform(0, 100)
                    d.text((margin + c * cw + 5, y + r * rh + 4), v, font=small_f, fill=ink)
            y += rows * rh + int(30 * s)
        else:
            fw, fh = int((w - 2 * margin) * rng.uniform(0.5, 0.8)), int(rng.uniform(120, 200) * s)
            x0 = (w - fw) // 2
            grey = 128 if small else (90, 120, 200)
            d.rectangle([x0, y, x0 + fw, y + fh], outline=ink, width=2)
            pts = [(x0 + 10 + i * (fw - 20) // 9, y + fh - 10 - rng.randint(0, fh - 20)) for i in range(10)]
            d.line(pts, fill=grey, width=3)
            for p in pts:
                d.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=grey)
            y += fh + int(8 * s)
            d.text((x0, y), "Figure %d: %s" % (rng.randint(1, 9), _sentence(rng, 7)), font=small_f, fill=ink)
            y += int(40 * s)
    d.text((w // 2 - int(10 * s), h - int(40 * s)), str(rng.randint(1, 300)), font=small_f, fill=ink)  # footer
    return img


def cmd_gen(args):
    FONT_SET["name"] = args.fonts
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(args.n):
        rng = random.Random(f"{args.seed}/page/{i}")
        if args.small:
            w = 400
            h = 560
        else:
            w = rng.choice([800, 1000, 1240])
            h = int(w * rng.uniform(1.25, 1.45))
        img = make_page(rng, w, h, args.small)
        path = out / f"page{i:03d}.png"
        img.save(path, optimize=True)
        print(path)


def cmd_ref(args):
    import onnxruntime as ort
    from rapid_layout import RapidLayout
    from rapid_layout.utils.typings import ModelType
    engine_cfg = {"intra_op_num_threads": args.threads, "inter_op_num_threads": 1}
    layout = RapidLayout(model_type=ModelType.PP_LAYOUT_CDLA, conf_thresh=0.5, iou_thresh=0.5, engine_cfg=engine_cfg)
    labels = list(layout.model_handler.model_processors.pp_postprocess.labels)
    with open(args.out, "w") as f:
        for p in args.images:
            r = layout(p)
            dets = [
                {"bbox": [round(float(v), 3) for v in b], "class": labels.index(n), "label": n, "score": round(float(s), 5)}
                for b, n, s in zip(r.boxes or [], r.class_names or [], r.scores or [])
            ]
            f.write(json.dumps({"path": p, "detections": dets}) + "\n")
            print(f"{p}: {len(dets)} boxes", file=sys.stderr)


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])
    return inter / (area(a) + area(b) - inter + 1e-9)


def match(ref, pred, thr):
    """Greedy one-to-one matching by IoU (same class). Returns matched pairs."""
    pairs = []
    for i, r in enumerate(ref):
        for j, p in enumerate(pred):
            if r["class"] == p["class"]:
                v = iou(r["bbox"], p["bbox"])
                if v >= thr:
                    pairs.append((v, i, j))
    pairs.sort(reverse=True)
    used_r, used_p, out = set(), set(), []
    for v, i, j in pairs:
        if i not in used_r and j not in used_p:
            used_r.add(i)
            used_p.add(j)
            out.append((i, j, v))
    return out


def cmd_compare(args):
    ref, pred = load_by_name(args.ref), load_by_name(args.pred)
    n_ref = n_pred = n_match = 0
    max_dscore = 0.0
    for name, r in ref.items():
        p = pred.get(name, {"detections": []})
        rd, pd = r.get("detections", []), p.get("detections", [])
        m = match(rd, pd, args.iou)
        n_ref += len(rd)
        n_pred += len(pd)
        n_match += len(m)
        for i, j, _ in m:
            max_dscore = max(max_dscore, abs(rd[i]["score"] - pd[j]["score"]))
        if args.verbose and (len(m) != len(rd) or len(m) != len(pd)):
            print(f"{name}: ref {len(rd)} pred {len(pd)} matched {len(m)}")
    res = {
        "images": len(ref), "ref_boxes": n_ref, "pred_boxes": n_pred, "matched": n_match,
        "recall": n_match / max(n_ref, 1), "precision": n_match / max(n_pred, 1),
        "max_score_diff": max_dscore, "iou": args.iou,
    }
    print(json.dumps(res))


def main():
    def extra(p):
        p["gen"].add_argument("--n", type=int, default=12)
        p["gen"].add_argument("--fonts", choices=["default", "heldout"], default="default")
        p["compare"].add_argument("--iou", type=float, default=0.9)

    run(__doc__, {"gen": cmd_gen, "ref": cmd_ref, "compare": cmd_compare}, extra)


if __name__ == "__main__":
    main()
