#!/usr/bin/env bash
# GoEmotions (multi-label) with every source of randomness shared between our trainer and HF
# `Trainer`, as clinc150_same_order.sh does for single labels: the same initial weights (the
# pretrained encoder plus the multi-label head HF draws with the seed, saved once), the same
# batches in the same order (ours, from `cargo run -p train --example batch_order`, fed to HF
# through a fixed sampler), no dropout, and STEPS optimizer steps (the schedule is computed
# for STEPS on both sides). What is left to differ is the implementation (forward, BCE loss,
# backward, clipping, AdamW, schedule) and float rounding.
#
# Usage: scripts/bench/goemotions_same_order.sh [seed=42] [steps=300] [threads=1]
# Needs the ingest artifact of a goemotions.sh run (ART, default /tmp/goemotions-artifacts-SEED).
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${1:-42}
STEPS=${2:-300}
THREADS=${3:-1}
OUT=${OUT:-bench-results/tmp/goemotions}
ART=${ART:-/tmp/goemotions-artifacts-$SEED}
WORK=${WORK:-/tmp/goemotions-same-order}
PY=${BERTFLOW_VENV:-.venv}/bin/python
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
mkdir -p "$OUT" "$WORK"
ingest="$ART/goemotions/ingest/$(cat "$ART/goemotions/ingest/latest")"
INIT=$WORK/init-$SEED
ORDER=$WORK/order-$SEED.jsonl
[[ -s $INIT/model.safetensors ]] || "$PY" scripts/peers/train_hf_multilabel.py --data "$ingest" \
  --seed "$SEED" --save-init "$INIT" 2>/dev/null
n=$("$PY" -c "import pyarrow.parquet as pq,sys; print(pq.read_metadata(sys.argv[1]).num_rows)" "$ingest/train.parquet")
"$BIN_DIR/examples/batch_order" "$n" 32 "$SEED" 1 > "$ORDER"
"$PY" scripts/peers/train_hf_multilabel.py --data "$ingest" --model "$INIT" --dropout 0 \
  --order-file "$ORDER" --batch 32 --max-length 128 --max-steps "$STEPS" --seed "$SEED" \
  --threads "$THREADS" 2>"$WORK/hf-$SEED.log" | tail -1 > "$OUT/same-order_hf_$SEED.json" &
hf=$!
sets=(--set "train.seed=$SEED" --set "train.threads=$THREADS" --set "train.model=$INIT"
      --set train.dropout=0 --set "train.max_steps=$STEPS" --set evaluate.checkpoint=last)
"$BIN_DIR/pipeline" run pipelines/goemotions.toml --artifacts "$WORK/artifacts-$SEED" "${sets[@]}" \
  --until evaluate >&2
wait $hf
"$PY" - "$WORK/artifacts-$SEED" "$OUT/same-order_hf_$SEED.json" <<'PY' | tee "$OUT/same-order_$SEED.txt"
import glob, json, os, sys
art, hf_file = sys.argv[1], sys.argv[2]
base = os.path.join(art, "goemotions")
latest = lambda s: os.path.join(base, s, open(os.path.join(base, s, "latest")).read().strip())
hist = [json.loads(l) for l in open(os.path.join(latest("train"), "history.jsonl"))]
ours = {h["step"]: h["loss"] for h in hist if "loss" in h}
hf = json.load(open(hf_file))
print("step  HF loss (mean of 50 steps)  ours (same 50 steps)")
for e in hf["losses"]:
    s = e["step"]
    w = [ours[k] for k in range(s - 49, s + 1) if k in ours]
    print(f"{s:5d}  {e['loss']:.4f}  {sum(w) / len(w):.4f}")
ev = json.load(open(os.path.join(latest("evaluate"), "metrics.json")))
for key in ("micro", "macro"):
    print(f"test {key} F1 (tuned on dev): ours {ev['test'][key]['f1']:.4f}  HF {hf['test']['tuned_on_dev'][key + '_f1']:.4f}")
print(f"test mean ROC-AUC: ours {ev['test']['mean_roc_auc']:.4f}  HF {hf['test']['tuned_on_dev']['mean_roc_auc']:.4f}")
PY
