#!/usr/bin/env bash
# make demo: generate a sample lecture and locate a query in it with the OCR scorer, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export SEGLOCATE_DATA_DIR="${SEGLOCATE_DATA_DIR:-$PWD/.demo/store}"
export HF_HUB_OFFLINE=1
unset SEGLOCATE_BROKER_URL SEGLOCATE_S3_ENDPOINT
QUERY="${QUERY:-free-body diagram}"
start=$(date +%s%N)
if [ ! -f .demo/lecture.mp4 ]; then
    echo "demo: generating a 2-minute 720p sample lecture (.demo/lecture.mp4)"
    "$VENV/bin/python" -m producer.sample_lecture .demo/lecture.mp4
fi
echo "demo: seglocate locate .demo/lecture.mp4 --query \"$QUERY\" --scorer ocr"
"$VENV/bin/seglocate" locate .demo/lecture.mp4 --query "$QUERY" --scorer ocr --top-k 3 --json .demo/result.json
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
printf 'demo: done in %d.%01d s (result also in .demo/result.json)\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))
echo "demo: to search and watch it in your browser: make ui (then open http://127.0.0.1:7860)"
