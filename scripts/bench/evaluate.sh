#!/usr/bin/env bash
# Inference tokens/s on CPU: evaluate::infer (crates/evaluate/examples/bench_infer.rs) against
# transformers (scripts/bench/evaluate_peer.py) on the same checkpoint (all-MiniLM-L6-v2 with a
# 13-label token head), the same data (WNUT-17 test, 1,287 tweets), the same batch size and
# max_length, alternating rounds in one script run so both see the same machine load.
# Writes bench-results/evaluate.md.
#
# Usage: scripts/bench/evaluate.sh [rounds=3] [batch=32] [threads=$(nproc)]
# PROFILE=release builds the example in release (slow first build); default: the dev profile,
# whose dependencies are built at opt-level 2 (all heavy work happens inside libtorch).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
BATCH=${2:-32}
THREADS=${3:-$(nproc)}
MAXLEN=128
PROFILE=${PROFILE:-dev}
MODEL=models/all-MiniLM-L6-v2
DATA=data/wnut17/emerging.test.annotated
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL: run make setup" >&2; exit 1; }
[[ -f $DATA ]] || { echo "missing $DATA (the shared data folder next to the project)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CKPT=$WORK/ckpt
"$PY" scripts/bench/evaluate_peer.py make-checkpoint "$MODEL" "$CKPT" "$DATA" 2>/dev/null

cargo build --profile "$PROFILE" -p evaluate --example bench_infer >&2
DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN=${CARGO_TARGET_DIR:-target}/$DIR/examples/bench_infer

ours=(); theirs=()
for r in $(seq "$ROUNDS"); do
  t=$("$PY" scripts/bench/evaluate_peer.py bench "$CKPT" "$DATA" "$BATCH" $MAXLEN "$THREADS" 2>/dev/null | tail -1)
  o=$("$BIN" "$CKPT" "$DATA" "$BATCH" $MAXLEN "$THREADS" | tail -1)
  echo "round $r: $t" >&2; echo "round $r: $o" >&2
  theirs+=("$(sed -E 's/.*"tokens_per_s": ?([0-9.]+).*/\1/' <<<"$t")")
  ours+=("$(sed -E 's/.*"tokens_per_s": ?([0-9.]+).*/\1/' <<<"$o")")
  TT=$(sed -E 's/.*"tokens": ?([0-9]+).*/\1/' <<<"$t"); OT=$(sed -E 's/.*"tokens": ?([0-9]+).*/\1/' <<<"$o")
done

best() { printf '%s\n' "$@" | sort -g | tail -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
OB=$(best "${ours[@]}"); TB=$(best "${theirs[@]}")
OM=$(median "${ours[@]}"); TM=$(median "${theirs[@]}")
RATIO_BEST=$(awk -v a="$OB" -v b="$TB" 'BEGIN {printf "%.3f", a/b}')
RATIO_MED=$(awk -v a="$OM" -v b="$TM" 'BEGIN {printf "%.3f", a/b}')

mkdir -p bench-results
cat > bench-results/evaluate.md <<MD
# Inference on CPU: evaluate::infer vs transformers

Made by \`scripts/bench/evaluate.sh\` on $(date -u +%Y-%m-%dT%H:%MZ).
Checkpoint all-MiniLM-L6-v2 with a 13-label token head (made once by the peer script, loaded
by both), WNUT-17 test (1,287 tweets; sub-word tokens: ours $OT, transformers $TT), batch
$BATCH, max_length $MAXLEN, batches sorted by length with dynamic padding, eval mode, no grad,
softmax, the first sub-word's probabilities of every word copied out; one warm-up pass, one
timed pass per round, $ROUNDS alternating rounds, $THREADS threads each, $(nproc) CPUs
($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), our build profile: $PROFILE.
Same libtorch (torch $("$PY" -c 'import torch; print(torch.__version__)')) underneath both.

| | tokens/s per round | best | median |
|---|---|---|---|
| ours (evaluate::infer, tch) | ${ours[*]} | $OB | $OM |
| transformers | ${theirs[*]} | $TB | $TM |

**Ratio ours / transformers: $RATIO_BEST (best), $RATIO_MED (median).** Goal in issue 7: ≥ 2.
MD
cat bench-results/evaluate.md
