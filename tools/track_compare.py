#!/usr/bin/env python3
"""Compare oar's trackers with the Python reference implementations on a synthetic MOT sequence.

1. Makes a seeded synthetic sequence: objects moving at constant velocity (+ jitter), pairs set
   on crossing courses, occlusions (no detection; low scores on the frames around them), box
   noise, missed detections and false positives. Writes gt.txt and det.txt (MOTChallenge).
2. Runs the reference trackers on det.txt: ByteTrack (`bytetracker` 0.3.2 on PyPI, a packaging of
   ifzhang/ByteTrack's yolox/tracker) and OC-SORT (`ocsort` 0.0.2 on PyPI, a packaging of
   noahcao/OC_SORT's ocsort_tracker), both with the papers' default parameters.
3. Runs oar on the same det.txt, once per tracker: `--oar` is the command, e.g.
   `--oar "target/release/oar track"` or `--oar target/release/examples/mot`
   (`cargo build --release -p oar-track --example mot`); it is called as
   `CMD --dets det.txt --tracker NAME -o out.txt [--param NAME=VALUE ...]`.
4. Scores everything with motmetrics (IoU >= 0.5) and prints one table.

Python requirements (a venv is best):
    pip install motmetrics "numpy<2" "pandas<2.3" scipy lap filterpy
The two reference packages do not install with current setuptools (their setup.py imports
pkg_resources), so this script fetches their sdists with `pip download` into --ref-dir and imports
them from there. The packages carry bugs that the original repositories do not have; they are worked around when
loaded, so that they behave as the originals:
  * bytetracker: the low-score detections are zipped with the high-score ones' classes (which
    drops low detections when there are more of them): fixed in the source as it is loaded;
    its x1y1x2y2 -> "tlwh" conversion really yields centre/size: boxes are handed to it shifted
    by half their size so that it gets the true top-left/size, and its output is shifted back.
  * ocsort: `associate` reads the detection score from the last column, where the package put
    the class: it is handed the original 5 columns (x1, y1, x2, y2, score).
No torch is needed: a stub stands in.

Example:
    python tools/track_compare.py --oar target/release/examples/mot --out /tmp/track_cmp

Parameters other than the defaults go to both sides by the reference names, e.g.
    --bytetrack-param track_thresh=0.4 --bytetrack-param track_buffer=15
    --ocsort-param det_thresh=0.45 --ocsort-param use_byte=true
"""

import argparse
import os
import shlex
import subprocess
import sys
import tarfile
import time
import types
from pathlib import Path

import numpy as np

REF_PACKAGES = {"bytetracker": "0.3.2", "ocsort": "0.0.2"}


# --------------------------------------------------------------------------- synthetic sequence


