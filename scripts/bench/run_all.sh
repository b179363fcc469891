#!/usr/bin/env bash
# Run every benchmark against its Python peer; each writes bench-results/<name>.md.
# Set BENCH_ONLY="bert ingest" to run a subset. The machine should be otherwise idle.
set -euo pipefail
cd "$(dirname "$0")/../.."
only=${BENCH_ONLY:-"ingest bert baseline distributed"}
for name in $only; do
  case $name in
    ingest) scripts/bench/ingest_csv.sh ;;
    bert) scripts/bench/bert_fwd_bwd.sh ;;
    baseline) cargo run --release -q -p baseline --example real_data > bench-results/baseline.run.log ;;
    tokenize) scripts/bench/tokenize.sh ;;
    evaluate) scripts/bench/evaluate.sh ;;
    train) scripts/bench/train_wnut.sh ;;
    distributed) scripts/bench/distributed.sh ;;  # 1 x 2 threads vs 2 processes x 1, ours and HF
    train_step)  # the GPU benchmark's script on this CPU, all-MiniLM-L6-v2 shape, fp32
      scripts/bench/gpu_prepare.sh
      DEVICE=cpu PRECISION=fp32 LAYERS=6 HIDDEN=384 HEADS=12 BATCHES=32 SEQ=64 ITERS=5 \
        ROUNDS=2 PY=${BERTFLOW_VENV:-.venv}/bin/python OUT=bench-results/tmp scripts/bench/gpu_train.sh .gpu-bench
      cp bench-results/tmp/gpu_train.md bench-results/train_step.md ;;
    *) echo "unknown benchmark $name" >&2; exit 2 ;;
  esac
done
ls -l bench-results/
