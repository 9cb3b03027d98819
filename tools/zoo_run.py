#!/usr/bin/env python3
"""The zoo conformance run, in one command: export the seed architectures (tools/zoo_export.py, in
a venv with paddlepaddle), run `oar conform` on each beside onnxruntime (same input, one thread
each, timed in the same run), then write the zoo table (models/zoo/*.toml, embedded in `oar zoo`)
and docs/zoo.md.

    python3 tools/zoo_run.py --setup                  # the whole set; writes models/zoo/ and docs/zoo.md
    python3 tools/zoo_run.py --setup --set ci --check # CI: the small set, fail if one is not conformant

Options: --out DIR (exported models and results; default $OAR_HOME/zoo), --venv DIR (default
~/.cache/oar-zoo/venv), --oar PATH (default $CARGO_TARGET_DIR/debug/oar or target/debug/oar),
--seed FILE (the seed list, default ../shared/zoo/models.tsv beside the repository), --runs N.
Steps can be skipped: --no-export, --no-conform, --no-write.

The zoo table comes from batch-1 exports at opset 13. `--form dyn` (a symbolic batch, as users'
`paddle.jit.save` exports have it) and `--opset 11` check that the compiler's pattern fixes hold on
those exports too; they go to $OAR_HOME/zoo-FORM-opN and write no table:

    python3 tools/zoo_run.py --set ci --form dyn --opset 11 --check LeViT_128S
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_table  # noqa: E402

PACKAGES = [
    ["paddlepaddle==3.0.0", "paddle2onnx==2.1.0", "onnxruntime==1.32.0"],
    ["--no-deps", "paddleclas==2.6.0", "paddleseg==2.8.0", "paddledet==2.6.0"],
    ["scikit-learn", "pyyaml", "opencv-python-headless", "easydict", "tqdm", "prettytable", "ujson",
     # what importing ppdet pulls in
     "pycocotools", "typeguard", "matplotlib", "pandas"],
]


def setup(venv):
    py = venv / "bin" / "python"
    ready = venv / "zoo-ready"
    wanted = "\n".join(" ".join(p) for p in PACKAGES) + "\n"
    if ready.exists() and ready.read_text() == wanted:
        return py
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    # A venv made for an older package list gets what it lacks (pip skips what is there).
    for pkgs in PACKAGES:
        subprocess.run([str(py), "-m", "pip", "install", "-q", *pkgs], check=True)
    ready.write_text(wanted)
    return py


def ort_latency(model, xs, runs):
    """onnxruntime's median latency (ms) on one thread, on the inputs `xs` in the model's order."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    feed = {i.name: x for i, x in zip(sess.get_inputs(), xs)}
    t = time.perf_counter()
    for _ in range(2):
        sess.run(None, feed)
    if (time.perf_counter() - t) * 1e3 / 2 > 200:
        runs = min(runs, 5)  # big models: fewer runs, same count for oar
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), runs


