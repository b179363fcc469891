#!/usr/bin/env python3
"""Table of scripts/bench/contention.sh's raw lines (bench-results/contention.raw.txt):
medians over rounds per (load, side), and each figure as a share of the same side's idle one.

Usage: contention_table.py <raw file> <steps> <duration> <threads>
"""

import re
import statistics
import sys
from collections import defaultdict

raw, steps, duration, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
train = defaultdict(list)   # (load, side) -> tokens/s
hashes = defaultdict(set)   # side -> weight hashes
serve = defaultdict(list)   # (load, side, clients) -> (rps, p50 ms, p99 ms)


def ms(v):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", v)
    if not m:
        return float("nan")
    x, unit = float(m.group(1)), m.group(2)
    return x / 1000 if unit == "us" else x * 1000 if unit == "s" else x


for line in open(raw):
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    if line.startswith("train"):
        tps, h = line.split("tokens_per_s_and_hash=")[1].split()
        train[(f["load"], f["side"])].append(float(tps))
        if h != "-":
            hashes[f["side"]].add(h)
    elif line.startswith("serve"):
        vals = line.split("rps_p50_p99=")[1].split()
        if len(vals) == 3:
            serve[(f["load"], f["side"], f["clients"])].append(
                (float(vals[0]), ms(vals[1]), ms(vals[2])))

loads = sorted({k[0] for k in train} | {k[0] for k in serve}, key=int)
sides = [s for s in ["ours", "before", "peer"] if any(k[1] == s for k in train)]
names = {"ours": "ours", "before": "ours before (libgomp defaults)",
         "peer": "peer"}
med = statistics.median

print("# Graceful on a busy CPU: training and serving beside busy neighbours\n")
print(f"Made by `scripts/bench/contention.sh` (raw lines: `bench-results/contention.raw.txt`). "
      f"Neighbours: single-threaded CPU-bound processes (`sh -c 'while :; do :; done'`). "
      f"{threads} libtorch threads on every side. **ours**: the binaries as shipped (threading "
      f"configured at start-up, `crates/torch-link/src/threading.rs`); **ours before**: the same "
      f"binaries with `BERTFLOW_THREADING=off` (libgomp's defaults, what every build before "
      f"issue 42 ran with); **peer**: HF Trainer for training, a dynamic-batching Python server "
      f"(`scripts/bench/serve_peer.py serve-batching`) for serving. Medians over rounds; "
      f"rounds alternate the sides. Fair share with one neighbour on 2 cores: 2/3 = 67 %.\n")
print(f"## Training (WNUT-17, all-MiniLM-L6-v2, {steps} steps of batch 32): tokens/s\n")
print("| neighbours | " + " | ".join(names[s] for s in sides) + " |")
print("|---|" + "---:|" * len(sides))
for load in loads:
    cells = []
    for s in sides:
        v = train.get((load, s))
        idle = train.get(("0", s))
        if not v:
            cells.append("–")
            continue
        share = f" ({100 * med(v) / med(idle):.0f} % of idle)" if idle and load != "0" else ""
        cells.append(f"{med(v):.0f}{share}")
    print(f"| {load} | " + " | ".join(cells) + " |")
print()
for s in sides:
    if hashes[s]:
        print(f"Weight hashes of the last checkpoint, {names[s]}: {', '.join(sorted(hashes[s]))}.")
print()
clients = sorted({k[2] for k in serve}, key=int)
print(f"## Serving (wrk, {duration} per point): req/s, p50 / p99 ms\n")
print("| neighbours | clients | " + " | ".join(names[s] for s in sides) + " |")
print("|---|---:|" + "---|" * len(sides))
for load in loads:
    for c in clients:
        cells = []
        for s in sides:
            v = serve.get((load, s, c))
            idle = serve.get(("0", s, c))
            if not v:
                cells.append("–")
                continue
            rps, p50, p99 = med(x[0] for x in v), med(x[1] for x in v), med(x[2] for x in v)
            share = ""
            if idle and load != "0":
                share = (f" ({100 * rps / med(x[0] for x in idle):.0f} % of idle req/s, "
                         f"p99 {p99 / med(x[2] for x in idle):.1f}× idle)")
            cells.append(f"{rps:.1f}, {p50:.0f} / {p99:.0f}{share}")
        print(f"| {load} | {c} | " + " | ".join(cells) + " |")
