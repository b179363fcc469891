#!/usr/bin/env bash
# The README's screenshot of the report: the top of the demo's report.html (verdict, headline
# numbers, findings, per-type F1) rendered by headless Chromium into docs/img/report.png.
#
# Usage: scripts/docs/report_screenshot.sh [report.html]   (default: the latest `make demo`
# report under artifacts/demo). Needs chromium (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/../.."
report=${1:-artifacts/demo/reflect/$(cat artifacts/demo/reflect/latest 2>/dev/null || true)/report.html}
[[ -f $report ]] || { echo "no report at $report: run \`make demo\` first" >&2; exit 1; }
chromium=$(command -v chromium || command -v chromium-browser) || {
  echo "chromium is missing: apt-get install -y chromium" >&2
  exit 1
}
mkdir -p docs/img
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1150,1500 \
  --screenshot="$PWD/docs/img/report.png" "file://$(readlink -f "$report")" 2>/dev/null
echo "docs/img/report.png ($(du -k docs/img/report.png | cut -f1) KiB) from $report"