def conform_one(d, oar, runs):
    """Runs onnxruntime then `oar conform` on one exported model; writes d/conform.json."""
    import numpy as np

    meta = json.loads((d / "export.json").read_text())
    if (d / "a").is_dir():
        # Tensor models (tools/zoo_export_seq.py): case folders a/ (and b/, a second length), each
        # of input_N.npy and output_N.npy; one plan is checked on both.
        cases = [c for c in (d / "a", d / "b") if c.is_dir()]
        xs = [np.load(p) for p in sorted(cases[0].glob("input_*.npy"), key=lambda p: int(p.stem.split("_")[1]))]
        args = [a for c in cases for a in ("--case", str(c))]
        ref_dir = cases[0]
    else:
        xs = [np.load(d / "input.npy")]
        args = ["--input", str(d / "input.npy"), *[a for i in range(meta["outputs"]) for a in ("--expect", str(d / f"output_{i}.npy"))]]
        ref_dir = d
    ort_ms, runs = ort_latency(d / "model.onnx", xs, runs)
    cmd = [oar, "conform", str(d / "model.onnx"), *args,
           "--runs", str(runs), "--threads", "1", "--ort-ms", f"{ort_ms:.4f}", "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode in (0, 1) and p.stdout.strip():
        result = json.loads(p.stdout.strip().splitlines()[-1])
    else:
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        result = {"error": lines[-1] if lines else f"exit code {p.returncode}", "ort_ms": ort_ms}
    result["name"] = meta["name"]
    # The cargo profile the binary was built with (target/<profile>/oar): debug times are not release times.
    result["oar_build"] = Path(oar).resolve().parent.name
    # Seeded weights can drive an output to all zeros, which proves nothing: zoo_table.py tells.
    refs = [np.load(ref_dir / f"output_{i}.npy") for i in range(meta["outputs"])]
    result["ref_max"] = [float(np.abs(r).max(initial=0)) for r in refs]
    # ppdet's heads start from zero weights: their seeded outputs can be one value repeated (zoo_det.py spreads them).
    result["ref_constant"] = [bool(r.size > 1 and np.all(r == r.flat[0])) for r in refs]
    zoo_table.write_json(d / "conform.json", result)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="default $OAR_HOME/zoo (other forms: zoo-FORM-opN)")
    ap.add_argument("--form", choices=["fixed", "dyn"], default="fixed")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("names", nargs="*", help="models to add to the set (e.g. LeViT_128S)")
    ap.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "oar-zoo" / "venv")
    ap.add_argument("--oar", default=os.environ.get("OAR_BIN") or str(Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "oar"))
    ap.add_argument("--seed", type=Path, default=zoo_table.DEFAULT_SEED)
    ap.add_argument("--set", choices=["ci", "all"], default="all")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--max-params", type=float, default=30)
    ap.add_argument("--setup", action="store_true", help="create the venv and install the exporters first")
    ap.add_argument("--check", action="store_true", help="conform again (no cached results), exit 1 unless every model of the set conforms")
    ap.add_argument("--redo", action="store_true", help="conform again models that have results")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--no-conform", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    default_form = (args.form, args.opset) == ("fixed", 13)
    if args.out is None:
        home = Path(os.environ.get("OAR_HOME", Path.home() / ".cache" / "oar"))
        args.out = home / ("zoo" if default_form else f"zoo-{args.form}-op{args.opset}")
    if not default_form:
        args.no_write = True  # the table is of the batch-1, opset-13 exports

    py = setup(args.venv) if args.setup else args.venv / "bin" / "python"
    if Path(sys.prefix).resolve() != args.venv.resolve():
        # numpy and onnxruntime for the reference timings come from the venv too.
        if not py.exists():
            sys.exit(f"{py}: no exporter venv; run with --setup")
        os.execv(str(py), [str(py), __file__, *[a for a in sys.argv[1:] if a != "--setup"]])
    env = dict(os.environ, OAR_ZOO_SEED=str(args.seed))
    if not args.no_export:
        subprocess.run([str(py), str(REPO / "tools" / "zoo_export.py"), "--out", str(args.out), "--set", args.set,
                        "--max-params", str(args.max_params), "--form", args.form, "--opset", str(args.opset),
                        *args.names], check=True, env=env)
    names = None
    sys.path.insert(0, str(REPO / "tools"))
    from zoo_export import CI_MAX_BYTES, CI_SET, model_dir

    if args.set == "ci" or args.names:
        names = {model_dir(args.out, n).name for n in (CI_SET if args.set == "ci" else []) + args.names}
    failed = [n for n in sorted(names or []) if not (args.out / n / "export.json").exists()]
    ci_names = sorted(model_dir(args.out, n).name for n in CI_SET) if args.set == "ci" else []
    for n in ci_names:
        size = (args.out / n / "model.onnx").stat().st_size if (args.out / n / "model.onnx").exists() else 0
        if size > CI_MAX_BYTES:
            print(f"{n}: {size / 2**20:.1f} MB, over the CI set's {CI_MAX_BYTES >> 20} MB", flush=True)
            failed.append(n)
    if not args.no_conform:
        dirs = sorted(p.parent for p in args.out.glob("*/export.json") if names is None or p.parent.name in names)
        for i, d in enumerate(dirs, 1):
            if (d / "conform.json").exists() and not (args.redo or args.check):
                r = json.loads((d / "conform.json").read_text())
            else:
                r = conform_one(d, args.oar, args.runs)
            ok = r.get("conformant", False)
            if not ok:
                failed.append(d.name)
            detail = r.get("error") or f"rel {max(o['max_rel'] for c in r.get('cases', [r]) for o in c['outputs']):.1e}, oar {r['oar_ms']:.1f} ms, ort {r['ort_ms']:.1f} ms"
            print(f"[{i}/{len(dirs)}] {d.name}: {'conformant' if ok else 'FAILED'} ({detail})", flush=True)
        print(f"zoo conformance: {len(dirs) - len(set(failed) & {d.name for d in dirs})} passed, {len(failed)} failed")
    if not args.no_write:
        zoo_table.write_all(args.seed, args.out, REPO)
    if args.check and failed:
        sys.exit(f"not conformant: {', '.join(failed)}")


if __name__ == "__main__":
    main()
