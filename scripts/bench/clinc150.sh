#!/usr/bin/env bash
# CLINC150 (150 intents, in scope) fine-tuning of all-MiniLM-L6-v2 on the CPU: our pipeline
# (pipelines/clinc150-inscope.toml) against HF Trainer (scripts/peers/train_hf_seq.py) on the same
# files with the same recipe (lr 5e-5, batch 32, 3 epochs, warmup ratio 0.1, weight decay 0.01,
# max_length 128, no class weights), for several seeds and both HF samplers (its default random
# order and group_by_length). One JSON line per run lands in $OUT; bench-results/train.md
# records the table.
#
# Usage: scripts/bench/clinc150.sh [seeds="42 43 44"] [threads=1] [which="ours hf-random hf-group"]
# Extra settings for our side: OURS_SET="train.group_by_length=false" (space-separated --set
# values), recorded in the JSON line. The pipeline binary comes from $CARGO_TARGET_DIR/debug.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${1:-42 43 44}
THREADS=${2:-1}
WHICH=${3:-ours hf-random hf-group}
OUT=${OUT:-bench-results/tmp/clinc150}
ART=${ART:-/tmp/clinc150-artifacts}
PY=${BERTFLOW_VENV:-.venv}/bin/python
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
mkdir -p "$OUT"
D=data/clinc150
for seed in $SEEDS; do
  for who in $WHICH; do
    case $who in
      ours)
        sets=(--set "train.seed=$seed" --set "train.threads=$THREADS")
        tag=""
        for s in ${OURS_SET:-}; do sets+=(--set "$s"); tag+="_${s//[^a-z0-9]/-}"; done
        out="$OUT/ours${tag}_$seed.json"
        [[ -s $out ]] && continue
        start=$(date +%s)
        "$BIN_DIR/pipeline" run pipelines/clinc150-inscope.toml --artifacts "$ART" "${sets[@]}" \
          --until evaluate >&2
        wall=$(( $(date +%s) - start ))
        "$PY" - "$ART" "$seed" "${OURS_SET:-}" "$wall" > "$out" <<'PY'
import json, os, sys
art, seed, extra, wall = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def latest(stage):
    base = os.path.join(art, "clinc150-inscope", stage)
    return os.path.join(base, open(os.path.join(base, "latest")).read().strip())
train = json.load(open(os.path.join(latest("train"), "manifest.json")))["metrics"]
ev = json.load(open(os.path.join(latest("evaluate"), "metrics.json")))
hist = [json.loads(l) for l in open(os.path.join(latest("train"), "history.jsonl"))]
print(json.dumps({
    "side": "ours", "seed": seed, "set": extra, "wall_s": wall,
    "train_seconds": round(train["train_seconds"], 1),
    "tokens_per_s": round(train["tokens_per_second"], 1), "steps": train["steps"],
    "dev": {"accuracy": ev["dev"]["accuracy"], "macro_f1": ev["dev"]["macro_f1"]},
    "test": {"accuracy": ev["test"]["accuracy"], "macro_f1": ev["test"]["macro_f1"]},
    "losses": [{"step": h["step"], "loss": h["loss"]} for h in hist if "loss" in h],
}))
PY
        ;;
      hf-random|hf-group)
        out="$OUT/$who"_"$seed.json"
        [[ -s $out ]] && continue
        "$PY" scripts/peers/train_hf_seq.py --files "$D/train.jsonl" "$D/dev.jsonl" "$D/test.jsonl" \
          --batch 32 --max-length 128 --class-weights none --sampler "${who#hf-}" --seed "$seed" \
          --threads "$THREADS" 2>/dev/null | tail -1 > "$out.tmp"
        mv "$out.tmp" "$out"
        ;;
    esac
    echo "$who seed $seed: $(cat "$out" | head -c 300)" >&2
  done
done
