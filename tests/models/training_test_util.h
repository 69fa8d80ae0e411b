#pragma once
// Tiny random LLaMA models for the training tests (test_lora.cpp, test_preference.cpp).

#include <torch/torch.h>

#include "models/llama.h"

namespace caig::test {

inline LlamaConfig tinyConfig() {
  LlamaConfig c;
  c.vocabSize = 64;
  c.hiddenSize = 32;
  c.intermediateSize = 48;
  c.numLayers = 2;
  c.numHeads = 4;
  c.numKvHeads = 2;
  c.headDim = 8;
  c.maxPositions = 128;
  c.tieWordEmbeddings = false;
  return c;
}

// Every weight drawn N(0, 0.2^2) from `seed` (RMSNorm weights near 1), optionally in double.
inline LlamaModel randomModel(uint64_t seed, at::ScalarType dtype = at::kFloat, LlamaConfig c = tinyConfig()) {
  LlamaModel model(c);
  torch::NoGradGuard noGrad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, p] : model.namedParameters()) {
    if (name.find("norm") != std::string::npos) p.copy_(1.0 + 0.1 * at::randn(p.sizes(), gen));
    else p.copy_(0.2 * at::randn(p.sizes(), gen));
  }
  model.to(torch::kCPU, dtype);
  return model;
}

inline at::Tensor randomIds(int64_t B, int64_t T, uint64_t seed, int64_t vocab = 64) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(vocab, {B, T}, gen, at::TensorOptions().dtype(at::kLong));
}

inline double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace caig::test
