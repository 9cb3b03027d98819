#!/usr/bin/env python3
"""The zoo table: every model of the seed list with its family, task and status, from the seed list
and the results of the last conformance run (tools/zoo_run.py). Writes models/zoo/<family>.toml
(embedded in `oar zoo`) and docs/zoo.md.

    python3 tools/zoo_table.py [--seed FILE] [--results DIR]     # rewrite both from cached results

Statuses: `real` (pretrained weights fetched by `oar fetch`: a registry entry), `architecture`
(exported with seeded weights, `oar conform` equal to onnxruntime), `unsupported` (with the reason:
the exporter's or oar's failure, the error), `untested` (with why: not attempted in this run).
"""

import argparse
import json
import math
import os
import re
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEED = Path(os.environ.get("OAR_ZOO_SEED", REPO.parent / "shared" / "zoo" / "models.tsv"))

# Seed models whose own pretrained weights the registry (models/*.toml) fetches.
REAL = {
    ("PaddleOCR", "ch_PP-OCRv3_det"): "ppocr-v3-det",
    ("PaddleOCR", "ch_PP-OCRv2_rec"): "ppocr-v2-rec",
}

# Why a family (or a model) was not attempted, when no definition of it was exported.
NOT_ATTEMPTED = {
    "PaddleClas": "no definition in paddleclas 2.6.0's ppcls.arch.backbone under this name",
    "PaddleDetection": "not attempted: no architecture section for this seed name in tools/zoo_det.py yet (paddledet 2.6.0 ships ppdet.modeling without the YAML configs detectors are assembled from; zoo_det.py writes each one's)",
    "PaddleSeg": "not attempted: no definition in paddleseg 2.8.0 mapped to this seed name yet",
    "PaddleOCR": "not exported: no PyPI package ships PaddleOCR's model definitions (ppocr/modeling): the paddleocr wheels 2.0.6 to 3.7.0 hold the inference client only, paddlex 3.7 the pipelines, PPOCRLabel the labelling tool",
    "PaddleGAN": "not attempted: no PaddleGAN definitions installed in this run",
    "PaddleVideo": "not attempted: no PaddleVideo definitions installed in this run",
    "PaddleNLP": "not attempted: text models (token ids in, no image pipeline); no export in this run",
    "PaddleSpeech": "not attempted: audio models; no export in this run",
    "PaddleRec": "not attempted: recommender models (sparse id features); no export in this run",
    "PARL": "not attempted: a reinforcement-learning algorithm (its policy net is a small MLP); no export in this run",
    "PGL": "not attempted: graph networks (edge lists in); no export in this run",
}

# What the exporter's own message leaves out, found by reading the failing model's definition.
EXPORT_NOTES = {
    "ENet": "ENet's decoder calls F.max_unpool2d (Paddle op `unpool`), which paddle2onnx 2.1 has no converter for",
}

# Why a model's plan differs from onnxruntime, found by cutting its graph (see docs/zoo-notes.md).
CONFORM_NOTES = {
    "ppyolov2_r50vd_dcn_365e_coco": "only the IoU-aware objectness channels differ: -log(1/clip(√σ(a)·√σ(b)) − 1) on "
    "seeded logits of ±400 depends on how each runtime rounds σ below 1e-6 (every other channel within 2.8e-5)",
}

FAMILY_TASK = {
    "PaddleClas": "image-classification", "PaddleDetection": "object-detection",
    "PaddleSeg": "semantic-segmentation", "PaddleOCR": "ocr", "PaddleGAN": "image-generation",
    "PaddleVideo": "video-understanding", "PaddleNLP": "nlp", "PaddleSpeech": "speech",
    "PaddleRec": "recommendation", "PARL": "reinforcement-learning", "PGL": "graph-learning",
}


