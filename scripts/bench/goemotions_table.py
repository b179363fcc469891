"""Markdown table of scripts/bench/goemotions.sh runs: one row per side and seed, means and
standard deviations over the seeds, and ours − HF per seed (tokens/s as a ratio).

Usage: python scripts/bench/goemotions_table.py [bench-results/tmp/goemotions]
"""
import json
import statistics
import sys
from pathlib import Path

DIR = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results/tmp/goemotions")
KEYS = ["micro_f1", "macro_f1", "samples_f1", "hamming_loss", "subset_accuracy"]
DECISIONS = [("tuned_on_dev", "tuned"), ("at_0_5", "0.5")]


def load(side):
    out = {}
    for f in sorted(DIR.glob(f"{side}_*.json")):
        text = f.read_text().strip()
        if text:
            d = json.loads(text)
            out[d["seed"]] = d
    return out


ours, hf = load("ours"), load("hf")
seeds = sorted(set(ours) & set(hf))
cols = [f"{k} ({name})" for key, name in DECISIONS for k in KEYS]
print("| side | seed | " + " | ".join(cols) + " | mean ROC-AUC | tokens_per_s |")
print("|---|---|" + "---:|" * (len(cols) + 2))


def values(d):
    return [d["test"][key][k] for key, _ in DECISIONS for k in KEYS] + \
        [d["test"]["tuned_on_dev"]["mean_roc_auc"], d["tokens_per_s"]]


for name, side in (("hf", hf), ("ours", ours)):
    for s in seeds:
        print(f"| {name} | {s} | " + " | ".join(f"{v:.4f}" if i < len(cols) + 1 else f"{v:.1f}"
                                                for i, v in enumerate(values(side[s]))) + " |")
for name, side in (("ours", ours), ("hf", hf)):
    rows = [values(side[s]) for s in seeds]
    means = [statistics.mean(c) for c in zip(*rows)]
    sds = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in zip(*rows)]
    print(f"| {name} mean (sd) | {len(seeds)} seeds | " +
          " | ".join(f"{m:.4f} ({sd:.3f})" for m, sd in zip(means[:-1], sds[:-1])) +
          f" | {means[-1]:.1f} |")
for s in seeds:
    a, b = values(ours[s]), values(hf[s])
    print(f"| ours − hf | {s} | " + " | ".join(f"{x - y:+.4f}" for x, y in zip(a[:-1], b[:-1])) +
          f" | {a[-1] / b[-1]:.2f}× |")
