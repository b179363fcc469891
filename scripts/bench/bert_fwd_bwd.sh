#!/usr/bin/env bash
# Forward+backward tokens/s on CPU at all-MiniLM-L6-v2 shapes (batch 32, seq 64): our tch
# BERT (crates/bert/examples/fwd_bwd.rs) against PyTorch transformers, alternating runs in
# one script run so both see the same machine load. Writes bench-results/bert.md.
#
# Usage: scripts/bench/bert_fwd_bwd.sh [rounds=3] [iters=10] [threads=$(nproc)]
# BENCH_PROFILE=dev uses the dev profile (dependencies, tch included, are built at opt-level 2
# there; our crate only sequences libtorch calls) when a release build is too costly.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
ITERS=${2:-10}
THREADS=${3:-$(nproc)}
MODEL=models/all-MiniLM-L6-v2
BATCH=32
SEQ=64
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL: run make setup" >&2; exit 1; }

PROFILE=${BENCH_PROFILE:-release}
cargo build --profile "$PROFILE" -p bert --example fwd_bwd >&2
PROFILE_DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE_DIR/examples/fwd_bwd

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ours=(); theirs=()
for r in $(seq "$ROUNDS"); do
  t=$("$PY" scripts/bench/bert_fwd_bwd.py "$MODEL" $BATCH $SEQ "$ITERS" "$THREADS" 2>/dev/null | tail -1)
  o=$("$BIN" "$MODEL" $BATCH $SEQ "$ITERS" "$THREADS" | tail -1)
  echo "round $r: $t" >&2; echo "round $r: $o" >&2
  theirs+=("$(sed -E 's/.*"tokens_per_s": ([0-9.]+).*/\1/' <<<"$t")")
  ours+=("$(sed -E 's/.*"tokens_per_s": ([0-9.]+).*/\1/' <<<"$o")")
done

best() { printf '%s\n' "$@" | sort -g | tail -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
OB=$(best "${ours[@]}"); TB=$(best "${theirs[@]}")
OM=$(median "${ours[@]}"); TM=$(median "${theirs[@]}")
RATIO_BEST=$(awk -v a="$OB" -v b="$TB" 'BEGIN {printf "%.3f", a/b}')
RATIO_MED=$(awk -v a="$OM" -v b="$TM" 'BEGIN {printf "%.3f", a/b}')

mkdir -p bench-results
cat > bench-results/bert.md <<MD
# BERT forward+backward on CPU: tch vs PyTorch transformers

Made by \`scripts/bench/bert_fwd_bwd.sh\` on $(date -u +%Y-%m-%dT%H:%MZ).
Model all-MiniLM-L6-v2 with a 9-label token head, train mode (dropout on), batch $BATCH,
seq $SEQ, no padding, cross-entropy loss and backward; $ITERS timed steps after 2 warm-up
steps, $ROUNDS alternating rounds, cargo profile \`$PROFILE\`, $THREADS threads each, $(nproc) CPUs
($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)). Same libtorch
(torch $("$PY" -c 'import torch; print(torch.__version__)')) underneath both. Load average at
start: $LOAD_START (other processes share the CPUs: compare rounds, not single numbers).

| | tokens/s per round | best | median |
|---|---|---|---|
| ours (tch) | ${ours[*]} | $OB | $OM |
| transformers | ${theirs[*]} | $TB | $TM |

**Ratio ours / transformers: $RATIO_BEST (best), $RATIO_MED (median).** Goal ≥ 1.0.
MD
cat bench-results/bert.md
