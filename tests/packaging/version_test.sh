#!/usr/bin/env bash
# `caig --version` and `caig-studio --version` name the project version and, in a git checkout,
# the commit the programs were built from (with -dirty when the tree had changes).
#   version_test.sh CAIG CAIG_STUDIO SOURCE_DIR VERSION  (VERSION: CMake's project version)
set -euo pipefail
caig="$1" studio="$2" src="$3" version="$4"
for prog in "$caig" "$studio"; do
  out=$(env -u DISPLAY "$prog" --version)  # no display needed
  echo "$out"
  case "$out" in *" $version"*) ;; *) echo "FAIL: $prog --version lacks $version" >&2; exit 1 ;; esac
  # The commit of the last build: HEAD, or an ancestor of it when a commit came after the build.
  if git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
    built=$(sed -n 's/.*(git \([0-9a-f]\{12\}\)\(-dirty\)\{0,1\}).*/\1/p' <<<"$out")
    [ -n "$built" ] || { echo "FAIL: $prog --version names no git commit" >&2; exit 1; }
    git -C "$src" merge-base --is-ancestor "$built" HEAD ||
      { echo "FAIL: $prog --version names $built, not HEAD or an ancestor of it" >&2; exit 1; }
  fi
done
