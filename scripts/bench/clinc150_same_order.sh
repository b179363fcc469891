#!/usr/bin/env bash
# CLINC150 with every source of randomness shared between our trainer and HF `Trainer`: both
# start from the same initial weights (the pretrained encoder plus a head HF draws with the
# seed, saved once), see the same batches in the same order (our random order, written by
# `cargo run -p train --example batch_order`, fed to HF through a fixed sampler) and use no
# dropout. What is left to differ is the implementation itself (forward, loss, backward,
# clipping, AdamW, schedule) and float rounding, so the two runs should end within rounding
# noise of each other, far inside the seed-to-seed spread of the normal runs (clinc150.sh).
#
# Usage: scripts/bench/clinc150_same_order.sh [seed=42] [threads=1]
# Writes $OUT/same-order_ours_<seed>.json and $OUT/same-order_hf_<seed>.json (one JSON line
# each, as clinc150.sh) and runs the two sides at the same time.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${1:-42}
THREADS=${2:-1}
OUT=${OUT:-bench-results/tmp/clinc150}
WORK=${WORK:-/tmp/clinc150-same-order}
PY=${BERTFLOW_VENV:-.venv}/bin/python
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
D=data/clinc150
mkdir -p "$OUT" "$WORK"
INIT=$WORK/init-$SEED
ORDER=$WORK/order-$SEED.jsonl
[[ -s $INIT/model.safetensors ]] || "$PY" scripts/peers/train_hf_seq.py \
  --files "$D/train.jsonl" "$D/dev.jsonl" "$D/test.jsonl" --seed "$SEED" --save-init "$INIT" 2>/dev/null
n=$(grep -c . "$D/train.jsonl")
"$BIN_DIR/examples/batch_order" "$n" 32 "$SEED" 3 > "$ORDER"

hf() {
  "$PY" scripts/peers/train_hf_seq.py --files "$D/train.jsonl" "$D/dev.jsonl" "$D/test.jsonl" \
    --model "$INIT" --dropout 0 --order-file "$ORDER" --batch 32 --max-length 128 \
    --class-weights none --seed "$SEED" --threads "$THREADS" 2>"$WORK/hf-$SEED.log" | tail -1 \
    > "$OUT/same-order_hf_$SEED.json"
}
ours() {
  OURS_SET="train.model=$INIT train.dropout=0 train.group_by_length=false evaluate.checkpoint=last" \
    ART="$WORK/artifacts-$SEED" OUT="$WORK/ours" scripts/bench/clinc150.sh "$SEED" "$THREADS" ours \
    2>"$WORK/ours-$SEED.log"
  cp "$WORK"/ours/ours_*_"$SEED".json "$OUT/same-order_ours_$SEED.json"
}
hf & hf_pid=$!
ours
wait "$hf_pid"
for side in ours hf; do
  echo "$side: $(head -c 400 "$OUT/same-order_${side}_$SEED.json")"
done