def task_of(family, name):
    n = name.lower()
    if family == "PaddleClas" and ("baseline" in n or "triplet" in n):
        return "person-reid"
    if family == "PaddleDetection":
        if "hrnet_w32_256" in n or "higherhrnet" in n:
            return "keypoint-detection"
        if "fairmot" in n or "jde" in n or "sort" in n:
            return "multi-object-tracking"
        if "mask" in n or "solo" in n:
            return "instance-segmentation"
        if "s2anet" in n or "-r" in n:
            return "rotated-object-detection"
        if "blazeface" in n:
            return "face-detection"
    if family == "PaddleSeg":
        if "matting" in n:
            return "matting"
        if any(k in n for k in ("unetr", "transunet", "nnformer", "swinunet", "nnunet")):
            return "medical-segmentation"
    if family == "PaddleOCR":
        if "_det" in n or n.startswith("det_") or n in ("drrg", "db++"):
            return "text-detection"
        if "_rec" in n or n.startswith("rec_") or n in ("vitstr", "abinet", "visionlan", "spin", "robustscanner", "rfl"):
            return "text-recognition"
        if "layoutxlm" in n or "structure" in n:
            return "document-understanding"
        if "table" in n:
            return "table-recognition"
        if "pgnet" in n:
            return "text-spotting"
        return "ocr-system"
    if family == "PaddleGAN" and any(k in n for k in ("sr", "esrgan", "drn", "pan", "lesrcnn", "edvr", "basicvsr", "swinir")):
        return "super-resolution"
    return FAMILY_TASK[family]


def read_seed(path):
    """The seed list's rows. Without the seed file (a clone elsewhere, CI), the repository's own
    table (models/zoo/*.toml, generated from it) lists the same models."""
    if not Path(path).is_file():
        return read_repo_table()
    rows = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            c = line.rstrip("\n").split("\t")
            rows.append({"family": c[0], "index": int(c[1]), "name": c[2]})
    return rows


def read_repo_table():
    import tomllib

    rows = []
    for p in sorted((REPO / "models" / "zoo").glob("*.toml")):
        t = tomllib.loads(p.read_text(encoding="utf-8"))
        rows += [{"family": t["family"], "index": m["index"], "name": m["name"]} for m in t.get("model", [])]
    return sorted(rows, key=lambda r: (r["family"], r["index"]))


