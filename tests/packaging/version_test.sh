#!/usr/bin/env bash
# `caig --version` and `caig-studio --version` name the project version and, in a git checkout,
# the commit the programs were built from (with -dirty when the tree had changes).
#   version_test.sh CAIG CAIG_STUDIO SOURCE_DIR
set -euo pipefail
caig="$1" studio="$2" src="$3"
version=$(sed -n 's/^project(caig_studio VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
for prog in "$caig" "$studio"; do
  out=$(env -u DISPLAY "$prog" --version)  # no display needed
  echo "$out"
  case "$out" in *" $version"*) ;; *) echo "FAIL: $prog --version lacks $version" >&2; exit 1 ;; esac
  if commit=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null); then
    case "$out" in *"(git $commit"*) ;; *) echo "FAIL: $prog --version lacks the commit $commit" >&2; exit 1 ;; esac
  fi
done
