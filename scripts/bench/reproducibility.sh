#!/usr/bin/env bash
# Same binary, recipe, seed and thread count: the same weights and metrics whatever else the
# machine is doing (issue 41). Runs the demo pipeline (pipelines/demo.toml: WNUT-17, real
# all-MiniLM-L6-v2, 200 steps) into three empty artifact stores:
#   alone       nothing else running,
#   busy        beside NEIGHBOURS CPU-saturating processes (`sh -c 'while :; do :; done'`),
#   one-thread  alone with `train.threads=1` (the thread count does change the last bits:
#               ATen's LayerNorm backward sums its weight and bias gradients per thread),
# and compares the best checkpoint's sha256 and the test entity F1 of each.
# Writes bench-results/reproducibility.md.
#
# Usage: scripts/bench/reproducibility.sh   (env: NEIGHBOURS=2 THREADS=2 ONE_THREAD=1)
set -euo pipefail
cd "$(dirname "$0")/../.."
NEIGHBOURS=${NEIGHBOURS:-2}
THREADS=${THREADS:-2}
ONE_THREAD=${ONE_THREAD:-1}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug/pipeline}
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
WORK=$(mktemp -d)
nb=()
cleanup() { for p in "${nb[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# One demo run into its own empty store: "<seconds> <best sha256> <test entity F1> <threads>".
run() {
  local name=$1; shift
  local start=$SECONDS
  "$BIN" run pipelines/demo.toml --artifacts "$WORK/$name" --set "train.threads=$THREADS" "$@" \
    > "$WORK/$name.out" 2> "$WORK/$name.err"
  local secs=$(( SECONDS - start ))
  local train eval
  train=$(ls -d "$WORK/$name"/demo/train/*/ | head -1)
  eval=$(ls -d "$WORK/$name"/demo/evaluate/*/ | head -1)
  local sha f1 threading
  sha=$(sha256sum "$train/checkpoints/best/model.safetensors" | cut -c1-16)
  f1=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics']['test']['entity_f1'])" "$eval/manifest.json")
  threading=$("$PY" -c "import json,sys; t=json.load(open(sys.argv[1]))['metrics']['threading']; print(t['intra_op_threads'], ' '.join(f'{k}={v}' for k,v in sorted(t['env'].items())))" "$train/manifest.json")
  echo "$secs $sha $f1 $threading"
}

alone=$(run alone)
echo "alone: $alone" >&2
for _ in $(seq "$NEIGHBOURS"); do timeout 3600 sh -c 'while :; do :; done' & nb+=($!); done
busy=$(run busy)
for p in "${nb[@]}"; do kill "$p" 2>/dev/null || true; done; nb=()
echo "busy: $busy" >&2
one="- - - -"
if [[ $ONE_THREAD == 1 ]]; then
  one=$(THREADS=1 run one-thread)
  echo "one thread: $one" >&2
fi

row() { read -r s h f t e <<<"$2"; echo "| $1 | $t | $h | $f | $s |"; }
{
  cat <<MD
# Same seed, same numbers: the demo alone, beside busy processes, and on one thread

Made by \`scripts/bench/reproducibility.sh\` on $(date -u +%F), code $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo '+changes'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)).
Each row is \`pipeline run pipelines/demo.toml --set train.threads=N\` (WNUT-17, real
all-MiniLM-L6-v2, 200 steps, seed 42) into its own empty artifact store; "busy" ran beside
$NEIGHBOURS CPU-saturating processes (\`sh -c 'while :; do :; done'\`). Hash: the first 16 hex
digits of the best checkpoint's \`model.safetensors\` sha256.

| run | libtorch threads | best checkpoint sha256 | test entity F1 | wall s (whole pipeline) |
|---|---:|---|---:|---:|
$(row "alone" "$alone")
$(row "beside $NEIGHBOURS busy processes" "$busy")
$(row "alone, one thread" "$one")

Threading recorded in the train manifests (threads, environment): alone \`$(cut -d' ' -f4- <<<"$alone")\`; busy \`$(cut -d' ' -f4- <<<"$busy")\`.
MD
} > bench-results/reproducibility.md
cat bench-results/reproducibility.md
