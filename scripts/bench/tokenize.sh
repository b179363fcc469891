#!/usr/bin/env bash
# Tokenize throughput: ours (release; encode + labels + windows + zstd Parquet write) against
# Python `tokenizers` `encode_batch` (encode only) on WNUT-17 train repeated to >= 1M words,
# alternating runs in one script run. Writes bench-results/tokenize.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONLL=data/wnut17/wnut17train.conll
MODEL=models/all-MiniLM-L6-v2
MIN_WORDS=${MIN_WORDS:-1000000}
ROUNDS=${ROUNDS:-3}
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
[ -f "$CONLL" ] || { echo "missing $CONLL (shared data)" >&2; exit 1; }
[ -f "$MODEL/tokenizer.json" ] || { echo "missing $MODEL (run scripts/setup.sh)" >&2; exit 1; }

# PROFILE=dev reuses the test build (dependencies, where the encoding happens, are built at
# opt-level 2 in this workspace); the default is a release build.
PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" -p tokenize --example bench >&2
DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN="$CARGO_TARGET_DIR/$DIR/examples/bench"

LOG=$(mktemp)
for _ in $(seq "$ROUNDS"); do
    "$PY" scripts/bench/tokenize_peer.py "$CONLL" "$MODEL" "$MIN_WORDS" 1 | tee -a "$LOG"
    "$BIN" "$CONLL" "$MODEL" "$MIN_WORDS" 1 | tee -a "$LOG"
done

mkdir -p bench-results
PROFILE=$PROFILE "$PY" - "$LOG" <<'PYEOF' > bench-results/tokenize.md
import json, os, platform, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["impl"], []).append(r)
py = statistics.median(r["words_per_s"] for r in by["python-tokenizers"])
rs = statistics.median(r["words_per_s"] for r in by["rust"])
words = by["rust"][0]["words"]
print("# Tokenize throughput\n")
print(f"Corpus: WNUT-17 train repeated to {words:,} words ({by['rust'][0]['examples']:,} sentences), "
      f"all-MiniLM-L6-v2 `tokenizer.json`, padding and truncation off. "
      f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), shared with other jobs; "
      f"{len(by['rust'])} alternating runs each, median reported.\n")
print("| implementation | what is timed | words/s (median) | runs (words/s) |")
print("|---|---|---:|---|")
print(f"| Python `tokenizers` `encode_batch(is_pretokenized=True)` | encode only | {py:,.0f} | "
      + ", ".join(f"{r['words_per_s']:,.0f}" for r in by["python-tokenizers"]) + " |")
print(f"| ours (`tokenize`, {os.environ.get('PROFILE', 'release')} build) | encode + label alignment + windows + zstd Parquet write | {rs:,.0f} | "
      + ", ".join(f"{r['words_per_s']:,.0f}" for r in by["rust"]) + " |")
enc = statistics.median(r["encode_seconds"] / r["seconds"] for r in by["rust"])
print(f"\n**Ratio ours / Python: {rs / py:.2f}×** (goal ≥ 1.0×). "
      f"Share of our time spent encoding (rest: Parquet): {enc:.0%}.\n")
print(f"Our build profile: {os.environ.get('PROFILE', 'release')}. "
      "Reproduce: `scripts/bench/tokenize.sh` (env `MIN_WORDS`, `ROUNDS`, `PROFILE`).")
PYEOF
rm -f "$LOG"
cat bench-results/tokenize.md
