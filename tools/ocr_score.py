#!/usr/bin/env python3
"""Score OCR predictions against an OCR set's ground truth.

    python tools/ocr_score.py SET_DIR --pred PRED.jsonl [--ref REF.jsonl] [--json] [-v]

PRED/REF: one JSON object per image, as written by `oar ocr --json` and
tools/rapidocr_ref.py: {"path": ..., "lines": [{"box": [[x,y]x4], "text": ..., "score": ...}]}.
`path` is matched to the label's `image` (relative to SET_DIR; absolute paths or
paths prefixed by SET_DIR are accepted too). Only images present in PRED are
scored; labels missing from PRED are counted as `missing`.

Line images (kind "line"): the predicted lines are sorted left to right and
joined (with a space when the horizontal gap exceeds 0.25 x line height) into
one text. Reports line accuracy (exact match after stripping surrounding
spaces), accuracy ignoring all spaces, and CER = sum(edit distance) / sum(gt length).

Scenes (kind "scene"): predicted and gt lines are matched one-to-one, greedily
by IoU of the axis-aligned rectangles of their 4 points, IoU >= 0.5. Reports
det precision/recall/hmean, end-to-end accuracy on matched lines and over all
gt lines (unmatched = wrong), and CER on matched lines.

--ref: agreement = fraction of gt lines whose pred text == ref text (by image
for line images; for scenes pred and ref lines are each matched to the gt line
by IoU, a line missing on both sides counts as agreeing). Also ref_line_agree:
fraction of REF lines for which PRED has a line with the same text and
IoU >= 0.5 (same image for line images) - a GT-free parity figure.
"""
import argparse
import json
import os
import sys
from pathlib import Path

IOU_THRESH = 0.5


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def norm_path(p, set_dir):
    p = str(p).replace("\\", "/")
    sd = str(set_dir).replace("\\", "/").rstrip("/")
    for prefix in (os.path.abspath(sd), sd):
        prefix = prefix.replace("\\", "/").rstrip("/") + "/"
        if p.startswith(prefix):
            p = p[len(prefix):]
    while p.startswith("./"):
        p = p[2:]
    return p


def load_preds(path, set_dir):
    out = {}
    for o in load_jsonl(path):
        out[norm_path(o["path"], set_dir)] = o.get("lines") or []
    return out


def rect(box):
    xs = [p[0] for p in box]
    ys = [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)


def iou(a, b):
    """IoU of the bounding rectangles of two quads."""
    return iou_xyxy(rect(a), rect(b))


