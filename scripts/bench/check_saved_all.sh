#!/usr/bin/env bash
# Every model family's saved directories load in transformers with the logits ours computed:
# the bert crate's tests save them (BERT_KEEP_SAVED), scripts/fixtures/bert/check_saved.py loads
# each in transformers and prints the max abs logit difference. Writes
# bench-results/check_saved.md with the raw output. Needs the Python peers (SETUP_PEERS=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
KEEP=$(mktemp -d)
trap 'rm -rf "$KEEP"' EXIT
BERT_KEEP_SAVED="$KEEP/bert" cargo test -q --workspace --test it saved_directory_reloads >&2
BERT_KEEP_SAVED="$KEEP/fam" cargo test -q --workspace --test it saved_directories_use_transformers_names >&2
out=$(
  echo "== bert"; "$PY" scripts/fixtures/bert/check_saved.py "$KEEP/bert" 2>&1
  for d in "$KEEP"/fam/*/; do
    echo "== $(basename "$d")"; "$PY" scripts/fixtures/bert/check_saved.py "$d" 2>&1
  done
)
{
  echo "# Saved directories load in transformers"
  echo
  echo "Made by \`scripts/bench/check_saved_all.sh\` on $(date -u +%F), code $(git rev-parse --short HEAD), transformers $("$PY" -c 'import transformers; print(transformers.__version__)'). Raw output of \`scripts/fixtures/bert/check_saved.py\` per family:"
  echo
  echo '```'
  echo "$out"
  echo '```'
} > bench-results/check_saved.md
cat bench-results/check_saved.md
