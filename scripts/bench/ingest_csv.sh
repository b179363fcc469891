#!/usr/bin/env bash
# Benchmark (not a test) of the ingest stage on a generated 1,000,000-row CSV:
# rows/s and peak RSS of the release binary, written to bench-results/ingest.md.
#
#   scripts/bench/ingest_csv.sh [ROWS]
#
# Builds `ingest` in release mode (CARGO_TARGET_DIR is honoured), generates the CSV in /tmp
# (id, text, label, score: ~20 random words per row, 3 labels, 1% exact duplicates), runs a
# seeded split with default cleaning, and reads peak RSS from /usr/bin/time -v when present,
# else from the kernel's VmHWM of the process.
set -euo pipefail

ROWS=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d /tmp/ingest-bench.XXXXXX)
CSV=$WORK/data.csv
OUT=$ROOT/bench-results/ingest.md
trap 'rm -rf "$WORK"' EXIT

# INGEST_BIN=<path> measures an existing binary instead of building the release one.
if [ -n "${INGEST_BIN:-}" ]; then
  BIN=$INGEST_BIN
  BUILD="binary $BIN (not the release build)"
else
  echo "building release binary..." >&2
  (cd "$ROOT" && cargo build --release -p ingest --quiet)
  BIN=$TARGET/release/ingest
  BUILD="release build"
fi

echo "generating $ROWS rows into $CSV..." >&2
awk -v rows="$ROWS" 'BEGIN {
  srand(7);
  n = split("the a film movie plot actor great bad boring superb music scene story ending long short funny sad dark light slow fast", w, " ");
  split("pos neg neutral", lab, " ");
  print "id,text,label,score";
  for (i = 1; i <= rows; i++) {
    if (i > 1 && i % 100 == 0) { print "r" i "," last; continue }
    len = 10 + int(rand() * 20); t = "";
    for (j = 0; j < len; j++) t = t (j ? " " : "") w[1 + int(rand() * n)];
    l = lab[1 + int(rand() * 3)];
    last = "\"" t "\"," l "," int(rand() * 100);
    print "r" i "," last;
  }
}' > "$CSV"
BYTES=$(stat -c %s "$CSV")

run() {
  "$BIN" -q --artifacts "$WORK/artifacts" --force --task sequence --format csv \
    --file "$CSV" --id-column id "$@"
}

START=$(date +%s.%N)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN" -q --artifacts "$WORK/artifacts" --force \
    --task sequence --format csv --file "$CSV" --id-column id > "$WORK/dir.txt"
  RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/time.txt")
else
  run > "$WORK/dir.txt" &
  PID=$!
  RSS_KB=0
  while kill -0 "$PID" 2>/dev/null; do
    HWM=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
    [ "${HWM:-0}" -gt "$RSS_KB" ] && RSS_KB=$HWM
    sleep 0.05
  done
  wait "$PID"
fi
END=$(date +%s.%N)
DIR=$(cat "$WORK/dir.txt")
SECS=$(echo "$END - $START" | bc -l)
RATE=$(echo "$ROWS / $SECS" | bc -l)
KEPT=$(python3 -c "import json,sys; m=json.load(open('$DIR/manifest.json')); a=m['metrics']['accounting']['all']; print(a['read'], a['kept'], a['rejected'], a['duplicates'])")

{
  echo "# ingest benchmark: generated CSV"
  echo
  echo "Produced by \`scripts/bench/ingest_csv.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs, $(uname -m)); $BUILD."
  echo
  echo "| rows | input | wall time | rows/s | peak RSS | read / kept / rejected / duplicates |"
  echo "|---:|---:|---:|---:|---:|---|"
  printf "| %d | %.1f MB | %.2f s | %.0f | %.0f MB | %s |\n" "$ROWS" "$(echo "$BYTES/1000000" | bc -l)" "$SECS" "$RATE" "$(echo "$RSS_KB/1024" | bc -l)" "$KEPT"
  echo
  echo "Run: seeded 80/10/10 split stratified by label, NFC + control/zero-width removal +"
  echo "whitespace collapsing, exact-duplicate removal (1% of rows are copies), leakage check,"
  echo "profile (polars quantiles), zstd Parquet output, manifest with SHA-256 of every file."
  echo "Wall time includes process start, reading, hashing the input for the fingerprint and"
  echo "writing the artifact. The machine was shared with other builds while measuring."
} > "$OUT"
cat "$OUT"
