#!/usr/bin/env python3
"""Compare `oar bench` (tract) with onnxruntime on the same model and shape.

    python tools/bench_compare.py --oar target/release/oar --model-id ID --onnx MODEL.onnx \
        --shape 1,3,48,320 --threads 1,2 [--runs 50] [--json]

For each thread count N: runs
    OAR bench ID --shape SHAPE --threads N --runs R --json
(expected to print a JSON object with at least "median_ms" and "p90_ms"; the
last stdout line that parses as such an object is used), then tools/bench_ort.py's
bench() with the same shape/threads/runs. Prints a markdown table:
model | shape | threads | oar median/p90 | ort median/p90 | oar/ort (median ratio).
--json prints the rows as a JSON list instead.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ort import bench, parse_shape  # noqa: E402


def run_oar(oar, model_id, shape, threads, runs, extra):
    cmd = [oar, "bench", model_id, "--shape", shape, "--threads", str(threads), "--runs", str(runs), "--json"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    for line in reversed(p.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                o = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "median_ms" in o:
                return o
    try:  # pretty-printed multi-line JSON
        o = json.loads(p.stdout)
        if "median_ms" in o:
            return o
    except json.JSONDecodeError:
        pass
    raise SystemExit(f"no JSON with median_ms in output of {' '.join(cmd)}:\n{p.stdout}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--oar", required=True, help="path to the oar binary")
    ap.add_argument("--model-id", required=True)
    ap.add_argument("--onnx", required=True, help="the same model as ONNX, for onnxruntime")
    ap.add_argument("--shape", required=True)
    ap.add_argument("--threads", default="1", help="comma-separated list, e.g. 1,2")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--oar-arg", action="append", default=[], help="extra argument passed to `oar bench` (repeatable)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    shape = ",".join(str(d) for d in parse_shape(args.shape))
    rows = []
    for t in [int(x) for x in args.threads.split(",") if x.strip()]:
        o = run_oar(args.oar, args.model_id, shape, t, args.runs, args.oar_arg)
        r = bench(args.onnx, parse_shape(shape), t, args.runs)
        rows.append({
            "model": args.model_id, "shape": shape, "threads": t,
            "oar_median_ms": o["median_ms"], "oar_p90_ms": o.get("p90_ms"),
            "ort_median_ms": r["median_ms"], "ort_p90_ms": r["p90_ms"],
            "ratio": round(o["median_ms"] / r["median_ms"], 3) if r["median_ms"] else None,
        })
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    f = lambda v: "-" if v is None else f"{v:.2f}"
    print("| model | shape | threads | oar median ms | oar p90 ms | ort median ms | ort p90 ms | oar/ort |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['shape']} | {r['threads']} | {f(r['oar_median_ms'])} | {f(r['oar_p90_ms'])} | "
              f"{f(r['ort_median_ms'])} | {f(r['ort_p90_ms'])} | {f(r['ratio'])} |")


if __name__ == "__main__":
    main()
