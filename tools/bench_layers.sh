#!/usr/bin/env bash
# Per-layer int8 / float timings, side by side in one run: oar's int8 kernels (each table, and the
# QConv op in a tract plan), tract int8 and float (firmware/ops/examples/layer_bench.rs, profiling
# build), then onnxruntime QLinearConv and float Conv (tools/bench_qconv_ort.py), 1 and 2 threads.
#
#   tools/bench_layers.sh [RUNS]        (default 200 timed runs per line)
#
# Prints one tab-separated table: layer, engine, threads, median_us, p10_us; then the machine load.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
cargo build -q --profile profiling -p oar-ops --example layer_bench
tdir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
"$tdir/profiling/examples/layer_bench" --runs "$RUNS"
python3 tools/bench_qconv_ort.py --runs "$RUNS"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
