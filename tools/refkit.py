"""Shared scaffolding of the `*_ref.py` reference tools: JSON-lines I/O keyed by file name and the
gen / ref / compare command line they all have."""
import argparse
import json
from pathlib import Path


def load_by_name(path):
    """One JSON object per line, keyed by the base name of its "path" field."""
    return {Path(d["path"]).name: d for d in (json.loads(l) for l in open(path) if l.strip())}


def run(doc, handlers, extra=None):
    """Parse `gen --out DIR [--n N] [--seed S] [--small]`, `ref IMAGE... --out F [--threads T]` and
    `compare --ref F --pred F [-v]`, let `extra(subparsers)` add tool-specific options, then call
    handlers[cmd](args)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    parsers = {
        "gen": sub.add_parser("gen"),
        "ref": sub.add_parser("ref"),
        "compare": sub.add_parser("compare"),
    }
    g, r, c = parsers["gen"], parsers["ref"], parsers["compare"]
    g.add_argument("--out", required=True)
    g.add_argument("--seed", default="1")
    g.add_argument("--small", action="store_true")
    r.add_argument("images", nargs="+")
    r.add_argument("--out", required=True)
    r.add_argument("--threads", type=int, default=1)
    c.add_argument("--ref", required=True)
    c.add_argument("--pred", required=True)
    c.add_argument("-v", "--verbose", action="store_true")
    if extra:
        extra(parsers)
    args = ap.parse_args()
    handlers[args.cmd](args)
