#pragma once
// diffusers' UNet2DConditionModel (the Stable Diffusion 1.x/2.x denoiser) in LibTorch: sinusoidal
// timestep embedding, conv_in, CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn,
// CrossAttnUpBlock2D / UpBlock2D with skip connections, GroupNorm + SiLU + conv_out. Loads a
// diffusers folder (config.json + diffusion_pytorch_model[.fp16].safetensors) with diffusers'
// parameter names. Optional ControlNet residuals (models/controlnet.h) are added to the skips and
// to the mid-block output. Torch-light header: the modules live in unet2d.cpp / nn/unet_blocks.cpp.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "models/nn/load_weights.h"

namespace caig {

// The config fields the SD1.5 family uses. Per-block lists are expanded to one entry per down
// block (in down-block order) whatever form the JSON gave.
struct UNet2DConfig {
  int64_t inChannels = 4;   // 4, or 9 for inpainting (latents, mask, masked-image latents)
  int64_t outChannels = 4;  // a ControlNet has no output head; kept at its default there
  std::vector<int64_t> blockOutChannels{320, 640, 1280, 1280};
  std::vector<std::string> downBlockTypes{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                          "DownBlock2D"};
  std::vector<std::string> upBlockTypes{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                        "CrossAttnUpBlock2D"};  // empty for a ControlNet
  std::string midBlockType = "UNetMidBlock2DCrossAttn";
  int64_t layersPerBlock = 2;
  // Heads per down block. diffusers quirk: with num_attention_heads null, attention_head_dim is
  // the number of heads (8 for SD1.5), not the size of one.
  std::vector<int64_t> numAttentionHeads{8, 8, 8, 8};
  std::vector<int64_t> transformerLayersPerBlock{1, 1, 1, 1};
  int64_t crossAttentionDim = 768;
  int64_t normNumGroups = 32;
  double normEps = 1e-5;
  bool useLinearProjection = false;
  bool upcastAttention = false;  // softmax is always computed in fp32 here
  bool flipSinToCos = true;
  double freqShift = 0.0;
  int64_t downsamplePadding = 1;
  double midBlockScaleFactor = 1.0;
  int64_t sampleSize = 64;
  int64_t timeEmbedDim() const { return blockOutChannels.front() * 4; }
};

// A diffusers UNet2DConditionModel config object; `what` names it in messages. Throws
// io::FormatError for fields outside the supported family (class/addition embeddings, scale-shift
// resnets, other block types...), naming the field.
UNet2DConfig unet2DConfigFromJson(const nlohmann::json& config, const std::string& what = "UNet config");
// config.json of a diffusers UNet folder (its _class_name must be UNet2DConditionModel).
// Throws io::FileError / io::FormatError naming the file.
UNet2DConfig readUNet2DConfig(const std::filesystem::path& dir);

class UNet2DConditionModel {
 public:
  explicit UNet2DConditionModel(const UNet2DConfig& config);  // random-initialised (benchmarks)
  ~UNet2DConditionModel();
  UNet2DConditionModel(UNet2DConditionModel&&) noexcept;
  UNet2DConditionModel& operator=(UNet2DConditionModel&&) noexcept;

  // A diffusers folder: config.json + diffusion_pytorch_model.safetensors (or a sharded index,
  // or, when only that exists, the .fp16 variant). Weights of any floating dtype are converted
  // to `dtype`. Throws io::FileError / io::FormatError (wrong _class_name, unsupported config,
  // missing/unexpected/mis-shaped keys, all listed).
  static UNet2DConditionModel load(const std::filesystem::path& dir, c10::Device device = c10::Device("cpu"),
                                   c10::ScalarType dtype = c10::kFloat);

  // The weights from a checkpoint of another layout (a single-file SD checkpoint's
  // model.diffusion_model.*, see models/sd_single_file.h), every key checked as load() does.
  // Throws io::FormatError naming what is missing, unexpected or mis-shaped.
  void loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::string& what);

  const UNet2DConfig& config() const;
  void to(c10::Device device, c10::ScalarType dtype);
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // Checkpoint keys and shapes the model expects, in module order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expectedTensors() const;
  // The live parameters by name: writing into them changes the model (LoRAs merge in place,
  // models/sd_lora.h).
  std::vector<std::pair<std::string, at::Tensor>> parameters() const;

  // sample [B, C, h, w]; timesteps [B] (float or integer) or a 0-dim tensor broadcast to B;
  // encoderHiddenStates [B, T, crossAttentionDim]. Optional ControlNet residuals: one per skip
  // connection in UNet order (3 * blocks for SD1.5: 12) and one for the mid-block output,
  // already scaled. Inputs are moved to the model's device/dtype; returns eps [B, outChannels, h, w]
  // in the model's dtype. Runs under inference mode. Throws std::invalid_argument on bad shapes.
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timesteps, const at::Tensor& encoderHiddenStates,
                     const std::vector<at::Tensor>* downResiduals = nullptr,
                     const at::Tensor* midResidual = nullptr) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