def iou_xyxy(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(gt_lines, pred_lines):
    """Greedy one-to-one matching by IoU >= 0.5; returns {gt_index: pred_index}."""
    pairs = []
    for i, g in enumerate(gt_lines):
        for j, p in enumerate(pred_lines):
            v = iou(g["box"], p["box"])
            if v >= IOU_THRESH:
                pairs.append((-v, i, j))
    pairs.sort()
    used_g, used_p, m = set(), set(), {}
    for _, i, j in pairs:
        if i not in used_g and j not in used_p:
            m[i] = j
            used_g.add(i)
            used_p.add(j)
    return m


def edit_distance(a, b):
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def join_line(lines):
    """Joins the predicted lines of a line image into one text (left to right)."""
    if not lines:
        return ""
    ls = sorted(lines, key=lambda l: rect(l["box"])[0])
    out = ls[0]["text"].strip()
    prev = rect(ls[0]["box"])
    for l in ls[1:]:
        r = rect(l["box"])
        h = max(1.0, ((prev[3] - prev[1]) + (r[3] - r[1])) / 2)
        out += (" " if r[0] - prev[2] > 0.25 * h else "") + l["text"].strip()
        prev = r
    return out


def nospace(s):
    return "".join(s.split())


def ratio(a, b):
    return a / b if b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set_dir", type=Path)
    ap.add_argument("--pred", required=True, type=Path)
    ap.add_argument("--ref", type=Path)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="list disagreements (gt | pred | ref)")
    args = ap.parse_args()

    labels = load_jsonl(args.set_dir / "labels.jsonl")
    preds = load_preds(args.pred, args.set_dir)
    refs = load_preds(args.ref, args.set_dir) if args.ref else None
    known = {l["image"] for l in labels}
    unknown = sorted(set(preds) - known)

    L = dict(n=0, correct=0, correct_nospace=0, edits=0, chars=0)
    S = dict(images=0, gt=0, pred=0, matched=0, correct=0, correct_nospace=0, edits=0, chars=0)
    A = dict(gt=0, agree=0, ref_lines=0, ref_agree=0)
    missing = 0
    diffs = []

    for lab in labels:
        img = lab["image"]
        if img not in preds:
            missing += 1
            continue
        pl = preds[img]
        rl = refs.get(img, []) if refs is not None else None
        gl = lab["lines"]
        if lab["kind"] == "line":
            gt = " ".join(" ".join(g["text"] for g in gl).split())
            pt = join_line(pl).strip()
            L["n"] += 1
            L["correct"] += pt == gt
            L["correct_nospace"] += nospace(pt) == nospace(gt)
            L["edits"] += edit_distance(gt, pt)
            L["chars"] += len(gt)
            rt = None
            if rl is not None:
                rt = join_line(rl).strip()
                A["gt"] += 1
                A["agree"] += pt == rt
                A["ref_lines"] += len(rl)
                A["ref_agree"] += sum(any(p["text"] == r["text"] for p in pl) for r in rl)
            if pt != gt or (rt is not None and pt != rt):
                diffs.append((img, gt, pt, rt))
        else:
            S["images"] += 1
            S["gt"] += len(gl)
            S["pred"] += len(pl)
            m = match(gl, pl)
            mr = match(gl, rl) if rl is not None else {}
            for i, g in enumerate(gl):
                pt = pl[m[i]]["text"].strip() if i in m else None
                if pt is not None:
                    S["matched"] += 1
                    S["correct"] += pt == g["text"]
                    S["correct_nospace"] += nospace(pt) == nospace(g["text"])
                    S["edits"] += edit_distance(g["text"], pt)
                    S["chars"] += len(g["text"])
                rt = None
                if rl is not None:
                    rt = rl[mr[i]]["text"].strip() if i in mr else None
                    A["gt"] += 1
                    A["agree"] += pt == rt
                if pt != g["text"] or (rl is not None and pt != rt):
                    diffs.append((img, g["text"], pt, rt))
            for j in sorted(set(range(len(pl))) - set(m.values())):
                diffs.append((img, None, pl[j]["text"], None))
            if rl is not None:
                A["ref_lines"] += len(rl)
                for r in rl:
                    A["ref_agree"] += any(p["text"] == r["text"] and iou(p["box"], r["box"]) >= IOU_THRESH for p in pl)

    p, r = ratio(S["matched"], S["pred"]), ratio(S["matched"], S["gt"])
    res = {
        "pred": str(args.pred),
        "missing": missing,
        "unknown": len(unknown),
        "line": {
            "images": L["n"],
            "acc": ratio(L["correct"], L["n"]),
            "acc_nospace": ratio(L["correct_nospace"], L["n"]),
            "cer": ratio(L["edits"], L["chars"]),
        },
        "scene": {
            "images": S["images"],
            "gt_lines": S["gt"],
            "pred_lines": S["pred"],
            "matched": S["matched"],
            "det_precision": p,
            "det_recall": r,
            "det_hmean": (2 * p * r / (p + r)) if p is not None and r is not None and p + r > 0 else (0.0 if p is not None and r is not None else None),
            "e2e_acc_matched": ratio(S["correct"], S["matched"]),
            "e2e_acc_matched_nospace": ratio(S["correct_nospace"], S["matched"]),
            "e2e_acc_all": ratio(S["correct"], S["gt"]),
            "cer_matched": ratio(S["edits"], S["chars"]),
        },
    }
    if refs is not None:
        res["ref"] = str(args.ref)
        res["agreement"] = ratio(A["agree"], A["gt"])
        res["ref_line_agree"] = ratio(A["ref_agree"], A["ref_lines"])

    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=1))
    else:
        f = lambda v: "-" if v is None else (f"{100 * v:.1f}%" if isinstance(v, float) else str(v))
        print(f"pred: {args.pred}   (missing: {missing}, not in labels: {len(unknown)})")
        rows = []
        if L["n"]:
            rows += [("line images", L["n"]), ("  line acc", res["line"]["acc"]),
                     ("  line acc (ignoring spaces)", res["line"]["acc_nospace"]), ("  CER", res["line"]["cer"])]
        if S["images"]:
            s = res["scene"]
            rows += [("scenes", f"{S['images']} ({S['gt']} gt lines, {S['pred']} pred, {S['matched']} matched)"),
                     ("  det precision", s["det_precision"]), ("  det recall", s["det_recall"]),
                     ("  det hmean", s["det_hmean"]), ("  e2e acc (matched)", s["e2e_acc_matched"]),
                     ("  e2e acc (matched, ignoring spaces)", s["e2e_acc_matched_nospace"]),
                     ("  e2e acc (all gt lines)", s["e2e_acc_all"]), ("  CER (matched)", s["cer_matched"])]
        if refs is not None:
            rows += [("agreement with ref (gt lines)", res["agreement"]),
                     ("ref lines reproduced by pred", res["ref_line_agree"])]
        w = max(len(k) for k, _ in rows) if rows else 0
        for k, v in rows:
            print(f"{k.ljust(w)}  {f(v)}")
        if args.verbose and diffs:
            print("\ndisagreements (image: gt | pred | ref):")
            for img, gt, pt, rt in diffs:
                print(f"{img}: {gt!r} | {pt!r}" + (f" | {rt!r}" if refs is not None else ""))


if __name__ == "__main__":
    main()
