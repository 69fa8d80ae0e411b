#!/usr/bin/env bash
# README command 2 (and CI): set up, build everything and run every test with CTest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/build.sh"
# ISNet weights for the cutout tests; without them those tests report themselves skipped.
if ! bash "$here/packaging/fetch-isnet.sh"; then
  echo "test.sh: WARNING: could not fetch the ISNet weights; the ISNet tests will be skipped" >&2
fi
cd "$here/${BUILD_DIR:-build}"
ctest --output-on-failure -j"$(nproc)" --timeout 600
