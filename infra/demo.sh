#!/usr/bin/env bash
# make demo: generate a narrated sample lecture and locate two queries in it with the text
# scorer, offline: one the slides show, one only the teacher says.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export SEGLOCATE_DATA_DIR="${SEGLOCATE_DATA_DIR:-$PWD/.demo/store}"
export HF_HUB_OFFLINE=1
unset SEGLOCATE_BROKER_URL SEGLOCATE_S3_ENDPOINT
QUERY="${QUERY:-free-body diagram}"
SPOKEN_QUERY="${SPOKEN_QUERY:-when does Einstein show that mass is energy}"
LECTURE=.demo/lecture-narrated.mp4
start=$(date +%s%N)
if [ ! -f "$LECTURE" ]; then
    echo "demo: generating a 2-minute 720p sample lecture with a spoken narration ($LECTURE)"
    "$VENV/bin/python" -m producer.sample_lecture "$LECTURE" --narrate
fi
echo
echo "demo: seglocate locate $LECTURE --query \"$QUERY\" --scorer text"
"$VENV/bin/seglocate" locate "$LECTURE" --query "$QUERY" --scorer text --top-k 3 --json .demo/result.json
echo
echo "demo: a query no slide shows, only the narration says it (the 'matched' column tells):"
echo "demo: seglocate locate $LECTURE --query \"$SPOKEN_QUERY\" --scorer text"
"$VENV/bin/seglocate" locate "$LECTURE" --query "$SPOKEN_QUERY" --scorer text --top-k 3 \
    --json .demo/result-spoken.json
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo
printf 'demo: done in %d.%01d s (results also in .demo/result.json, .demo/result-spoken.json)\n' \
    $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100))
echo "demo: subtitles of what was said: seglocate transcript $LECTURE --format srt"
echo "demo: to search and watch it in your browser: make ui (then open http://127.0.0.1:7860)"
