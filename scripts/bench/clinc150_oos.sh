#!/usr/bin/env bash
# CLINC150 with out-of-scope rejection (pipelines/clinc150.toml): our pipeline against HF
# Trainer (scripts/peers/train_hf_seq.py --out-of-scope oos) on the same ingest artifact
# (15,100 / 3,100 / 5,500 questions, 151 labels), same recipe, same weights, the same threshold
# rule (the smallest dev confidence threshold that rejects 80 % of dev's out-of-scope
# questions, scripts/peers/open_set.py on HF's side), both trainings side by side on one
# thread each. One JSON line per side lands in $OUT; bench-results/train.md records the table.
#
# Usage: scripts/bench/clinc150_oos.sh [seed=42] [threads=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${1:-42}
THREADS=${2:-1}
OUT=${OUT:-bench-results/tmp/clinc150-oos}
ART=${ART:-/tmp/clinc150-oos-artifacts}
PY=${BERTFLOW_VENV:-.venv}/bin/python
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
mkdir -p "$OUT"
sets=(--set "train.seed=$SEED" --set "train.threads=$THREADS")
"$BIN_DIR/pipeline" run pipelines/clinc150.toml --artifacts "$ART" "${sets[@]}" --until tokenize >&2
ingest="$ART/clinc150/ingest/$(cat "$ART/clinc150/ingest/latest")"
"$PY" scripts/peers/train_hf_seq.py --data "$ingest" --batch 32 --max-length 128 \
  --class-weights none --sampler random --seed "$SEED" --threads "$THREADS" \
  --out-of-scope oos --reject-target out_of_scope_recall=0.8 2>"$OUT/hf_$SEED.log" \
  | tail -1 > "$OUT/hf_$SEED.json" &
hf=$!
"$BIN_DIR/pipeline" run pipelines/clinc150.toml --artifacts "$ART" "${sets[@]}" --until evaluate >&2
wait $hf
"$PY" - "$ART" "$SEED" > "$OUT/ours_$SEED.json" <<'PY'
import json, os, sys
art, seed = sys.argv[1], int(sys.argv[2])
def latest(stage):
    base = os.path.join(art, "clinc150", stage)
    return os.path.join(base, open(os.path.join(base, "latest")).read().strip())
train = json.load(open(os.path.join(latest("train"), "manifest.json")))["metrics"]
ev = json.load(open(os.path.join(latest("evaluate"), "metrics.json")))
keys = ["in_scope_accuracy", "out_of_scope_recall", "out_of_scope_precision", "out_of_scope_f1",
        "coverage", "in_scope_precision"]
print(json.dumps({
    "side": "ours", "seed": seed, "train_seconds": round(train["train_seconds"], 1),
    "tokens_per_s": round(train["tokens_per_second"], 1), "steps": train["steps"],
    "threshold": ev["dev"]["open_set"]["rule"]["threshold"],
    **{s: {"accuracy": ev[s]["accuracy"], "macro_f1": ev[s]["macro_f1"], "top_k": ev[s]["top_k"],
           "open_set": {k: ev[s]["open_set"][k] for k in keys}} for s in ("dev", "test")},
}))
PY
cat "$OUT/ours_$SEED.json" "$OUT/hf_$SEED.json"
