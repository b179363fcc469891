#!/usr/bin/env bash
# Speed cost of the batch order on a sequence task: CLINC150 (pipelines/clinc150-inscope.toml), the
# same first STEPS optimizer steps with length-grouped batches and with a random order (the
# sequence-task default), one after the other on an otherwise idle machine, THREADS threads.
# Prints train seconds, steps/s and non-pad tokens/s of each (train stage manifest metrics).
#
# Usage: scripts/bench/clinc150_sampler_speed.sh [steps=150] [threads=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-150}
THREADS=${2:-2}
ART=${ART:-/tmp/clinc150-sampler-speed}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
for grouped in true false; do
  "$BIN_DIR/pipeline" run pipelines/clinc150-inscope.toml --artifacts "$ART" --until train \
    --set "train.max_steps=$STEPS" --set "train.threads=$THREADS" \
    --set "train.group_by_length=$grouped" --set train.save_best=false 2>/dev/null >&2
  base="$ART/clinc150-inscope/train"
  python3 - "$base/$(cat "$base/latest")/manifest.json" "$grouped" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(json.dumps({"group_by_length": sys.argv[2] == "true", "batch_order": m.get("batch_order"),
                  "steps": m["steps"], "train_seconds": round(m["train_seconds"], 1),
                  "steps_per_s": round(m["steps"] / m["train_seconds"], 3),
                  "tokens_per_s": round(m["tokens_per_second"], 1)}))
PY
done
