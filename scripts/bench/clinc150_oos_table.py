"""Markdown table of scripts/bench/clinc150_oos.sh's JSON lines (ours_<seed>.json,
hf_<seed>.json in bench-results/tmp/clinc150-oos or the directory given): per seed and side,
the dev threshold and test in-scope accuracy, out-of-scope recall / precision / F1, coverage,
top-1/3/5, tokens/s; then the mean of each side and ours minus HF per seed."""

import glob
import json
import os
import statistics
import sys

d = sys.argv[1] if len(sys.argv) > 1 else "bench-results/tmp/clinc150-oos"
rows = {}
for path in sorted(glob.glob(os.path.join(d, "*_*.json"))):
    side, seed = os.path.basename(path)[:-5].split("_")
    with open(path, encoding="utf-8") as f:
        lines = f.read().strip().splitlines()
    if not lines:
        continue  # a run still going
    r = json.loads(lines[-1])
    thr = r["threshold"] if side == "ours" else r["reject"]["threshold"]
    t = r["test"]
    rows[(side, int(seed))] = {
        "threshold": thr, **{k: t["open_set"][k] for k in (
            "in_scope_accuracy", "out_of_scope_recall", "out_of_scope_precision",
            "out_of_scope_f1", "coverage")},
        **{f"top{k}": t["top_k"][k] for k in ("1", "3", "5")}, "tokens_per_s": r["tokens_per_s"],
    }
cols = ["threshold", "in_scope_accuracy", "out_of_scope_recall", "out_of_scope_precision",
        "out_of_scope_f1", "coverage", "top1", "top3", "top5", "tokens_per_s"]
print("| side | seed | " + " | ".join(cols) + " |")
print("|---|---|" + "---:|" * len(cols))
for (side, seed), r in sorted(rows.items()):
    print(f"| {side} | {seed} | " + " | ".join(
        f"{r[c]:.1f}" if c == "tokens_per_s" else f"{r[c]:.4f}" for c in cols) + " |")
for side in ("ours", "hf"):
    rs = [r for (s, _), r in rows.items() if s == side]
    if rs:
        print(f"| {side} mean | {len(rs)} seeds | " + " | ".join(
            f"{statistics.mean(r[c] for r in rs):.4f}" for c in cols) + " |")
seeds = sorted({s for (_, s) in rows if ("ours", s) in rows and ("hf", s) in rows})
for seed in seeds:
    a, b = rows[("ours", seed)], rows[("hf", seed)]
    print(f"| ours − hf | {seed} | " + " | ".join(
        f"{a[c] / b[c]:.2f}×" if c == "tokens_per_s" else f"{a[c] - b[c]:+.4f}" for c in cols) + " |")
