#!/usr/bin/env bash
# Issue 5, point 8, side by side in one run: the streaming pipeline (detect → ByteTrack → OCR per
# track) vs OCR on every frame (oar) vs RapidOCR on every frame, on the same 640×480 synthetic
# video (examples/pipelines/bench-640.toml), with wall/CPU time and per-track text accuracy.
#
#   tools/bench_stream.sh [WORK_DIR]        (OAR=path/to/oar, default target/profiling/oar)
#
# Build first: cargo build --profile profiling -p oar. Needs tools/requirements.txt installed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
oar=$(realpath "${OAR:-$repo/target/profiling/oar}")
work=${1:-/tmp/oar-bench-stream}
mkdir -p "$work"
cd "$work"
rm -rf bench-frames bench-gt
timed() { # label, command...: prints "label wall user sys" to times.txt
    local label=$1
    shift
    /usr/bin/time -f "$label %e %U %S" -a -o times.txt "$@"
}
: >times.txt

echo "== recording the frames once (not timed)"
{ cat "$repo/examples/pipelines/bench-640.toml"; printf '\n[[sink]]\nkind = "frames"\npath = "bench-frames"\n'; } >record.toml
"$oar" run --pipeline record.toml >/dev/null

echo "== pipeline"
timed pipeline "$oar" run --pipeline "$repo/examples/pipelines/bench-640.toml" --json >pipeline.jsonl
echo "== oar ocr on every frame (2 threads)"
timed oar-ocr "$oar" ocr bench-frames/*.png --json --threads 2 >oar-ocr.jsonl
echo "== RapidOCR on every frame (2 threads)"
timed rapidocr python3 "$repo/tools/stream_text_accuracy.py" bench-gt bench-frames --rapidocr --threads 2 >rapidocr.json

echo "== accuracy per track"
python3 "$repo/tools/stream_text_accuracy.py" bench-gt - --pipeline pipeline.jsonl | tee pipeline-acc.json
python3 "$repo/tools/stream_text_accuracy.py" bench-gt bench-frames --oar oar-ocr.jsonl | tee oar-ocr-acc.json
cat rapidocr.json
frames=$(ls bench-frames/*.png | wc -l)
echo "== times (s) for $frames frames: label wall user sys; load: $(cut -d' ' -f1-3 /proc/loadavg)"
cat times.txt
