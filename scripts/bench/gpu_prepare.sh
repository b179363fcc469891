#!/usr/bin/env bash
# Prepares the GPU training benchmark (scripts/bench/gpu_train.sh) for the lent device
# machine, which has PyTorch 2.11.0+cu130 but no Rust, maybe no transformers, and no network.
# Fills the git-ignored .gpu-bench/ (carry it with the device tool):
#   step_bench   the example binary (crates/train/examples/step_bench.rs), stripped; the dev
#                profile is enough: the time goes to libtorch kernels, our code sequences them
#   wheels/      transformers and its dependencies as CPython 3.12 manylinux wheels, for an
#                offline `pip install --target` there when transformers is missing
# Then, on the device (one call):
#   run(command="scripts/bench/gpu_train.sh .gpu-bench", carry=[".gpu-bench"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-${BERTFLOW_VENV:-.venv}/bin/python}
mkdir -p .gpu-bench
# --workspace keeps the feature set of the other builds (one package alone rebuilds deps).
cargo build --workspace --example step_bench >&2
cp "${CARGO_TARGET_DIR:-target}/debug/examples/step_bench" .gpu-bench/step_bench
strip .gpu-bench/step_bench
# The device image ships transformers (5.17 on 2026-12-04); wheels are a fallback, fetched only
# when this machine's venv has transformers to name a version.
if ! TRANSFORMERS=$("$PY" -c "import transformers; print(transformers.__version__)" 2>/dev/null); then
  echo "no transformers in $PY: skipping the fallback wheels (the device image has its own)" >&2
elif [[ ! -f .gpu-bench/wheels/transformers-$TRANSFORMERS-py3-none-any.whl ]]; then
  rm -rf .gpu-bench/wheels
  "$PY" -m pip download -q --dest .gpu-bench/wheels --only-binary=:all: \
    --python-version 3.12 --platform manylinux2014_x86_64 --implementation cp \
    "transformers==$TRANSFORMERS"
  # torch is already on the device.
  rm -f .gpu-bench/wheels/torch-* .gpu-bench/wheels/nvidia_* .gpu-bench/wheels/triton-*
fi
du -sh .gpu-bench .gpu-bench/* >&2
