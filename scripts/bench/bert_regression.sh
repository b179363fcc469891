#!/usr/bin/env bash
# Does a change slow BERT down? Forward+backward tokens/s at all-MiniLM-L6-v2 shapes (batch 32,
# seq 64, token head, train mode) of the `fwd_bwd` example built at an earlier revision and at
# the working tree, with PyTorch transformers in the same alternating rounds so all three see
# the same machine load. Writes bench-results/bert_regression.md.
#
# Usage: scripts/bench/bert_regression.sh <old-rev> [rounds=3] [iters=10] [threads=$(nproc)]
set -euo pipefail
cd "$(dirname "$0")/../.."
OLD=${1:?usage: $0 <old-rev> [rounds] [iters] [threads]}
ROUNDS=${2:-3}
ITERS=${3:-10}
THREADS=${4:-$(nproc)}
MODEL=$PWD/models/all-MiniLM-L6-v2
BATCH=32
SEQ=64
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$TARGET
[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL: run make setup" >&2; exit 1; }
[[ -n ${LIBTORCH:-} ]] || export LIBTORCH=$(readlink -f .libtorch)

work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/old" "$OLD"
OLD_SHA=$(git -C "$work/old" rev-parse --short HEAD)
NEW_SHA="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates/bert || echo +changes)"
# One target directory serves both trees; cargo's fingerprints do not tell the two source
# paths apart, so each build touches its sources first.
build() {
  touch "$1"/crates/bert/src/*.rs "$1"/crates/bert/examples/fwd_bwd.rs
  (cd "$1" && cargo build --release -p bert --example fwd_bwd >&2)
  cp "$TARGET/release/examples/fwd_bwd" "$2"
}
build "$work/old" "$work/fwd_bwd_old"
build "$PWD" "$work/fwd_bwd_new"

tps() { sed -E 's/.*"tokens_per_s": ([0-9.]+).*/\1/'; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
old=(); new=(); hf=()
for r in $(seq "$ROUNDS"); do
  run() { "$work/fwd_bwd_$1" "$MODEL" $BATCH $SEQ "$ITERS" "$THREADS" | tail -1 | tps; }
  # Which build goes first alternates, so neither always meets the warmer or busier machine.
  if (( r % 2 )); then o=$(run old); n=$(run new); else n=$(run new); o=$(run old); fi
  t=$("$PY" scripts/bench/bert_fwd_bwd.py "$MODEL" $BATCH $SEQ "$ITERS" "$THREADS" 2>/dev/null | tail -1 | tps)
  echo "round $r: old $o, new $n, transformers $t tokens/s" >&2
  old+=("$o"); new+=("$n"); hf+=("$t")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
OM=$(median "${old[@]}"); NM=$(median "${new[@]}"); HM=$(median "${hf[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a/b}'; }

mkdir -p bench-results
cat > bench-results/bert_regression.md <<MD
# BERT forward+backward: $OLD_SHA against $NEW_SHA

Made by \`scripts/bench/bert_regression.sh $OLD\` on $(date -u +%Y-%m-%dT%H:%MZ).
all-MiniLM-L6-v2 with a 9-label token head, train mode, batch $BATCH, seq $SEQ, no padding,
cross-entropy and backward; $ITERS timed steps after 2 warm-up steps; $ROUNDS rounds alternating
old and new (which goes first alternates) and transformers; release profile, $THREADS threads each, $(nproc) CPUs
($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)). Load average at start:
$LOAD_START.

| | tokens/s per round | median | / transformers |
|---|---|---|---|
| old ($OLD_SHA) | ${old[*]} | $OM | $(ratio "$OM" "$HM") |
| new ($NEW_SHA) | ${new[*]} | $NM | $(ratio "$NM" "$HM") |
| transformers | ${hf[*]} | $HM | 1 |

**New / old (medians): $(ratio "$NM" "$OM").**
MD
cat bench-results/bert_regression.md
