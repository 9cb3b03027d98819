#!/usr/bin/env python3
"""Run RapidOCR (rapidocr_onnxruntime 1.4.4, default config) on an OCR set.

    python tools/rapidocr_ref.py SET_DIR --out ref.jsonl [--no-det] [--threads 1]

Images are listed by SET_DIR/labels.jsonl. Writes one JSON object per image,
in the same schema as `oar ocr --json`:
  {"path": "lines/000001.png", "lines": [{"box": [[x,y],[x,y],[x,y],[x,y]], "text": "...", "score": 0.97}]}
`path` is the label's `image` field (relative to SET_DIR).

--no-det: RapidOCR()(img, use_det=False, use_cls=True, use_rec=True), i.e. the
whole image is one text line; box = the full image rectangle. Only images of
kind "line" are processed in this mode (scenes are skipped).
--kind line|scene: only images of that kind (e.g. det on scenes only: the det
pass on line crops is slow, RapidOCR upscales their short side to 736 px).

--threads N sets intra_op_num_threads (and inter_op 1) for det/cls/rec;
the default 1 keeps the output reproducible; 0 = onnxruntime's default.
Everything else is RapidOCR's default config (models, thresholds).
"""
import argparse
import json
import sys
from pathlib import Path

from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set_dir", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--no-det", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kind", choices=["line", "scene"], help="only images of this kind")
    args = ap.parse_args()

    from rapidocr_onnxruntime import RapidOCR

    kw = {}
    if args.threads > 0:
        kw = {"intra_op_num_threads": args.threads, "inter_op_num_threads": 1}
    engine = RapidOCR(**kw)

    labels = [json.loads(l) for l in open(args.set_dir / "labels.jsonl", encoding="utf-8") if l.strip()]
    n = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for lab in labels:
            rel = lab["image"]
            if args.no_det and lab.get("kind") != "line":
                continue
            if args.kind and lab.get("kind") != args.kind:
                continue
            img_path = str(args.set_dir / rel)
            lines = []
            if args.no_det:
                res, _ = engine(img_path, use_det=False, use_cls=True, use_rec=True)
                w, h = Image.open(img_path).size
                for text, score in res or []:
                    lines.append({"box": [[0, 0], [w, 0], [w, h], [0, h]], "text": text, "score": round(float(score), 5)})
            else:
                res, _ = engine(img_path)
                for box, text, score in res or []:
                    lines.append({
                        "box": [[round(float(x), 2), round(float(y), 2)] for x, y in box],
                        "text": text,
                        "score": round(float(score), 5),
                    })
            f.write(json.dumps({"path": rel, "lines": lines}, ensure_ascii=False) + "\n")
            f.flush()
            n += 1
    print(f"wrote {n} results to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
