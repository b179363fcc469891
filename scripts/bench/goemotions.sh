#!/usr/bin/env bash
# GoEmotions-Ekman, multi-label (pipelines/goemotions.toml): our pipeline against HF Trainer
# (scripts/peers/train_hf_multilabel.py, problem_type="multi_label_classification") on the same
# ingest artifact (43,410 / 5,426 / 5,427 comments, 7 labels), same recipe (1 epoch, batch 32,
# lr 5e-5, warmup 0.1, weight decay 0.01, max_length 128), same pretrained weights, both
# trainings side by side on one thread each. Scores at p > 0.5 and with thresholds tuned per
# label on dev (the same rule on both sides). One JSON line per side lands in $OUT;
# bench-results/train.md records the table.
#
# Usage: scripts/bench/goemotions.sh [seed=42] [threads=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${1:-42}
THREADS=${2:-1}
OUT=${OUT:-bench-results/tmp/goemotions}
ART=${ART:-/tmp/goemotions-artifacts-$SEED}
PY=${BERTFLOW_VENV:-.venv}/bin/python
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
mkdir -p "$OUT"
sets=(--set "train.seed=$SEED" --set "train.threads=$THREADS")
"$BIN_DIR/pipeline" run pipelines/goemotions.toml --artifacts "$ART" "${sets[@]}" --until tokenize >&2
ingest="$ART/goemotions/ingest/$(cat "$ART/goemotions/ingest/latest")"
"$PY" scripts/peers/train_hf_multilabel.py --data "$ingest" --batch 32 --max-length 128 \
  --epochs 1 --seed "$SEED" --threads "$THREADS" 2>"$OUT/hf_$SEED.log" \
  | tail -1 > "$OUT/hf_$SEED.json" &
hf=$!
"$BIN_DIR/pipeline" run pipelines/goemotions.toml --artifacts "$ART" "${sets[@]}" --until evaluate >&2
wait $hf
# The same checkpoint at HF's plain 0.5: only evaluate re-runs.
"$BIN_DIR/pipeline" run pipelines/goemotions.toml --artifacts "$ART" "${sets[@]}" \
  --set evaluate.tune_thresholds=false --until evaluate >&2
"$PY" - "$ART" "$SEED" > "$OUT/ours_$SEED.json" <<'PY'
import json, os, sys
art, seed = sys.argv[1], int(sys.argv[2])
base = os.path.join(art, "goemotions")
def artifacts(stage):
    d = os.path.join(base, stage)
    return [os.path.join(d, x) for x in os.listdir(d) if x != "latest" and not x.startswith(".")]
def pick(m):
    return {"micro_f1": m["micro"]["f1"], "macro_f1": m["macro"]["f1"],
            "samples_f1": m["samples"]["f1"], "hamming_loss": m["hamming_loss"],
            "subset_accuracy": m["subset_accuracy"], "mean_roc_auc": m["mean_roc_auc"]}
train = json.load(open(os.path.join(base, "train", open(os.path.join(base, "train", "latest")).read().strip(), "manifest.json")))["metrics"]
out = {"side": "ours", "seed": seed, "train_seconds": round(train["train_seconds"], 1),
       "tokens_per_s": round(train["tokens_per_second"], 1), "steps": train["steps"]}
for d in artifacts("evaluate"):
    man = json.load(open(os.path.join(d, "manifest.json")))
    if man["params"].get("tune_thresholds"):
        key = "tuned_on_dev"
    else:
        key = "at_0_5"
    ev = json.load(open(os.path.join(d, "metrics.json")))
    for s in ("dev", "test"):
        out.setdefault(s, {})[key] = pick(ev[s])
    if key == "tuned_on_dev":
        out["thresholds"] = ev["dev"]["decision"]["thresholds"]
print(json.dumps(out))
PY
cat "$OUT/ours_$SEED.json" "$OUT/hf_$SEED.json"
