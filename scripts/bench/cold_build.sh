#!/usr/bin/env bash
# Cold timing of the README's two commands: a fresh clone of this repository's HEAD in an
# empty directory, an empty cargo home (every crate downloaded), no target directory, no
# virtualenv and no pip cache; then `make demo` and `make test`, timed one after the other.
# Writes bench-results/cold-build.md (times, cargo's "Finished" lines, the set-up lines and
# what `make test` compiled). Needs the network (crates.io, PyPI) and ~25 GB of disk.
#
# Usage: scripts/bench/cold_build.sh [work dir, default a new temporary directory]
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d)}
git clone -q "$repo" "$work/bertflow"
cd "$work/bertflow"
commit=$(git rev-parse --short HEAD)
export CARGO_HOME=$work/cargo-home PIP_NO_CACHE_DIR=1 CARGO_TERM_COLOR=never
mkdir -p "$CARGO_HOME"
# rustup's proxies stay reachable with the new cargo home.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} PATH=$HOME/.cargo/bin:$PATH
unset CARGO_TARGET_DIR BERTFLOW_VENV BERTFLOW_CACHE LIBTORCH
t0=$(date +%s); make demo > "$work/demo.log" 2>&1; demo_rc=$?; t1=$(date +%s)
make test > "$work/test.log" 2>&1; test_rc=$?; t2=$(date +%s)
{
  echo "# Cold \`make demo\` then \`make test\`"
  echo
  echo "Made by \`scripts/bench/cold_build.sh\` on $(nproc) cores, $(date -u +%F), code $commit: a fresh clone, an empty cargo home, no target directory, no virtualenv, no pip cache."
  echo
  echo '```'
  echo "make demo rc=$demo_rc seconds=$((t1 - t0))"
  echo "make test rc=$test_rc seconds=$((t2 - t1))"
  echo "-- make demo: set-up lines and cargo's summary"
  grep -E '^\[setup\]|Finished' "$work/demo.log"
  echo "-- make demo: crates compiled: $(grep -c '^ *Compiling' "$work/demo.log")"
  echo "-- make test: cargo's summaries and what the test build compiled"
  grep -E 'Finished' "$work/test.log"
  awk '/Finished `dev`/ {d=1; next} d && /^ *Compiling/ {print}' "$work/test.log"
  echo "-- make test: tests passed / failed"
  grep 'test result' "$work/test.log" | awk '{p+=$4; f+=$6} END {print p " passed, " f " failed"}'
  echo '```'
} | sed "s#$work/bertflow#<clone>#g" > "$repo/bench-results/cold-build.md"
cat "$repo/bench-results/cold-build.md"
