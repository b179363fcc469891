#!/usr/bin/env bash
# Graceful on a busy CPU (issue 42): training and serving with 0, 1 and 2 single-threaded
# CPU-bound neighbours (`sh -c 'while :; do :; done'`, each bounded by `timeout`), for
#   ours    the binaries as shipped (threading configured at start-up: GOMP_SPINCOUNT, see
#           crates/torch-link/src/threading.rs),
#   before  the same binaries with BERTFLOW_THREADING=off (libgomp's defaults: what every
#           build before issue 42 ran with),
#   peer    HF Trainer (scripts/peers/train_hf.py) for training; a dynamic-batching Python
#           server (scripts/bench/serve_peer.py serve-batching) for serving.
# Rounds alternate ours/before/peer at each load, so drift of the machine hits all alike.
# Training: WNUT-17, all-MiniLM-L6-v2, STEPS optimizer steps of batch 32 (train tokens/s from
# the manifest; weight hash of the last checkpoint, which must not depend on the setting).
# Serving: the trained checkpoint, wrk at CONCURRENCY clients for DURATION each.
# Writes bench-results/contention.md (raw lines in bench-results/contention.raw.txt).
#
# Usage: scripts/bench/contention.sh   (env: STEPS=30 DURATION=15s CONCURRENCY="1 8 64"
#        LOADS="0 1 2" ROUNDS=2 PEER=1 THREADS=$(nproc) PROFILE=dev)
# Needs wrk (apt-get install -y wrk) and the Python peers (SETUP_PEERS=1 scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-30}
DURATION=${DURATION:-15s}
CONCURRENCY=${CONCURRENCY:-"1 8 64"}
LOADS=${LOADS:-"0 1 2"}
ROUNDS=${ROUNDS:-2}
PEER=${PEER:-1}
THREADS=${THREADS:-$(nproc)}
PROFILE=${PROFILE:-dev}
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
MODEL=models/all-MiniLM-L6-v2
DATA=data/wnut17
DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/$DIR}
ART=${ART:-$(mktemp -d)/artifacts}
PORT=${PORT:-18090}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
for b in ingest tokenize train serve; do
  [[ -x $BIN_DIR/$b ]] || { echo "missing $BIN_DIR/$b: cargo build --workspace" >&2; exit 1; }
done

WORK=$(mktemp -d)
RAW=bench-results/contention.raw.txt
mkdir -p bench-results
: > "$RAW"
nb=(); srv=()
stop_neighbours() { for p in "${nb[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${nb[@]}" 2>/dev/null || true; nb=(); }
cleanup() { stop_neighbours; for p in "${srv[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
neighbours() {
  for _ in $(seq "$1"); do timeout 1800 sh -c 'while :; do :; done' & nb+=($!); done
}
raw() { echo "$*" | tee -a "$RAW" >&2; }

ing=$("$BIN_DIR/ingest" --artifacts "$ART" --pipeline wnut --format conll --task token \
  --train "$DATA/wnut17train.conll" --dev "$DATA/emerging.dev.conll" \
  --test "$DATA/emerging.test.annotated" -q | tail -1)
tok=$("$BIN_DIR/tokenize" --artifacts "$ART" --pipeline wnut --ingest "$ing" --model "$MODEL" \
  --max-length 128 --label-mode first -q | tail -1 | awk '{print $1}')

# One training run: "<tokens/s> <weights sha256>".
train_ours() {
  local dir
  dir=$(env "$@" "$BIN_DIR/train" --artifacts "$ART" --pipeline wnut --tokenize "$tok" \
    --model "$MODEL" --max-steps "$STEPS" --batch-size 32 --learning-rate 5e-5 \
    --warmup-ratio 0.1 --weight-decay 0.01 --seed 42 --threads "$THREADS" --device cpu \
    --force -q | tail -1)
  local tps hash
  tps=$("$PY" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['metrics']['tokens_per_second'],1))" "$dir/manifest.json")
  hash=$(sha256sum "$dir/checkpoints/last/model.safetensors" | cut -c1-16)
  echo "$tps $hash"
  CKPT=$dir/checkpoints/last
}
train_peer() {
  "$PY" scripts/peers/train_hf.py --model "$MODEL" --max-steps "$STEPS" --threads "$THREADS" \
    --skip-test 2>/dev/null | tail -1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"], "-")'
}

"$PY" -c "
import json
for l in open('data/clinc150/test.jsonl'):
    print(json.dumps({'inputs': json.loads(l)['text']}))
" > "$WORK/bodies.jsonl"

wait_up() {
  for _ in $(seq 900); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server did not come up" >&2; return 1
}
# wrk at one concurrency against the server on $PORT: "<req/s> <p50> <p99>".
load() {
  local c=$1 t=$(( $1 < 2 ? 1 : 2 ))
  wrk -t "$t" -c "$c" -d "$DURATION" --timeout 30s --latency -s scripts/bench/serve_wrk.lua \
    "http://127.0.0.1:$PORT/predict" -- "$WORK/bodies.jsonl" > "$WORK/wrk.txt"
  echo "$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt") $(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt") $(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")"
}
serve_start() {
  case $1 in
    ours) "$BIN_DIR/serve" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT" --device cpu --threads "$THREADS" -q & ;;
    before) BERTFLOW_THREADING=off "$BIN_DIR/serve" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT" --device cpu --threads "$THREADS" -q & ;;
    peer) "$PY" scripts/bench/serve_peer.py serve-batching "$CKPT" "$PORT" "$THREADS" 2>/dev/null & ;;
  esac
  srv+=($!); wait_up
}
serve_stop() { kill "${srv[-1]}" 2>/dev/null || true; wait "${srv[-1]}" 2>/dev/null || true; unset 'srv[-1]'; }

sides="ours before"
[[ $PEER == 1 ]] && sides="$sides peer"
train_ours > /dev/null  # sets CKPT, warms the caches
for load_n in $LOADS; do
  for r in $(seq "$ROUNDS"); do
    neighbours "$load_n"
    for side in $sides; do
      case $side in
        ours) out=$(train_ours) ;;
        before) out=$(train_ours BERTFLOW_THREADING=off) ;;
        peer) out=$(train_peer) ;;
      esac
      raw "train load=$load_n round=$r side=$side tokens_per_s_and_hash=$out"
    done
    for side in $sides; do
      serve_start "$side"
      for c in $CONCURRENCY; do
        raw "serve load=$load_n round=$r side=$side clients=$c rps_p50_p99=$(load "$c")"
      done
      serve_stop
    done
    stop_neighbours
  done
done

"$PY" scripts/bench/contention_table.py "$RAW" "$STEPS" "$DURATION" "$THREADS" > bench-results/contention.md
cat bench-results/contention.md
