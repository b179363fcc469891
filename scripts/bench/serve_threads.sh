#!/usr/bin/env bash
# Issue 42, serving beside a busy process: `serve --batch-threads adaptive` (the default: each
# batch on all libtorch threads or on one, whichever has lately been faster for its size)
# against `--batch-threads all`, adaptive with libgomp's default spin (GOMP_SPINCOUNT=300000
# instead of the 2000 serve starts with), and libgomp's defaults with all threads
# (`BERTFLOW_THREADING=off`: the server before issue 42). Idle and beside
# LOADS single-threaded CPU-bound neighbours; wrk at CONCURRENCY clients, DURATION per point,
# ROUNDS rounds, the order of the sides rotating from round to round. One request = one CLINC150 test question.
# Writes bench-results/serve-threads.md (raw lines: bench-results/serve-threads.raw.txt).
#
# Usage: scripts/bench/serve_threads.sh [checkpoint]   (default: the latest `make demo`
#        checkpoint; env: ROUNDS=4 DURATION=10s CONCURRENCY="1 8" LOADS="0 1" THREADS=$(nproc))
# Needs wrk (apt-get install -y wrk) and a built serve binary (cargo build --workspace).
set -euo pipefail
cd "$(dirname "$0")/../.."
CKPT=${1:-artifacts/demo/train/$(cat artifacts/demo/train/latest 2>/dev/null || true)/checkpoints/best}
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-"1 8"}
LOADS=${LOADS:-"0 1"}
THREADS=${THREADS:-$(nproc)}
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug/serve}
PORT=${PORT:-18091}
RAW=bench-results/serve-threads.raw.txt
[[ -d $CKPT ]] || { echo "no checkpoint at $CKPT: run \`make demo\` first or name one" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
WORK=$(mktemp -d)
nb=(); srv=()
stop_neighbours() { for p in "${nb[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${nb[@]}" 2>/dev/null || true; nb=(); }
cleanup() { stop_neighbours; for p in "${srv[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
"$PY" -c "
import json
for l in open('data/clinc150/test.jsonl'):
    print(json.dumps({'inputs': json.loads(l)['text']}))
" > "$WORK/bodies.jsonl"
: > "$RAW"
start() {
  case $1 in
    adaptive) "$BIN" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT" --device cpu --threads "$THREADS" -q & ;;
    all) "$BIN" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT" --device cpu --threads "$THREADS" --batch-threads all -q & ;;
    adaptive-long-spin) GOMP_SPINCOUNT=300000 "$BIN" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT" --device cpu --threads "$THREADS" -q & ;;
    before) BERTFLOW_THREADING=off "$BIN" --checkpoint "$CKPT" --addr "127.0.0.1:$PORT" --device cpu --threads "$THREADS" --batch-threads all -q & ;;
  esac
  srv+=($!)
  for _ in $(seq 900); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "server did not come up" >&2; return 1
}
stop() { kill "${srv[-1]}" 2>/dev/null || true; wait "${srv[-1]}" 2>/dev/null || true; unset 'srv[-1]'; }
for load in $LOADS; do
  for r in $(seq "$ROUNDS"); do
    for _ in $(seq "$load"); do timeout 1800 sh -c 'while :; do :; done' & nb+=($!); done
    # The order of the sides rotates by round, so drift of the machine during a round
    # favours none of them.
    sides=(adaptive all adaptive-long-spin before)
    for i in 0 1 2 3; do
      side=${sides[$(( (i + r - 1) % 4 ))]}
      start "$side"
      # A short warm-up, then the measured point.
      wrk -t 1 -c 1 -d 2s -s scripts/bench/serve_wrk.lua "http://127.0.0.1:$PORT/predict" -- "$WORK/bodies.jsonl" > /dev/null
      for c in $CONCURRENCY; do
        t=$(( c < 2 ? 1 : 2 ))
        wrk -t "$t" -c "$c" -d "$DURATION" --timeout 30s --latency -s scripts/bench/serve_wrk.lua \
          "http://127.0.0.1:$PORT/predict" -- "$WORK/bodies.jsonl" > "$WORK/wrk.txt"
        line="serve load=$load round=$r side=$side clients=$c rps_p50_p99=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk.txt") $(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt") $(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")"
        echo "$line" | tee -a "$RAW" >&2
      done
      stop
    done
    stop_neighbours
  done
done
"$PY" - "$RAW" "$DURATION" "$THREADS" "$ROUNDS" > bench-results/serve-threads.md <<'PY'
import re, statistics, sys
from collections import defaultdict
raw, duration, threads, rounds = sys.argv[1:5]
def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    x, u = float(m.group(1)), m.group(2)
    return x / 1000 if u == "us" else x * 1000 if u == "s" else x
pts = defaultdict(list)
for line in open(raw):
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    rps, p50, p99 = line.split("rps_p50_p99=")[1].split()
    pts[(f["load"], f["clients"], f["side"])].append((float(rps), ms(p50), ms(p99)))
sides = ["adaptive", "all", "adaptive-long-spin", "before"]
names = {"adaptive": "ours: `--batch-threads adaptive` (default)",
         "all": "ours: `--batch-threads all`",
         "adaptive-long-spin": "adaptive, `GOMP_SPINCOUNT=300000`",
         "before": "libgomp defaults, all threads (`BERTFLOW_THREADING=off`)"}
med = statistics.median
print("# Serving beside a busy process: threads per batch\n")
print(f"Made by `scripts/bench/serve_threads.sh` (raw lines: `bench-results/serve-threads.raw.txt`): "
      f"the `make demo` checkpoint (WNUT-17 token task), one CLINC150 test question per request, wrk for "
      f"{duration} per point after a 2 s warm-up, {threads} libtorch threads, medians of {rounds} rounds "
      f"(the order of the sides rotates by round); neighbours are single-threaded CPU-bound processes.\n")
print("| neighbours | clients | " + " | ".join(names[s] for s in sides) + " |")
print("|---|---:|" + "---|" * len(sides))
keys = sorted({(k[0], k[1]) for k in pts}, key=lambda k: (int(k[0]), int(k[1])))
for load, c in keys:
    cells = []
    for s in sides:
        v = pts.get((load, c, s))
        if not v:
            cells.append("–"); continue
        rps, p50, p99 = med(x[0] for x in v), med(x[1] for x in v), med(x[2] for x in v)
        idle = pts.get(("0", c, s))
        share = f" ({100 * rps / med(x[0] for x in idle):.0f} % of idle)" if idle and load != "0" else ""
        cells.append(f"{rps:.1f} req/s, p50 {p50:.1f} / p99 {p99:.1f} ms{share}")
    print(f"| {load} | {c} | " + " | ".join(cells) + " |")
PY
cat bench-results/serve-threads.md