def make_sequence(seed, n_objects, n_frames, width=1920, height=1080):
    """Returns (gt_rows, det_rows): lists of (frame, id, x, y, w, h, conf)."""
    rng = np.random.default_rng(seed)
    objs = []
    for k in range(n_objects):
        w = rng.uniform(30, 90)
        h = w * rng.uniform(2.0, 2.8)
        start = int(rng.integers(1, max(2, n_frames // 3)))
        life = int(rng.integers(n_frames // 2, n_frames))
        end = min(n_frames, start + life)
        speed = rng.uniform(1.0, 6.0)
        ang = rng.uniform(0, 2 * np.pi)
        vx, vy = speed * np.cos(ang), 0.4 * speed * np.sin(ang)
        x = rng.uniform(w, width - 2 * w)
        y = rng.uniform(h, height - 2 * h)
        objs.append(dict(id=k + 1, w=w, h=h, start=start, end=end, x=x, y=y, vx=vx, vy=vy))
    # put pairs on crossing courses: the second of each pair heads for the first one's
    # position half a life later, with the opposite horizontal direction
    for a, b in zip(objs[0::4], objs[1::4]):
        b["start"] = a["start"]
        b["end"] = a["end"]
        t_meet = (a["end"] - a["start"]) / 2
        meet_x = a["x"] + a["vx"] * t_meet
        meet_y = a["y"] + a["vy"] * t_meet
        b["vx"] = -a["vx"] if abs(a["vx"]) > 0.5 else 3.0
        b["vy"] = a["vy"] * 0.5
        b["x"] = meet_x - b["vx"] * t_meet
        b["y"] = meet_y - b["vy"] * t_meet + rng.uniform(-8, 8)
    # occlusion windows
    for o in objs:
        o["occl"] = []
        if rng.random() < 0.6:
            s = int(rng.integers(o["start"] + 10, max(o["start"] + 11, o["end"] - 20)))
            o["occl"].append((s, s + int(rng.integers(4, 16))))

    gt, det = [], []
    for f in range(1, n_frames + 1):
        for o in objs:
            if not (o["start"] <= f < o["end"]):
                continue
            t = f - o["start"]
            x = o["x"] + o["vx"] * t + rng.normal(0, 0.7)
            y = o["y"] + o["vy"] * t + rng.normal(0, 0.7)
            w, h = o["w"], o["h"]
            # bounce inside the image
            x = abs(x) % (2 * (width - w))
            x = x if x <= width - w else 2 * (width - w) - x
            y = abs(y) % (2 * (height - h))
            y = y if y <= height - h else 2 * (height - h) - y
            gt.append((f, o["id"], x, y, w, h, 1.0))
            occluded = any(s <= f < e for s, e in o["occl"])
            near_occl = any(s - 3 <= f < e + 3 for s, e in o["occl"])
            if occluded or rng.random() < 0.05:
                continue
            score = rng.uniform(0.15, 0.5) if near_occl or rng.random() < 0.08 else rng.uniform(0.62, 0.98)
            s_w = w * (1 + rng.normal(0, 0.04))
            s_h = h * (1 + rng.normal(0, 0.04))
            dx = x + rng.normal(0, 2.0) - (s_w - w) / 2
            dy = y + rng.normal(0, 2.0) - (s_h - h) / 2
            det.append((f, -1, dx, dy, s_w, s_h, score))
        for _ in range(rng.poisson(1.0)):
            w = rng.uniform(30, 90)
            h = w * rng.uniform(1.5, 3.0)
            det.append((f, -1, rng.uniform(0, width - w), rng.uniform(0, height - h), w, h, rng.uniform(0.1, 0.7)))
    return gt, det


def write_mot(path, rows, gt):
    with open(path, "w") as fh:
        for f, i, x, y, w, h, c in rows:
            if gt:
                fh.write(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,1,1\n")
            else:
                fh.write(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:.4f},-1,-1,-1\n")


def read_dets(path):
    """{frame: ndarray (n, 6) of x1,y1,x2,y2,score,class}, n_frames (as oar parses them)."""
    frames = {}
    last = 0
    for line in open(path):
        p = line.strip().split(",")
        if len(p) < 7:
            continue
        f = int(float(p[0]))
        x, y, w, h, s = (float(v) for v in p[2:7])
        frames.setdefault(f, []).append([x, y, x + w, y + h, s, 0.0])
        last = max(last, f)
    return {f: np.array(v, dtype=np.float64) for f, v in frames.items()}, last


# --------------------------------------------------------------------------- reference trackers


def fetch_references(ref_dir):
    ref_dir.mkdir(parents=True, exist_ok=True)
    for name, ver in REF_PACKAGES.items():
        src = ref_dir / f"{name}-{ver}"
        if src.is_dir():
            continue
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "-d", str(ref_dir), f"{name}=={ver}"],
            check=True,
        )
        with tarfile.open(ref_dir / f"{name}-{ver}.tar.gz") as tf:
            tf.extractall(ref_dir)
    return [ref_dir / f"{n}-{v}" for n, v in REF_PACKAGES.items()]


class _Arr(np.ndarray):
    """Stands in for the torch tensor the packages' update() expects (they call .numpy())."""

    def numpy(self):
        return np.asarray(self)


def load_references(ref_dir):
    if "torch" not in sys.modules:
        torch = types.ModuleType("torch")
        torch.Tensor = type("Tensor", (), {})
        sys.modules["torch"] = torch
    for p in fetch_references(ref_dir):
        sys.path.insert(0, str(p))
    import bytetracker.byte_tracker as bt_mod
    import ocsort.ocsort as oc_mod

    # fix: low-score detections take their own classes (see the module docstring)
    src = Path(bt_mod.__file__).read_text()
    fixed = src.replace("clss_second = classes[remain_inds]", "clss_second = classes[inds_second]")
    assert fixed != src or "classes[inds_second]" in src, "bytetracker source changed"
    exec(compile(fixed, bt_mod.__file__, "exec"), bt_mod.__dict__)

    # fix: OCM weighs the direction cost by the detection score, which `associate` reads from the
    # last column; the package appended the class after it (so the cost was multiplied by the
    # class id). Hand it the original 5 columns.
    src = Path(oc_mod.__file__).read_text()
    fixed = src.replace("associate(\n            dets, trks,", "associate(\n            dets[:, :5], trks,")
    assert fixed != src, "ocsort source changed"
    exec(compile(fixed, oc_mod.__file__, "exec"), oc_mod.__dict__)
    return bt_mod, oc_mod


DEFAULTS = {
    "bytetrack": dict(track_thresh=0.5, track_buffer=30, match_thresh=0.8, frame_rate=30),
    "ocsort": dict(det_thresh=0.6, max_age=30, min_hits=3, iou_threshold=0.3, delta_t=3,
                   asso_func="iou", inertia=0.2, use_byte=False),
}


def parse_params(name, items):
    """NAME=VALUE strings -> {name: value} typed as the defaults are (unknown names are an error)."""
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or key not in DEFAULTS[name]:
            raise SystemExit(f"{name} parameter {item!r}: expected NAME=VALUE, NAME one of {', '.join(DEFAULTS[name])}")
        default = DEFAULTS[name][key]
        if isinstance(default, bool):
            out[key] = text.strip().lower() == "true"
        elif isinstance(default, str):
            out[key] = text.strip()
        else:
            out[key] = type(default)(float(text))
    return out


def run_reference(name, frames, n_frames, mods, params=None):
    bt_mod, oc_mod = mods
    kw = {**DEFAULTS[name], **(params or {})}
    if name == "bytetrack":
        bt_mod.BaseTrack._count = 0
        tracker = bt_mod.BYTETracker(**kw)
    else:
        tracker = oc_mod.OCSort(**kw)
    rows = []
    t0 = time.perf_counter()
    for f in range(1, n_frames + 1):
        d = frames.get(f, np.empty((0, 6)))
        if name == "bytetrack" and len(d):
            # hand boxes over so that the package's conversion yields true tlwh
            d = d.copy()
            w, h = d[:, 2] - d[:, 0], d[:, 3] - d[:, 1]
            d[:, 0] -= w / 2
            d[:, 2] -= w / 2
            d[:, 1] -= h / 2
            d[:, 3] -= h / 2
        out = tracker.update(d.view(_Arr), None)
        for r in np.asarray(out).reshape(-1, 7) if len(out) else []:
            if name == "bytetrack":
                x1, y1, x2, y2, tid = r[0], r[1], r[2], r[3], int(r[4])
                w, h = x2 - x1, y2 - y1
                x1, y1 = x1 + w / 2, y1 + h / 2  # undo the package's centre conversion
            else:
                x1, y1, x2, y2, tid = r[0], r[1], r[2], r[3], int(r[4])
                w, h = x2 - x1, y2 - y1
            rows.append((f, tid, x1, y1, w, h, float(r[6])))
    ms = (time.perf_counter() - t0) * 1e3 / n_frames
    return rows, ms


# --------------------------------------------------------------------------- scoring


def score(gt_path, ts_path):
    import motmetrics as mm

    gt = mm.io.loadtxt(str(gt_path), fmt="mot15-2D", min_confidence=1)
    ts = mm.io.loadtxt(str(ts_path), fmt="mot15-2D")
    acc = mm.utils.compare_to_groundtruth(gt, ts, "iou", distth=0.5)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "num_false_positives", "num_misses"], name="x")
    return {k: float(s[k].iloc[0]) for k in s.columns}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oar", help='command running oar\'s tracker, e.g. "target/release/oar track"')
    ap.add_argument("--fixture", metavar="DIR",
                    help="only write a small sequence (first seed) and the references' outputs to DIR "
                         "(how tests/data/track was made: --fixture tests/data/track --seeds 7 --objects 8 --frames 150)")
    ap.add_argument("--out", default="/tmp/oar_track_compare", help="work directory")
    ap.add_argument("--ref-dir", default=os.path.expanduser("~/.cache/oar/track_ref"), help="reference sources")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--objects", type=int, default=24)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--trackers", nargs="+", default=["bytetrack", "ocsort"])
    ap.add_argument("--bytetrack-param", action="append", metavar="NAME=VALUE", help="a ByteTrack parameter, both sides")
    ap.add_argument("--ocsort-param", action="append", metavar="NAME=VALUE", help="an OC-SORT parameter, both sides")
    ap.add_argument("--suffix", default="", help="--fixture: name the outputs ref_NAME{SUFFIX}.txt")
    args = ap.parse_args()
    params = {"bytetrack": parse_params("bytetrack", args.bytetrack_param),
              "ocsort": parse_params("ocsort", args.ocsort_param)}
    oar_params = {n: [a for item in (getattr(args, f"{n}_param") or []) for a in ("--param", item)] for n in params}

    mods = load_references(Path(args.ref_dir))
    if args.fixture:
        fx = Path(args.fixture)
        fx.mkdir(parents=True, exist_ok=True)
        gt_rows, det_rows = make_sequence(args.seeds[0], args.objects, args.frames)
        if args.suffix:
            print(f"parameters: {params}")
        write_mot(fx / "gt.txt", gt_rows, gt=True)
        write_mot(fx / "det.txt", det_rows, gt=False)
        frames, n_frames = read_dets(fx / "det.txt")
        for name in args.trackers:
            rows, _ = run_reference(name, frames, n_frames, mods, params[name])
            write_mot(fx / f"ref_{name}{args.suffix}.txt", rows, gt=False)
        return 0
    if not args.oar:
        ap.error("--oar is required (unless --fixture)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    oar = shlex.split(args.oar)

    results = []  # (seed, tracker, impl, metrics, ms)
    for seed in args.seeds:
        seq = out / f"seq{seed}"
        seq.mkdir(exist_ok=True)
        gt_rows, det_rows = make_sequence(seed, args.objects, args.frames)
        write_mot(seq / "gt.txt", gt_rows, gt=True)
        write_mot(seq / "det.txt", det_rows, gt=False)
        frames, n_frames = read_dets(seq / "det.txt")
        for name in args.trackers:
            ref_rows, ref_ms = run_reference(name, frames, n_frames, mods, params[name])
            write_mot(seq / f"ref_{name}.txt", ref_rows, gt=False)
            results.append((seed, name, "reference", score(seq / "gt.txt", seq / f"ref_{name}.txt"), ref_ms))
            oar_out = seq / f"oar_{name}.txt"
            t0 = time.perf_counter()
            subprocess.run(oar + ["--dets", str(seq / "det.txt"), "--tracker", name, "-o", str(oar_out)] + oar_params[name],
                           check=True)
            oar_ms = (time.perf_counter() - t0) * 1e3 / n_frames  # includes process start and file I/O
            results.append((seed, name, "oar", score(seq / "gt.txt", oar_out), oar_ms))

    hdr = f"{'seed':>4} {'tracker':<10} {'impl':<10} {'MOTA':>7} {'IDF1':>7} {'IDsw':>5} {'FP':>6} {'FN':>6} {'ms/frame':>9}"
    for name in args.trackers:
        print(f"{name}: {', '.join(f'{k}={v}' for k, v in {**DEFAULTS[name], **params[name]}.items())}")
    print(hdr)
    print("-" * len(hdr))
    for seed, name, impl, m, ms in results:
        print(f"{seed:>4} {name:<10} {impl:<10} {100 * m['mota']:7.2f} {100 * m['idf1']:7.2f} "
              f"{int(m['num_switches']):5d} {int(m['num_false_positives']):6d} {int(m['num_misses']):6d} {ms:9.3f}")
    print()
    worst = 0.0
    for name in args.trackers:
        for key in ("mota", "idf1"):
            ref = [m[key] for s, n, i, m, _ in results if n == name and i == "reference"]
            got = [m[key] for s, n, i, m, _ in results if n == name and i == "oar"]
            diff = 100 * (np.mean(got) - np.mean(ref))
            worst = max(worst, max(abs(100 * (g - r)) for g, r in zip(got, ref)))
            print(f"{name:<10} mean {key.upper():<4} reference {100 * np.mean(ref):6.2f}  oar {100 * np.mean(got):6.2f}  "
                  f"diff {diff:+.2f}")
    print(f"largest per-sequence |oar - reference| (MOTA, IDF1): {worst:.2f} points")
    return 0 if worst <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
