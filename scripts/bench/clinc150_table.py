"""Summarise scripts/bench/clinc150.sh's JSON lines into the markdown table of bench-results/train.md.

Usage: python scripts/bench/clinc150_table.py [DIR=bench-results/tmp/clinc150]
Each file holds one run (ours_<seed>.json, hf-random_<seed>.json, hf-group_<seed>.json; the
last JSON line counts). Prints per-run rows, then mean and sample sd per side, and the loss
of each side every 150 steps (mean over seeds).
"""

import glob
import json
import os
import statistics
import sys


def load(path):
    lines = [l for l in open(path, encoding="utf-8").read().splitlines() if l.startswith("{")]
    return json.loads(lines[-1])


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench-results/tmp/clinc150"
    sides = {}
    for path in sorted(glob.glob(os.path.join(d, "*.json"))):
        name = os.path.basename(path)[:-5]
        side, seed = name.rsplit("_", 1)
        side = {"clinc_random": "hf-random", "clinc_group": "hf-group"}.get(side, side)
        sides.setdefault(side, {})[int(seed)] = load(path)
    print("| side | seed | test accuracy | test macro F1 | dev accuracy | dev macro F1 | train s | tokens/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for side, runs in sides.items():
        for seed, r in sorted(runs.items()):
            print(f"| {side} | {seed} | {r['test']['accuracy']:.4f} | {r['test']['macro_f1']:.4f} | "
                  f"{r['dev']['accuracy']:.4f} | {r['dev']['macro_f1']:.4f} | "
                  f"{r['train_seconds']:.0f} | {r['tokens_per_s']:.0f} |")
    print()
    print("| side | seeds | test accuracy mean (sd) | test macro F1 mean (sd) |")
    print("|---|---|---:|---:|")
    for side, runs in sides.items():
        acc = [r["test"]["accuracy"] for r in runs.values()]
        f1 = [r["test"]["macro_f1"] for r in runs.values()]
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else float("nan")
        print(f"| {side} | {len(acc)} | {statistics.mean(acc):.4f} ({sd(acc):.4f}) | "
              f"{statistics.mean(f1):.4f} ({sd(f1):.4f}) |")
    print()
    steps = [150 * k for k in range(1, 10)] + [1400]
    print("| step | " + " | ".join(sides) + " |")
    print("|---|" + "---:|" * len(sides))
    for s in steps:
        cells = []
        for runs in sides.values():
            v = [l["loss"] for r in runs.values() for l in r.get("losses", []) if l["step"] == s]
            cells.append(f"{statistics.mean(v):.3f}" if v else "–")
        print(f"| {s} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
