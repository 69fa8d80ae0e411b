#pragma once
// LLaVA: the CLIP vision tower + projector (clip_vision.h) feeding a LLaMA-family decoder
// (llama.h). A prompt holds ONE image placeholder id; its position is replaced by the projected
// patch features (transformers 4.38 / original LLaVA), so logits cover the expanded sequence.
// Loads transformers' LlavaForConditionalGeneration folders and original LLaVA folders
// (LlavaLlamaForCausalLM), whose vision tower may live in a separate CLIP folder named by
// `mm_vision_tower`. Torch-light header.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "models/clip_vision.h"
#include "models/llama.h"
#include "models/sampling.h"

namespace caig {

struct LlavaLoadOptions {
  c10::Device device = c10::Device("cpu");
  // The model's dtype (fp16/bf16 on CUDA), language model and vision tower alike (as
  // transformers casts the whole LLaVA model); image features are in this dtype when spliced.
  c10::ScalarType dtype = c10::kFloat;
  // A CLIP vision folder (config.json + safetensors with vision_model.* keys) for original-layout
  // checkpoints that do not carry their tower; empty: looked for beside the model (see load).
  std::filesystem::path visionTowerDir;
  // For classes built on LLaVA (the reward model): checkpoint keys starting with one of these
  // belong to their heads and are skipped here, and a checkpoint without lm_head.weight (a
  // sequence classifier) loads with the embedding table standing in for it (logits then mean
  // nothing; hidden states are exact).
  std::vector<std::string> headKeyPrefixes;
  bool languageHeadOptional = false;
  // The language model's decoder linear layers as weight-only int8 (LlamaModel::quantizeInt8),
  // computing in `dtype`: a 7B model in about 7 GB. Inference only.
  bool int8Weights = false;
};

class LlavaModel {
 public:
  LlavaModel(LlavaVisionModel vision, LlamaModel language, int64_t imageTokenIndex);
  ~LlavaModel();
  LlavaModel(LlavaModel&&) noexcept;
  LlavaModel& operator=(LlavaModel&&) noexcept;

  // A LLaVA folder of either layout (sharded safetensors included). An original-layout
  // checkpoint without vision tower weights takes them from opts.visionTowerDir, else from
  // <dir>/<last component of mm_vision_tower>, <dir>/vision_tower or mm_vision_tower itself when
  // it is an existing folder. Throws io::FileError (naming the places tried) / io::FormatError.
  static LlavaModel load(const std::filesystem::path& dir, const LlavaLoadOptions& opts = {});

  int64_t imageSize() const;        // pixels are [B, 3, imageSize, imageSize]
  int64_t numImageTokens() const;   // positions one image takes (patches, + CLS when kept)
  int64_t imageTokenIndex() const;  // the placeholder id (999 in the fixtures, -200 in LLaVA code)
  const LlamaModel& languageModel() const;
  // For training: adapters attach to the language model (LoRA) and its weights may be merged.
  LlamaModel& mutableLanguageModel();
  const LlavaVisionModel& visionModel() const;

  // pixels [B, 3, S, S] normalised -> [B, numImageTokens, hidden] in the language model's dtype.
  at::Tensor encodeImages(const at::Tensor& pixels) const;
  // ids [T] int64 with exactly one placeholder, imageFeatures [N, hidden] -> [T - 1 + N, hidden]:
  // text embeddings with the features in the placeholder's place (the placeholder is never
  // embedded). Throws std::invalid_argument for zero or several placeholders or ids out of vocab.
  at::Tensor spliceEmbeddings(const at::Tensor& ids, const at::Tensor& imageFeatures) const;
  // ids [B, T] (one placeholder per row), pixels [B, 3, S, S] -> logits [B, T - 1 + N, vocab]
  // and final-norm hidden states over the expanded sequence.
  LlamaOutput forward(const at::Tensor& ids, const at::Tensor& pixels) const;
  // The spliced input embeddings forward() runs: [B, T - 1 + N, hidden].
  at::Tensor embedPrompts(const at::Tensor& ids, const at::Tensor& pixels) const;

  // numSequences sampled continuations of one prompt: ids [T] or [1, T] (one placeholder), pixels
  // [1, 3, S, S]. The image is encoded and the prompt prefilled once; the KV cache is then
  // repeated to numSequences rows (row r samples with seed + r). The repetition penalty sees the
  // prompt's text ids.
  GenerationResult generate(const at::Tensor& ids, const at::Tensor& pixels, int64_t numSequences,
                            const SamplingOptions& options, const TokenCallback& callback = {},
                            const std::atomic<bool>* cancel = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Where an original-layout checkpoint's separate CLIP tower is (see LlavaModel::load); throws
// io::FileError naming what was looked for and how to point at it.
std::filesystem::path resolveLlavaVisionTower(const std::filesystem::path& modelDir, const nlohmann::json& config,
                                              const std::filesystem::path& explicitDir = {});

}  // namespace caig
