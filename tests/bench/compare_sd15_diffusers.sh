#!/usr/bin/env bash
# The SD1.5 ControlNet step and UNet step, native (bench_sd15) beside diffusers on the same CPU and
# thread count, one after the other in one run, with the ratio. Without a Python diffusers, the
# native half alone. Usage:
#   tests/bench/compare_sd15_diffusers.sh [BUILD_DIR] [THREADS] [ITERS]
#   PYTHONPATH=/tmp/refsrc/site:../shared/refenv/pystub tests/bench/compare_sd15_diffusers.sh build 2 2
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-build}" threads="${2:-2}" iters="${3:-2}"
native="$("$build/tests/bench/bench_sd15" --threads "$threads" --iters "$iters" 2>/dev/null)"
row() { echo "$native" | awk -F'|' -v part="$1" '{ gsub(/^ +| +$/, "", $2) } $2 == part { gsub(/ /, "", $3); print $3 }'; }
printf '| %-44s | %10s | %10s | %s |\n' "part ($threads threads, median of $iters)" "native ms" "diffusers" "native speed / diffusers'"
printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "------------" "------------" "----------------------------"
# Debian's python3 has Debian's torch (the same ATen as the native build); $PYTHON overrides.
py="${PYTHON:-/usr/bin/python3}"
if "$py" -c "import diffusers" 2>/dev/null; then
  reference="$("$py" "$here/bench_sd15_diffusers.py" "$threads" "$iters" 2>/dev/null)"
else
  reference=""
  echo "(no Python diffusers: the native half alone; see ../shared/refenv)" >&2
fi
for part in "ControlNet step (batch 2)" "UNet step + ControlNet residuals (batch 2)"; do
  mine="$(row "$part")"
  theirs="$(echo "$reference" | awk -F'\t' -v part="$part" '$1 == part { print $2 }')"
  ratio="-"
  [ -n "$theirs" ] && ratio="$(awk -v a="$mine" -v b="$theirs" 'BEGIN { printf "%.2fx", b / a }')"
  printf '| %-44s | %10s | %10s | %s |\n' "$part" "$mine" "${theirs:--}" "$ratio"
done
