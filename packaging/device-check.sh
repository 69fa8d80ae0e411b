#!/usr/bin/env bash
# GPU check, for a machine with a CUDA LibTorch 2.x (the Python torch package's CMake files) and
# an NVIDIA GPU: builds models/ alone against that LibTorch, runs the model tests (the CUDA
# parity tests run instead of skipping) and the model benchmarks, and prints one table.
# The regular build and tests never need this: they run on Debian's CPU LibTorch 1.13.
#   bash packaging/device-check.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cuda}
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "device-check: LibTorch from $prefix"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "device",
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")'
# Data-parallel training's NCCL backend is compiled here (never on the CPU machine); if this
# LibTorch's headers cannot build it, the rest is checked without it and that is said.
configure() {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCAIG_BUILD_STUDIO=OFF -DCAIG_BUILD_TESTS=ON -DCAIG_BUILD_BENCHMARKS=ON -DCAIG_WITH_NCCL="$1" \
    >"$build.configure.log" 2>&1 || { tail -30 "$build.configure.log"; exit 1; }
}
configure ON
if ! cmake --build "$build" -j"$(nproc)" >"$build.build.log" 2>&1; then
  echo "device-check: the build with CAIG_WITH_NCCL=ON failed; building without NCCL:"
  grep -m5 -E "error" "$build.build.log" || tail -5 "$build.build.log"
  configure OFF
  cmake --build "$build" -j"$(nproc)" 2>&1 | tail -3
else
  echo "device-check: built with the NCCL backend (data-parallel training on CUDA)"
fi
ctest --test-dir "$build" --output-on-failure -j4 2>&1 | tail -25
for b in "$build"/tests/bench/bench_*; do
  [ -x "$b" ] || continue
  [ "$(basename "$b")" = bench_sd15 ] && continue  # its own harness, below
  echo "== $(basename "$b")"
  "$b" --benchmark_min_time=0.2 2>/dev/null | grep -E "^(BM_|-|Benchmark)" || true
done
# SD1.5 at 512x512 on the GPU: ControlNet / UNet step (batch 2 for CFG), VAE decode, the whole
# 30-step euler_a job, with peak VRAM; fp16 as users run it, then fp32 for the comparison.
if [ -x "$build/tests/bench/bench_sd15" ]; then
  echo "== bench_sd15 (cuda fp16)"
  "$build/tests/bench/bench_sd15" --device cuda --dtype fp16 --iters 5 --job 2>/dev/null || true
  echo "== bench_sd15 (cuda fp32)"
  "$build/tests/bench/bench_sd15" --device cuda --dtype fp32 --iters 3 2>/dev/null || true
fi
