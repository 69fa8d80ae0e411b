#pragma once
// LLaVA's vision side: the CLIP vision transformer (transformers CLIPVisionModel: conv patch
// embedding without bias, class token, learned position embeddings, pre_layrnorm, pre-LayerNorm
// encoder layers with quick_gelu) read at hidden_states[vision_feature_layer] (-2: the input of
// the last encoder layer; LLaVA never applies post_layernorm), and the multimodal projector
// (`mlp2x_gelu`: Linear, GELU (erf), Linear; or `linear`) that maps patch features into the
// language model's embedding space. Both checkpoint layouts load: transformers'
// (vision_tower.vision_model.*, multi_modal_projector.linear_{1,2}.*) and the original LLaVA
// one (model.vision_tower.vision_tower.vision_model.*, model.mm_projector.{0,2}.*); the names
// are mapped in one place (llavaVisionWeightNaming). Torch-light header: modules live in the .cpp.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "models/nn/load_weights.h"

namespace caig::io {
class Checkpoint;
}

namespace caig {

// transformers' CLIPVisionConfig defaults (what config.json files omit).
struct ClipVisionConfig {
  int hiddenSize = 768;
  int intermediateSize = 3072;
  int numHiddenLayers = 12;
  int numAttentionHeads = 12;
  int numChannels = 3;
  int imageSize = 224;
  int patchSize = 32;
  std::string hiddenAct = "quick_gelu";  // also "gelu" (erf), "gelu_new" / "gelu_pytorch_tanh"
  double layerNormEps = 1e-5;

  int numPatches() const { return (imageSize / patchSize) * (imageSize / patchSize); }
};

// A CLIPVisionConfig object (a LLaVA config's `vision_config`, model_type clip_vision_model when
// present) with the library's defaults. Throws io::FormatError for inconsistent sizes or an
// unknown activation.
ClipVisionConfig clipVisionConfigFromJson(const nlohmann::json& config);

enum class LlavaProjectorType { Linear, Mlp2xGelu };
// Which key layout a LLaVA checkpoint uses.
enum class LlavaLayout { Transformers, Original };

struct LlavaVisionConfig {
  ClipVisionConfig vision;
  LlavaProjectorType projector = LlavaProjectorType::Mlp2xGelu;
  int64_t textHiddenSize = 4096;  // projector output: the language model's hidden size
  int featureLayer = -2;          // index into hidden_states (embeddings, layer 1, ..., layer N)
  bool keepCls = false;           // select strategy "full" / "cls_patch" (default: drop CLS)
};

// A LLaVA config.json object: transformers' (model_type "llava": vision_config,
// projector_hidden_act, text_config.hidden_size, vision_feature_layer,
// vision_feature_select_strategy) or the original one (mm_projector_type, hidden_size,
// mm_vision_select_layer, mm_vision_select_feature, vision_config). Throws io::FormatError.
LlavaVisionConfig llavaVisionConfigFromJson(const nlohmann::json& config);
LlavaVisionConfig readLlavaVisionConfig(const std::filesystem::path& modelDir);  // + io::FileError

// Module name (vision_model.*, projector.linear_{1,2}.*) -> checkpoint key for each layout; keys
// of the language model, CLIP's unused post_layernorm and position_ids buffer are ignored.
WeightNaming llavaVisionWeightNaming(LlavaLayout layout,
                                     LlavaProjectorType projector = LlavaProjectorType::Mlp2xGelu);
// The layout whose vision keys the checkpoint holds. Throws io::FormatError when neither.
LlavaLayout detectLlavaLayout(const io::Checkpoint& checkpoint);

// Refuses, before the model is built, a vision config whose sizes the weights do not have
// (hidden_size, image_size, patch_size, num_channels, num_hidden_layers, intermediate_size, the
// projector's output): io::FormatError naming `configName` and the field. `tower` holds the
// vision_model.* weights and `projector` the projector's, each under its naming.
void checkLlavaVisionConfig(const LlavaVisionConfig& config, const io::Checkpoint& tower, const WeightNaming& towerNaming,
                            const io::Checkpoint& projector, const WeightNaming& projectorNaming,
                            const std::string& configName);

class LlavaVisionModel {
 public:
  explicit LlavaVisionModel(const LlavaVisionConfig& config = {});
  ~LlavaVisionModel();
  LlavaVisionModel(LlavaVisionModel&&) noexcept;
  LlavaVisionModel& operator=(LlavaVisionModel&&) noexcept;

  // A LLaVA folder (either layout): config.json + model.safetensors (or sharded).
  static LlavaVisionModel load(const std::filesystem::path& modelDir, c10::Device device = c10::Device("cpu"));

  const LlavaVisionConfig& config() const;
  // Module names (vision_model.embeddings.class_embedding, ..., projector.linear_1.weight).
  std::vector<std::pair<std::string, std::vector<int64_t>>> expectedTensors() const;
  // Throws io::FormatError naming missing/unexpected/mismatched keys; untouched on error.
  void loadWeights(const io::Checkpoint& checkpoint, LlavaLayout layout);
  void loadWeights(const io::Checkpoint& checkpoint);  // layout detected from the keys
  // The tower from a CLIP (vision) model checkpoint of its own (vision_model.* keys; a full CLIP
  // model's text_model.*, projections and logit_scale are ignored) and the projector from the
  // LLaVA checkpoint in `projectorLayout` (original LLaVA folders whose mm_vision_tower is a
  // separate CLIP model). Throws io::FormatError naming the keys; untouched on error.
  void loadWeights(const io::Checkpoint& tower, const io::Checkpoint& projector, LlavaLayout projectorLayout);
  void to(c10::Device device);  // keeps the dtype
  // fp16/bf16 on CUDA with the language model (as transformers casts the whole LLaVA model).
  void to(c10::Device device, c10::ScalarType dtype);
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // pixelValues: float [B, numChannels, imageSize, imageSize], already normalised; any floating
  // dtype (converted to the tower's). Outputs are in the tower's dtype.
  // hidden_states[featureLayer] of the vision tower, CLS at index 0: [B, 1 + numPatches, hidden].
  at::Tensor visionHiddenStates(const at::Tensor& pixelValues) const;
  // The projector alone: [..., vision hidden] -> [..., textHiddenSize].
  at::Tensor project(const at::Tensor& features) const;
  // What LLaVA splices in place of the image token: visionHiddenStates with the CLS token
  // dropped (unless keepCls), projected: [B, numPatches (+1), textHiddenSize].
  at::Tensor imageFeatures(const at::Tensor& pixelValues) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
