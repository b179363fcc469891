#!/usr/bin/env bash
# WNUT-17 fine-tuning of all-MiniLM-L6-v2 on the CPU: our train stage against HF Trainer
# (scripts/peers/train_hf.py) with the same recipe (lr 5e-5, batch 32, warmup ratio 0.1,
# weight decay 0.01, max_length 128, first-sub-token labels, seed 42). Prints both JSON
# result lines; bench-results/train.md records them.
#
# Usage: scripts/bench/train_wnut.sh [epochs=3] [max_steps=] [threads=$(nproc)]
# A max_steps value runs that many optimizer steps on both sides (a shorter budget).
# Binaries: ingest, tokenize, train and the `score` example, from $CARGO_TARGET_DIR/debug
# (deps are built at opt-level 2 and the compute is libtorch's, so debug is fast enough);
# set BIN_DIR to take them from elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS=${1:-3}
MAX_STEPS=${2:-}
THREADS=${3:-$(nproc)}
MODEL=models/all-MiniLM-L6-v2
DATA=data/wnut17
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
ART=${ART:-/tmp/train-bench-artifacts}
[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL: run make setup" >&2; exit 1; }
[[ -d $DATA ]] || { echo "missing $DATA (data/wnut17 in the project)" >&2; exit 1; }

ing=$("$BIN_DIR/ingest" --artifacts "$ART" --pipeline wnut --format conll --task token \
  --train "$DATA/wnut17train.conll" --dev "$DATA/emerging.dev.conll" \
  --test "$DATA/emerging.test.annotated" | tail -1)
tok=$("$BIN_DIR/tokenize" --artifacts "$ART" --pipeline wnut --ingest "$ing" --model "$MODEL" \
  --max-length 128 --label-mode first | tail -1 | awk '{print $1}')
echo "tokenize artifact: $tok" >&2

steps_args=(); peer_steps=()
if [[ -n $MAX_STEPS ]]; then steps_args=(--max-steps "$MAX_STEPS"); peer_steps=(--max-steps "$MAX_STEPS"); fi

trained=$("$BIN_DIR/train" --artifacts "$ART" --pipeline wnut --tokenize "$tok" --model "$MODEL" \
  --epochs "$EPOCHS" "${steps_args[@]}" --batch-size 32 --learning-rate 5e-5 --warmup-ratio 0.1 \
  --weight-decay 0.01 --seed 42 --threads "$THREADS" --device cpu --force | tail -1)
echo "train artifact: $trained" >&2
"$PY" - "$trained/manifest.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(json.dumps({"ours": "train", "steps": m["steps"], "epochs": m["epochs"],
                  "train_seconds": round(m["train_seconds"], 2), "train_tokens": m["train_tokens"],
                  "tokens_per_s": round(m["tokens_per_second"], 1), "best_dev": m["best"],
                  "peak_rss_mib": m["peak_rss_mib"]}))
EOF
"$BIN_DIR/examples/score" "$trained/checkpoints/last" "$tok" test | "$PY" -c \
  'import json,sys; d=json.load(sys.stdin); print(json.dumps({"ours_last_test_entity_f1": d["value"]}))'
"$BIN_DIR/examples/score" "$trained/checkpoints/best" "$tok" test | "$PY" -c \
  'import json,sys; d=json.load(sys.stdin); print(json.dumps({"ours_best_test_entity_f1": d["value"]}))'

"$PY" scripts/peers/train_hf.py --model "$MODEL" --epochs "$EPOCHS" "${peer_steps[@]}" \
  --threads "$THREADS" 2>/dev/null | tail -1
