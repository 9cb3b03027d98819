#!/usr/bin/env python3
"""Per-track text accuracy of OCR on every frame, against a synthetic scene's ground truth.

    python tools/stream_text_accuracy.py GT_DIR FRAMES_DIR --oar oar-ocr.jsonl
    python tools/stream_text_accuracy.py GT_DIR FRAMES_DIR --rapidocr [--threads 2]
    python tools/stream_text_accuracy.py GT_DIR - --pipeline tracks.jsonl

GT_DIR holds `gt.txt` (MOTChallenge, frame k+1 is `frame-{k:06}.png`) and `texts.txt` (`id,text`)
as the synthetic source writes them (`ground_truth = "DIR"`); FRAMES_DIR the frames as the
`frames` sink writes them. `--oar` reads `oar ocr --json` output for those frames; `--rapidocr`
runs RapidOCR (rapidocr_onnxruntime, default config, `--threads` intra-op threads) on every
frame and reports its frames per second. `--pipeline` reads the finished tracks that `oar run
--json` prints (or a jsonl sink's track lines) (one fused text per track) and needs no frames.

A ground-truth track is read correctly when, over the frames where it is at least half visible,
the text read most often inside its box (line centre inside it) is its text: the per-frame
counterpart of the pipeline's one fused text per track. Prints one JSON object.
"""
import argparse
import collections
import json
import sys
import time
import os
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ocr_score import iou_xyxy  # noqa: E402  (the repo's one IoU of axis-aligned boxes)


def load_gt(gt_dir, min_visibility=0.5):
    """(texts by id, {frame: [(id, box)]} of the objects at least `min_visibility` visible)."""
    texts = dict(l.strip().split(",", 1) for l in open(gt_dir / "texts.txt", encoding="utf-8") if l.strip())
    rows = collections.defaultdict(list)  # frame -> [(id, box)]
    for l in open(gt_dir / "gt.txt", encoding="utf-8"):
        f, i, x, y, w, h, _, _, vis = l.strip().split(",")
        if float(vis) >= min_visibility:
            rows[int(f)].append((i, (float(x), float(y), float(x) + float(w), float(y) + float(h))))
    return texts, rows


def score(texts, rows, results):
    """results: {frame_number: [(box4, text)]} -> per-track majority text and accuracy."""
    votes = collections.defaultdict(collections.Counter)
    for f, tracks in rows.items():
        for line_box, text in results.get(f, []):
            cx = sum(p[0] for p in line_box) / 4
            cy = sum(p[1] for p in line_box) / 4
            for i, (x1, y1, x2, y2) in tracks:
                if x1 <= cx <= x2 and y1 <= cy <= y2 and text.strip():
                    votes[i][text.strip()] += 1
    read = {i: (votes[i].most_common(1)[0][0] if votes[i] else "") for i in texts}
    correct = sum(read[i] == t for i, t in texts.items())
    return read, correct


def score_pipeline(texts, gt_dir, path):
    """Each finished track goes to the ground-truth object its last box overlaps most in its last
    frame; an object is read right when one of its tracks carries its text."""
    _, boxes = load_gt(gt_dir, min_visibility=0.0)  # every visibility
    per_object = collections.defaultdict(list)
    lines = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    # Either the per-track lines of a jsonl sink or the summary `oar run --json` prints.
    tracks = [t for l in lines for t in ([l] if l.get("type") == "track" else l.get("tracks", []))]
    for t in tracks:
        cands = [(iou_xyxy(t["bbox"], b), i) for i, b in boxes.get(t["last_seq"] + 1, [])]
        best = max(cands, default=(0.0, None))
        if best[0] > 0.3:
            per_object[best[1]].append(t["text"])
    read = {i: per_object.get(i, []) for i in texts}
    correct = sum(t in read[i] for i, t in texts.items())
    return read, correct, len(tracks)


def frame_number(path):
    return int(Path(path).stem.split("-")[1]) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gt_dir", type=Path)
    ap.add_argument("frames_dir", type=Path)
    ap.add_argument("--oar", type=Path, help="`oar ocr --json` output on the frames")
    ap.add_argument("--rapidocr", action="store_true", help="run RapidOCR on every frame")
    ap.add_argument("--pipeline", type=Path, help="`oar run --json` output (finished tracks)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    texts, rows = load_gt(args.gt_dir)
    results, out = {}, {}
    if args.pipeline:
        read, correct, n = score_pipeline(texts, args.gt_dir, args.pipeline)
        out.update(engine="oar run (pipeline)", tracks=len(texts), finished_tracks=n, correct=correct,
                   accuracy=round(correct / len(texts), 3), read=read, truth=texts)
        print(json.dumps(out, ensure_ascii=False))
        return
    if args.oar:
        for l in open(args.oar, encoding="utf-8"):
            if l.strip():
                r = json.loads(l)
                results[frame_number(r["path"])] = [(ln["box"], ln["text"]) for ln in r["lines"]]
        out["engine"] = "oar ocr"
    elif args.rapidocr:
        from rapidocr_onnxruntime import RapidOCR

        engine = RapidOCR(intra_op_num_threads=args.threads, inter_op_num_threads=1)
        frames = sorted(args.frames_dir.glob("frame-*.png"))
        engine(str(frames[0]))  # warm-up, not timed
        t0 = time.perf_counter()
        for p in frames:
            res, _ = engine(str(p))
            results[frame_number(p)] = [(box, text) for box, text, _ in res or []]
        secs = time.perf_counter() - t0
        out.update(engine="rapidocr_onnxruntime", threads=args.threads, frames=len(frames), seconds=round(secs, 2), fps=round(len(frames) / secs, 2))
    else:
        sys.exit("give --oar FILE, --rapidocr or --pipeline FILE")
    read, correct = score(texts, rows, results)
    out.update(tracks=len(texts), correct=correct, accuracy=round(correct / len(texts), 3), read=read, truth=texts)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