def safe_dir(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def variant_base(name):
    """PaddleSlim variants (pruned/quantized weights of a base model): the base's name."""
    m = re.match(r"(.+?)[-_](FPGM|PACT|KL)$", name)
    return m.group(1) if m else None


def short(reason, n=160):
    reason = " ".join(reason.split())
    return reason if len(reason) <= n else reason[: n - 1] + "…"


def status_of(row, results):
    """(status, fields) of one seed model."""
    key = (row["family"], row["name"])
    if key in REAL:
        return "real", {"registry": REAL[key]}
    d = results / safe_dir(row["name"])
    if (d / "error.json").exists():
        e = json.loads((d / "error.json").read_text())
        if e.get("stage") == "skipped":
            return "untested", {"reason": short(e["reason"])}
        if e.get("stage") == "definition":
            return "untested", {"reason": short("its definition fails to build here, before any export: " + e["reason"], 240)}
        note = f" ({EXPORT_NOTES[row['name']]})" if row["name"] in EXPORT_NOTES else ""
        return "unsupported", {"reason": short("export failed (paddle2onnx): " + e["reason"] + note, 240)}
    if (d / "conform.json").exists():
        c = json.loads((d / "conform.json").read_text())
        if "error" in c:
            return "unsupported", {"reason": short("oar: " + c["error"])}
        rel = max(o["max_rel"] for o in c["outputs"])
        fields = {"max_rel": float(f"{rel:.3g}"), "oar_ms": round(c["oar_ms"], 2), "ort_ms": round(c["ort_ms"], 2)}
        if "oar_build" in c:
            fields["_oar_build"] = c["oar_build"]  # for docs/zoo.md only: `oar zoo` reads the TOML strictly
        refs = c.get("ref_max", [])
        bad = [i for i, m in enumerate(refs) if not math.isfinite(m)]
        if bad:
            return "untested", {"reason": f"with seeded weights onnxruntime's output {bad[0]} is not finite (NaN or inf): "
                                          "nothing to compare (needs other weights)"}
        zeros = [i for i, m in enumerate(refs) if m == 0]
        if zeros:
            return "untested", {"reason": f"with seeded weights onnxruntime's output {zeros[0]} is all zeros: "
                                          "equal outputs would prove nothing (needs other weights)"}
        constant = [i for i, k in enumerate(c.get("ref_constant", [])) if k]
        if constant:
            return "untested", {"reason": f"with seeded weights onnxruntime's output {constant[0]} is one value repeated: "
                                          "equal outputs would prove little (needs other weights)"}
        if c["conformant"]:
            return "architecture", fields
        note = f": {CONFORM_NOTES[row['name']]}" if row["name"] in CONFORM_NOTES else ""
        return "unsupported", {"reason": f"oar's output differs from onnxruntime's (max rel error {rel:.2e}){note}", **fields}
    if (d / "export.json").exists():
        return "untested", {"reason": "exported, not yet conformance-checked"}
    if row["name"] in catalogue(results):
        return "untested", {"reason": "exportable (tools/zoo_export.py knows it); not attempted in the last run, which took the seed models smallest first within its time"}
    base = variant_base(row["name"])
    if base:
        return "untested", {"reason": f"a PaddleSlim variant of {base} (same graph, its trained weights are not reachable)"}
    return "untested", {"reason": NOT_ATTEMPTED[row["family"]]}


def catalogue(results):
    """Names tools/zoo_export.py can build, as its last run listed them."""
    path = results / "catalogue.tsv"
    if not path.exists():
        return set()
    return {line.split("\t")[1] for line in path.read_text(encoding="utf-8").splitlines() if line}


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path, value):
    write_atomic(path, json.dumps(value, indent=1, ensure_ascii=False) + "\n")


def family_file(family):
    return f"{family.lower()}.toml"


def write_all(seed, results, repo):
    rows = read_seed(seed)
    for r in rows:
        r["task"] = task_of(r["family"], r["name"])
        r["status"], r["fields"] = status_of(r, Path(results))
    families = list(dict.fromkeys(r["family"] for r in rows))
    for fam in families:
        out = [f"# The {fam} models of the PaddlePaddle seed list and what oar does with them.",
               "# Generated by tools/zoo_table.py from the seed list and the last conformance run",
               "# (tools/zoo_run.py); do not edit by hand. Embedded in `oar zoo`.",
               f"family = {toml_str(fam)}", ""]
        for r in (r for r in rows if r["family"] == fam):
            out += ["[[model]]", f"index = {r['index']}", f"name = {toml_str(r['name'])}",
                    f"task = {toml_str(r['task'])}", f"status = {toml_str(r['status'])}"]
            for k, v in ((k, v) for k, v in r["fields"].items() if not k.startswith("_")):
                out.append(f"{k} = {toml_str(v) if isinstance(v, str) else v}")
            out.append("")
        write_atomic(repo / "models" / "zoo" / family_file(fam), "\n".join(out))
    write_atomic(repo / "docs" / "zoo.md", zoo_md(rows, families))


def latency_ratios(rows):
    """oar/onnxruntime latency of the conformant models among rows."""
    return [r["fields"]["oar_ms"] / r["fields"]["ort_ms"] for r in rows
            if r["status"] == "architecture" and "oar_ms" in r["fields"] and r["fields"]["ort_ms"] > 0]


