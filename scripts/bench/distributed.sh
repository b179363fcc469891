#!/usr/bin/env bash
# Data-parallel training on this machine, WNUT-17 + all-MiniLM-L6-v2, the same global batch
# (32 = 16 per micro-batch x 2) four ways, one after the other:
#   ours 1 process x 2 threads (grad_accum 2)   vs   ours 2 processes x 1 thread (Gloo)
#   HF   1 process x 2 threads (grad accum 2)   vs   HF   2 processes x 1 thread (torchrun, DDP/Gloo)
# Ours with 2 processes computes exactly what ours with 1 process and accumulation 2 computes
# (same batches, same dropout masks), so the final losses must agree; the ratio between them
# is the price or gain of splitting the cores between processes. Reports tokens/s and, for
# ours, the share of step time spent in the gradient all-reduce.
#
# Usage: scripts/bench/distributed.sh [max_steps=40]   (writes bench-results/distributed.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-40}
MODEL=models/all-MiniLM-L6-v2
DATA=data/wnut17
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
ART=${ART:-/tmp/dist-bench-artifacts}
OUT=${OUT:-bench-results/distributed.md}
[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL: run make setup" >&2; exit 1; }

ing=$("$BIN_DIR/ingest" --artifacts "$ART" --pipeline wnut --format conll --task token \
  --train "$DATA/wnut17train.conll" --dev "$DATA/emerging.dev.conll" \
  --test "$DATA/emerging.test.annotated" | tail -1)
tok=$("$BIN_DIR/tokenize" --artifacts "$ART" --pipeline wnut --ingest "$ing" --model "$MODEL" \
  --max-length 128 --label-mode first | tail -1 | awk '{print $1}')

recipe=(--tokenize "$tok" --model "$MODEL" --max-steps "$STEPS" --batch-size 16
  --learning-rate 5e-5 --warmup-ratio 0.1 --weight-decay 0.01 --seed 42 --device cpu
  --eval-every no --force --quiet --artifacts "$ART" --pipeline wnut)
ours() {  # name, extra args...
  local name=$1; shift
  local dir
  dir=$("$BIN_DIR/train" "${recipe[@]}" --name "$name" "$@" | tail -1)
  "$PY" - "$dir/manifest.json" "$name" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
share = m["allreduce_seconds"] / m["train_seconds"] if m.get("allreduce_seconds") is not None else None
wait = m["rank_wait_seconds"] / m["train_seconds"] if m.get("rank_wait_seconds") is not None else None
print(json.dumps({"side": "ours", "run": sys.argv[2], "processes": m["world_size"],
                  "steps": m["steps"], "train_seconds": round(m["train_seconds"], 2),
                  "tokens_per_s": round(m["tokens_per_second"], 1),
                  "allreduce_share": None if share is None else round(share, 4),
                  "rank_wait_share": None if wait is None else round(wait, 4),
                  "final_loss": m["final_loss"], "peak_rss_mib_rank0": m["peak_rss_mib"]}))
EOF
}
peer=(scripts/peers/train_hf.py --model "$MODEL" --max-steps "$STEPS" --batch 16 --skip-test)

results=$(mktemp)
ours one-process --threads 2 --grad-accum 2 | tee -a "$results"
ours two-processes --threads 2 --set processes=2 | tee -a "$results"
"$PY" "${peer[@]}" --threads 2 --grad-accum 2 2>/dev/null | tail -1 | tee -a "$results"
OMP_NUM_THREADS=1 "$PY" -m torch.distributed.run --nproc-per-node 2 --master-port 29533 \
  "${peer[@]}" --threads 1 2>/dev/null | tail -1 | tee -a "$results"

"$PY" - "$results" "$STEPS" "$(nproc)" > "$OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ours1, ours2, hf1, hf2 = rows
print(f"# Data-parallel training on {sys.argv[3]} cores: WNUT-17, all-MiniLM-L6-v2, "
      f"{sys.argv[2]} steps of 32 windows\n")
print("Written by `scripts/bench/distributed.sh`; the four runs one after the other on the same "
      "machine, nothing else running. Global batch 32 everywhere: 16 per micro-batch, two "
      "micro-batches per step (accumulation in one process, one per rank in two).\n")
print("| run | processes x threads | train s | tokens/s | step time in the all-reduce | waiting for the other rank | final loss |")
print("|---|---|---:|---:|---:|---:|---:|")
def fmt(x, p=4):
    return "" if x is None else f"{x:.{p}f}"
print(f"| ours | 1 x 2 | {ours1['train_seconds']} | {ours1['tokens_per_s']} | | | {fmt(ours1['final_loss'])} |")
print(f"| ours | 2 x 1 (Gloo) | {ours2['train_seconds']} | {ours2['tokens_per_s']} | {fmt(100 * ours2['allreduce_share'], 1)} % | {fmt(100 * ours2['rank_wait_share'], 1)} % | {fmt(ours2['final_loss'])} |")
print(f"| HF Trainer | 1 x 2 | {hf1['train_seconds']} | {hf1['tokens_per_s']} | | | {fmt(hf1['final_loss'])} |")
print(f"| HF Trainer + torchrun DDP | 2 x 1 (Gloo) | {hf2['train_seconds']} | {hf2['tokens_per_s']} | (overlapped with backward) | | {fmt(hf2['final_loss'])} |")
print()
print(f"- ours 2 processes / 1 process: {ours2['tokens_per_s'] / ours1['tokens_per_s']:.2f}x tokens/s; "
      f"HF: {hf2['tokens_per_s'] / hf1['tokens_per_s']:.2f}x.")
print(f"- ours / HF, 1 process: {ours1['tokens_per_s'] / hf1['tokens_per_s']:.2f}x; "
      f"2 processes: {ours2['tokens_per_s'] / hf2['tokens_per_s']:.2f}x.")
print(f"- final loss = mean training loss over the steps (ours: one logging interval covering them; "
      f"HF: `training_loss`). Ours 1 vs 2 processes: {ours1['final_loss']:.8f} vs "
      f"{ours2['final_loss']:.8f} (the same batches and dropout masks); HF's two differ because "
      f"DDP's sampler gives each rank other examples than accumulation does.")
print("\nRaw result lines:\n")
for r in rows:
    print("    " + json.dumps(r))
EOF
cat "$OUT"
