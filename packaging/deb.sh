#!/usr/bin/env bash
# Builds the Debian package: packaging/build.sh, then CPack into $BUILD_DIR/deb.
# Prints the path of the .deb last.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$here/$build" ;; esac
BUILD_DIR="$build" bash "$here/packaging/build.sh" caig caig-studio caig_package_files
rm -rf "$build/deb"
(cd "$build" && cpack -G DEB -B "$build/deb" >/dev/null)
ls "$build"/deb/caig-studio_*.deb
