#pragma once
// CLIP's text transformer (transformers CLIPTextModel, the SD1.5 prompt encoder): token +
// learned position embeddings, pre-LayerNorm encoder layers (causal self-attention, MLP with
// quick_gelu), final LayerNorm. Parameter names are transformers' (text_model.embeddings.
// token_embedding.weight, text_model.encoder.layers.N.self_attn.q_proj.weight, ...,
// text_model.final_layer_norm.weight), so they are the checkpoint keys. Torch-light header.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/nn/load_weights.h"

namespace caig::io {
class Checkpoint;
}

namespace caig {

// transformers' CLIPTextConfig defaults (what config.json files omit).
struct ClipTextConfig {
  int vocabSize = 49408;
  int hiddenSize = 512;
  int intermediateSize = 2048;
  int numHiddenLayers = 12;
  int numAttentionHeads = 8;
  int maxPositionEmbeddings = 77;
  std::string hiddenAct = "quick_gelu";  // also "gelu" (erf), "gelu_new" / "gelu_pytorch_tanh"
  double layerNormEps = 1e-5;
  int64_t bosTokenId = 49406;
  int64_t eosTokenId = 49407;
  int64_t padTokenId = 1;
};

// config.json of a CLIPTextModel folder (model_type "clip_text_model", or a full "clip" config
// whose text_config is used). Throws io::FileError / io::FormatError.
ClipTextConfig readClipTextConfig(const std::filesystem::path& modelDir);

struct ClipTextOutput {
  at::Tensor lastHiddenState;         // [B, T, hidden] after final_layer_norm (SD's prompt embeds)
  at::Tensor penultimateHiddenState;  // [B, T, hidden] hidden_states[-2], no final norm (clip skip 2)
  at::Tensor pooled;                  // [B, hidden] last_hidden_state at the end token (see forward)
};

class ClipTextModel {
 public:
  explicit ClipTextModel(const ClipTextConfig& config = {});
  ~ClipTextModel();
  ClipTextModel(ClipTextModel&&) noexcept;
  ClipTextModel& operator=(ClipTextModel&&) noexcept;

  // A transformers folder: config.json + model.safetensors (or sharded / fp16 variant).
  static ClipTextModel load(const std::filesystem::path& modelDir, c10::Device device = c10::Device("cpu"));

  const ClipTextConfig& config() const;
  std::vector<std::pair<std::string, std::vector<int64_t>>> expectedTensors() const;
  // The live parameters by name: writing into them changes the model (models/sd_lora.h).
  std::vector<std::pair<std::string, at::Tensor>> parameters() const;
  // Throws io::FormatError naming missing/unexpected/mismatched keys. The non-weight buffer
  // text_model.embeddings.position_ids that older checkpoints carry is accepted and ignored.
  void loadWeights(const io::Checkpoint& checkpoint);
  // From a checkpoint of another layout (a single-file SD checkpoint's cond_stage_model.*).
  void loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::string& what);
  void to(c10::Device device);
  c10::Device device() const;

  // inputIds: [B, T] integer, T <= maxPositionEmbeddings. Causal attention, no padding mask
  // (as Stable Diffusion). pooled: as transformers, argmax(inputIds) when eosTokenId == 2 (the
  // legacy configs), else the first position holding eosTokenId (position 0 if absent).
  ClipTextOutput forward(const at::Tensor& inputIds) const;
  // text_model.final_layer_norm alone: diffusers' clip_skip applies it to hidden_states[-2].
  at::Tensor finalLayerNorm(const at::Tensor& hidden) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A1111 / CAIG prompt weighting on the encoder (the ids and weights come from
// core/text/prompt_weighting.h): each 77-id chunk is encoded alone, its hidden states multiplied
// by the tokens' weights and rescaled so that the chunk keeps the mean it had unweighted; the
// chunks are concatenated along the sequence, [1, 77 * chunks, hidden]. clipSkip as
// SdInpaintPipeline::encodePrompt (1: the penultimate layer through the final norm). Throws
// std::invalid_argument for chunks that are not 77 ids with as many weights.
at::Tensor weightedTextEmbeddings(const ClipTextModel& encoder, const std::vector<std::vector<int64_t>>& chunkIds,
                                  const std::vector<std::vector<float>>& chunkWeights, int clipSkip = 0);

}  // namespace caig
