#!/usr/bin/env bash
# Shared by the README's two commands: install dependencies (if missing), configure, build.
#   BUILD_DIR   build folder (default: build)
#   CAIG_CMAKE_ARGS  extra CMake arguments, e.g. -DCAIG_SANITIZE=ON
# Extra arguments are ninja targets (default: everything).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash packaging/setup-deps.sh
build="${BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja ${CAIG_CMAKE_ARGS:-} >/dev/null
ninja -C "$build" "$@"
