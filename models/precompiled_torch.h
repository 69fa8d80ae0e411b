// The LibTorch headers nearly every Torch-using file of the project includes, compiled once into a
// precompiled header (CMake option CAIG_PCH). Parsing them costs ~12 s of a ~30 s compile; with the
// PCH each Torch-using file loads them instead. Only headers every LibTorch (CPU 1.13, CUDA 2.x)
// has; nothing CUDA-specific. Files still include what they use: this header only speeds that up.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <nlohmann/json.hpp>
