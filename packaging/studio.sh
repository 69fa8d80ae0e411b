#!/usr/bin/env bash
# README command 1: set up, build and open CAIG Studio on the bundled demo products.
# Arguments are passed to caig-studio (e.g. --project DIR, product shots to import).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/build.sh" caig-studio caig
# The ISNet cutout weights, as the test command fetches them; the studio works without them
# (GrabCut cutouts) and says so.
if ! bash "$here/packaging/fetch-isnet.sh"; then
  echo "studio.sh: could not fetch the ISNet cutout weights (above); cutouts use GrabCut until" \
       "'bash packaging/fetch-isnet.sh' succeeds" >&2
fi
exec "$here/${BUILD_DIR:-build}/app/caig-studio" "$@"
