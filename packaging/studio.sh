#!/usr/bin/env bash
# README command 1: set up, build and open CAIG Studio on the bundled demo products.
# Arguments are passed to caig-studio (e.g. --project DIR, product shots to import).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/packaging/build.sh" caig-studio caig
exec "$here/${BUILD_DIR:-build}/app/caig-studio" "$@"