def zoo_md(rows, families):
    statuses = ["real", "architecture", "unsupported", "untested"]
    lines = ["# The zoo: what oar runs of the PaddlePaddle seed list", "",
             "Generated by `tools/zoo_table.py` (run by `python3 tools/zoo_run.py --setup`, see docs below);",
             "`oar zoo [--family F] [--json]` prints the same table from the binary.", "",
             "- `real`: the seed model's own pretrained weights are in the registry (`oar fetch ID`).",
             "- `architecture`: its definition, exported with seeded random weights by paddle2onnx, compiled by",
             "  oar to a plan whose outputs equal onnxruntime's (`oar conform`: max error relative to the",
             "  output's largest magnitude ≤ 1e-3, however small that magnitude).",
             "- `unsupported`: tried and failed; the reason says where (exporter or oar).",
             "- `untested`: not tried in the last run; the reason says why.", "",
             "## Counts per family", "",
             "| family | models | " + " | ".join(statuses) + " | median oar/ORT |",
             "|---|---:|" + "---:|" * len(statuses) + "---:|"]
    for fam in families + ["all"]:
        sel = [r for r in rows if fam == "all" or r["family"] == fam]
        counts = [sum(r["status"] == s for r in sel) for s in statuses]
        name = "**all**" if fam == "all" else fam
        ratios = latency_ratios(sel)
        median = f"{statistics.median(ratios):.2f}" if ratios else ""
        lines.append(f"| {name} | {len(sel)} | " + " | ".join(str(c) for c in counts) + f" | {median} |")
    tried = [r for r in rows if "oar_ms" in r["fields"] and r["status"] == "architecture"]
    ratios = latency_ratios(rows)
    builds = sorted({r["fields"]["_oar_build"] for r in tried if "_oar_build" in r["fields"]})
    lines += ["", "## Conformance (last run)", ""]
    if ratios:
        lines += [f"{len(tried)} conformant models; median oar/onnxruntime latency ratio **{statistics.median(ratios):.2f}** "
                  "(one thread each, same input, median of 20 runs (5 for runs over 200 ms), timed in the same run on a shared 2-core machine:",
                  f"compare ratios, not absolute times; oar binary: {', '.join(builds) or 'not recorded'} build).", ""]
    lines += ["| family | model | status | max rel error | oar ms | ORT ms | oar/ORT | note |", "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        f = r["fields"]
        if r["status"] == "untested" or r["status"] == "real":
            continue
        rel = f"{f['max_rel']:.1e}" if "max_rel" in f else ""
        oar = f"{f['oar_ms']:.1f}" if "oar_ms" in f else ""
        ort = f"{f['ort_ms']:.1f}" if "ort_ms" in f else ""
        ratio = f"{f['oar_ms'] / f['ort_ms']:.2f}" if "oar_ms" in f and f["ort_ms"] > 0 else ""
        note = f.get("reason", "").replace("|", "\\|")
        lines.append(f"| {r['family']} | {r['name']} | {r['status']} | {rel} | {oar} | {ort} | {ratio} | {note} |")
    untested = {}
    for r in rows:
        if r["status"] == "untested":
            why = re.sub(r"variant of \S+", "variant of its base model", r["fields"]["reason"])
            why = re.sub(r"\d+\.\d M parameters", "N M parameters", why)
            untested.setdefault((r["family"], why), []).append(r["name"])
    lines += ["", "## Untested, by reason", "", "(each model's own reason is in `models/zoo/*.toml` and `oar zoo`)", "",
              "| family | models | reason | e.g. |", "|---|---:|---|---|"]
    for (fam, why), names in untested.items():
        eg = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        lines.append(f"| {fam} | {len(names)} | {why.replace('|', chr(92) + '|')} | {eg} |")
    real = [r for r in rows if r["status"] == "real"]
    lines += ["", "## Real models", "", "| family | model | registry id |", "|---|---|---|"]
    lines += [f"| {r['family']} | {r['name']} | `{r['fields']['registry']}` |" for r in real]
    extra = REPO / "docs" / "zoo-notes.md"
    if extra.exists():
        lines += ["", extra.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=Path, default=DEFAULT_SEED)
    ap.add_argument("--results", type=Path, default=Path(os.environ.get("OAR_HOME", Path.home() / ".cache" / "oar")) / "zoo")
    args = ap.parse_args()
    write_all(args.seed, args.results, REPO)


if __name__ == "__main__":
    main()
