#!/usr/bin/env bash
# Usage: tools/eval_datasets.sh [OUT_DIR]
# Runs `earshot eval` for every model on every ../shared dataset (the relevance rules of each
# dataset's SOURCES.txt) and prints one Markdown table per dataset: P@10 and mAP per metric.
# Catalogs and JSON results go to OUT_DIR (default /tmp/earshot-eval). Output format:
#   ### <dataset> (label=<col>, excluding same <col>)
#   | model | cosine P@10 | cosine mAP | euclidean ... |
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EARSHOT_BIN:-./build/release/earshot}
SHARED=${EARSHOT_SHARED_DIR:-../shared}
OUT=${1:-/tmp/earshot-eval}
MODELS=${MODELS:-"mn04 yamnet musicnn-msd musicnn-mtt mfcc"}
mkdir -p "$OUT"
run() {  # dataset label exclude
  local ds=$1 label=$2 excl=$3
  echo "### $ds (label=$label${excl:+, excluding items that share the query $excl})"
  echo
  echo "| model | cosine P@10 | cosine mAP | euclidean P@10 | euclidean mAP | manhattan P@10 | manhattan mAP | correlation P@10 | correlation mAP |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for m in $MODELS; do
    "$BIN" eval --manifest "$SHARED/datasets/$ds/manifest.csv" --label-column "$label" \
      ${excl:+--exclude-column "$excl"} --db "$OUT/$ds.earshot" --model "$m" --json -q \
      > "$OUT/$ds.$m.json"
    /usr/bin/python3 - "$OUT/$ds.$m.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
cells = []
for r in j["results"]:
    cells += ["%.3f" % r["p_at_10"], "%.3f" % r["map"]]
print("| %s | %s |" % (j["model"], " | ".join(cells)))
PY
  done
  echo
}
run gm_fluidr3 label group_id
run game_music label track_id
run ufoai_sfx label ""
run hedgewars_voices label ""
