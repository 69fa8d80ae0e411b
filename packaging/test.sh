#!/usr/bin/env bash
# README command 2 (and CI): set up, build everything and run every test with CTest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/build.sh"
cd "$here/${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 600
