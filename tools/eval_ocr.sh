#!/usr/bin/env bash
# Fidelity of `oar ocr` to RapidOCR 1.4.4 on a generated set with ground truth.
# usage: tools/eval_ocr.sh [OAR_BINARY] [SET_DIR]    (defaults: target/release/oar, /tmp/oar-ocrset)
# Needs: pip install -r tools/requirements.txt; apt-get install fonts-dejavu-core fonts-noto-cjk
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
oar=$(realpath "${1:-target/release/oar}")
set_dir=${2:-/tmp/oar-ocrset}

if [ ! -f "$set_dir/labels.jsonl" ]; then
  python3 "$here/gen_ocr_set.py" --out "$set_dir" --seed 1 --lines 200 --scenes 20
fi
cd "$set_dir"
lines=$(python3 -c "import json;print(' '.join(j['image'] for j in map(json.loads, open('labels.jsonl')) if j['kind']=='line'))")
scenes=$(python3 -c "import json;print(' '.join(j['image'] for j in map(json.loads, open('labels.jsonl')) if j['kind']=='scene'))")

[ -f ref-nodet.jsonl ] || python3 "$here/rapidocr_ref.py" . --out ref-nodet.jsonl --no-det
[ -f ref-scenes.jsonl ] || python3 "$here/rapidocr_ref.py" . --out ref-scenes.jsonl --kind scene

"$oar" ocr --json --no-det $lines > oar-nodet.jsonl
"$oar" ocr --json $scenes > oar-scenes.jsonl

echo "## line images, recognition only (--no-det): oar vs ground truth and RapidOCR"
python3 "$here/ocr_score.py" . --pred oar-nodet.jsonl --ref ref-nodet.jsonl
echo "## line images: RapidOCR vs ground truth"
python3 "$here/ocr_score.py" . --pred ref-nodet.jsonl
echo "## scenes, full pipeline: oar vs ground truth and RapidOCR"
python3 "$here/ocr_score.py" . --pred oar-scenes.jsonl --ref ref-scenes.jsonl
echo "## scenes: RapidOCR vs ground truth"
python3 "$here/ocr_score.py" . --pred ref-scenes.jsonl
