#!/usr/bin/env bash
# HTTP serving on CPU: `serve` (crates/serve: token-based dynamic batching on one model thread)
# against a transformers text-classification pipeline behind Python's http.server
# (scripts/bench/serve_peer.py), both serving the same all-MiniLM-L6-v2 sequence checkpoint,
# loaded with wrk at 1, 8 and 64 concurrent connections, one CLINC150 test question per
# request. Writes bench-results/serve.md. Not part of the tests.
#
# Usage: scripts/bench/serve.sh
#   CKPT=<checkpoint dir>  serve this checkpoint (default: the newest train artifact's
#                          checkpoints/best under artifacts/, else a random-head MiniLM
#                          classifier made by the peer script; throughput does not depend on
#                          the weights)
#   DURATION=20s CONCURRENCY="1 8 64" THREADS=$(nproc) PROFILE=dev
# Needs wrk (apt-get install -y wrk) and, for the peer, transformers (SETUP_PEERS=1
# scripts/setup.sh); PEER=0 measures ours only.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-20s}
CONCURRENCY=${CONCURRENCY:-"1 8 64"}
THREADS=${THREADS:-$(nproc)}
PROFILE=${PROFILE:-dev}
PEER=${PEER:-1}
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
MODEL=models/all-MiniLM-L6-v2
DATA=data/clinc150/test.jsonl
PORT_OURS=${PORT_OURS:-18080}
PORT_PEER=${PORT_PEER:-18081}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[[ -f $DATA ]] || { echo "missing $DATA" >&2; exit 1; }

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

if [[ -z ${CKPT:-} ]]; then
  CKPT=$(ls -td artifacts/*/train/*/checkpoints/best 2>/dev/null | head -1 || true)
fi
if [[ -z ${CKPT:-} ]]; then
  [[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL: run make setup" >&2; exit 1; }
  CKPT=$WORK/ckpt
  labels=$("$PY" -c "import json; print(','.join(sorted({json.loads(l)['label'] for l in open('$DATA')})))")
  "$PY" scripts/bench/serve_peer.py make-checkpoint "$MODEL" "$CKPT" "$labels" 2>/dev/null
  CKPT_NOTE="all-MiniLM-L6-v2 with a random $(tr ',' '\n' <<<"$labels" | wc -l)-label head (made by serve_peer.py, seed 0)"
else
  CKPT_NOTE="\`$CKPT\`"
fi

# One JSON body per CLINC150 test question.
"$PY" -c "
import json
for l in open('$DATA'):
    print(json.dumps({'inputs': json.loads(l)['text']}))
" > "$WORK/bodies.jsonl"

cargo build --profile "$PROFILE" -p serve --all-targets >&2
DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN=${CARGO_TARGET_DIR:-target}/$DIR/serve

wait_up() {
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "server on port $1 did not come up" >&2; return 1
}

# wrk at each concurrency: "<req/s> <p50 ms> <p99 ms> <non-2xx>" per line.
load() {
  local port=$1 name=$2
  for c in $CONCURRENCY; do
    local t=$(( c < 2 ? 1 : 2 ))
    wrk -t "$t" -c "$c" -d "$DURATION" --timeout 30s --latency -s scripts/bench/serve_wrk.lua \
      "http://127.0.0.1:$port/predict" -- "$WORK/bodies.jsonl" > "$WORK/$name-$c.txt"
    local rps p50 p99 bad
    rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/$name-$c.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$WORK/$name-$c.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/$name-$c.txt")
    bad=$(awk '/Non-2xx/ {print $NF}' "$WORK/$name-$c.txt")
    echo "$c $rps $p50 $p99 ${bad:-0}"
    echo "$name c=$c: $rps req/s, p50 $p50, p99 $p99, non-2xx ${bad:-0}" >&2
  done
}

"$BIN" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT_OURS" --device cpu --threads "$THREADS" -q &
pids+=($!); wait_up "$PORT_OURS"
load "$PORT_OURS" ours > "$WORK/ours.tsv"
curl -s "http://127.0.0.1:$PORT_OURS/metrics" | grep -E '^serve_batch_requests_(sum|count)' > "$WORK/batches.txt"
kill -TERM "${pids[-1]}"; wait "${pids[-1]}" || true

if [[ $PEER == 1 ]]; then
  "$PY" scripts/bench/serve_peer.py serve "$CKPT" "$PORT_PEER" "$THREADS" 2>"$WORK/peer.log" &
  pids+=($!); wait_up "$PORT_PEER"
  load "$PORT_PEER" peer > "$WORK/peer.tsv"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
else
  for c in $CONCURRENCY; do echo "$c - - - -"; done > "$WORK/peer.tsv"
fi

BATCHES=$(awk '/_sum/ {s=$2} /_count/ {n=$2} END {if (n) printf "%.1f", s/n}' "$WORK/batches.txt")
mkdir -p bench-results
{
  cat <<MD
# Serving over HTTP on CPU: serve vs transformers behind http.server

Made by \`scripts/bench/serve.sh\` on $(date -u +%Y-%m-%dT%H:%MZ). Checkpoint: $CKPT_NOTE.
Load: wrk, one CLINC150 test question per POST /predict (in turn from the 5,500 questions),
$DURATION per concurrency level, keep-alive connections; $THREADS libtorch threads each,
$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), our build
profile: $PROFILE, our defaults (batches up to 16,384 sub-words of what queued while the last batch ran, no wait). The peer runs a
transformers \`pipeline("text-classification")\` per request under a lock (no batching),
truncation at 128 sub-words like ours. Same libtorch underneath both
(torch $("$PY" -c 'import torch; print(torch.__version__)')).

| concurrent clients | ours req/s | ours p50 | ours p99 | peer req/s | peer p50 | peer p99 | errors (ours / peer) |
|---|---|---|---|---|---|---|---|
MD
  paste -d' ' "$WORK/ours.tsv" "$WORK/peer.tsv" | while read -r c r1 a1 b1 e1 _ r2 a2 b2 e2; do
    echo "| $c | $r1 | $a1 | $b1 | $r2 | $a2 | $b2 | $e1 / $e2 |"
  done
  echo
  echo "Our requests per model batch over the whole run: $BATCHES on average (\`/metrics\`)."
  echo "wrk runs on the same CPUs as the server it loads; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} > bench-results/serve.md
cat bench-results/serve.md
