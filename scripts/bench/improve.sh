#!/usr/bin/env bash
# `pipeline improve` on a shipped pipeline with the real all-MiniLM-L6-v2 on this machine's CPU:
# the current recipe, then the remedies its reflection proposes as trials (successive halving),
# the choice on dev, test once. The improve report lands in bench-results/improve/<name>.md with
# the wall time and the improved recipe beside it (<name>.improved.toml).
#
# Usage: scripts/bench/improve.sh <pipeline name> [budget minutes=90] [max runs=4] [rounds=2]
# Extra --set values for the starting recipe: IMPROVE_SET="train.threads=2".
# The pipeline binary comes from $CARGO_TARGET_DIR/debug (the build `make test` makes).
# Every run starts from an empty artifact store (ART, default a fresh temporary directory), so
# no stage is reused from a run of another code version: the artifact fingerprint covers a
# stage's params, inputs and format version, not the code that computed it. Set ART to reuse.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: improve.sh <pipeline name> [budget minutes] [max runs] [rounds]}
budget=${2:-90}
runs=${3:-4}
rounds=${4:-2}
ART_GIVEN=${ART:-}
ART=${ART:-$(mktemp -d)/artifacts}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
OUT=bench-results/improve
mkdir -p "$OUT" bench-results/tmp
sets=()
for s in ${IMPROVE_SET:-}; do sets+=(--set "$s"); done
start=$(date +%s)
"$BIN_DIR/pipeline" improve "pipelines/$name.toml" --artifacts "$ART" "${sets[@]}" \
  --budget-minutes "$budget" --max-runs "$runs" --rounds "$rounds" > "bench-results/tmp/improve-$name.out"
wall=$(( $(date +%s) - start ))
report=$(sed -n 's/^improve report: //p' "bench-results/tmp/improve-$name.out" | tail -1)
{
  # The report names artifact directories: the temporary store becomes `<artifacts>`, so no
  # machine's paths end up in bench-results.
  sed "s#$ART#<artifacts>#g" "$report"
  echo
  echo "---"
  echo "Run: \`scripts/bench/improve.sh $name $budget $runs $rounds\` on $(nproc) cores ($(date -u +%F)), code $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo '+changes'), wall $((wall / 60)) min $((wall % 60)) s, $([[ -n ${ART_GIVEN:-} ]] && echo "a given artifact store (stages reused where up to date)" || echo "an empty artifact store") (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))."
} > "$OUT/$name.md"
if [[ -f "pipelines/$name.improved.toml" ]]; then
  cp "pipelines/$name.improved.toml" "$OUT/$name.improved.toml"
fi
echo "$OUT/$name.md"
