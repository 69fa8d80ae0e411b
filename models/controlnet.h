#pragma once
// diffusers' ControlNetModel for the SD1.5 family: a conditioning-image embedding
// (controlnet_cond_embedding), a copy of the UNet's conv_in, down blocks and mid block, and zero
// 1x1 convs (controlnet_down_blocks.N, controlnet_mid_block) whose outputs, scaled by the
// conditioning scale, are added to the UNet's skip connections and mid-block output
// (UNet2DConditionModel::forward). global_pool_conditions and guess mode are not supported.
// Torch-light header: the modules live in controlnet.cpp / nn/unet_blocks.cpp.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/unet2d.h"

namespace caig {

struct ControlNetConfig {
  UNet2DConfig unet;  // the shared encoder fields (upBlockTypes empty, outChannels unused)
  int64_t conditioningChannels = 3;
  std::vector<int64_t> conditioningEmbeddingOutChannels{16, 32, 96, 256};
  bool bgrConditioning = false;  // controlnet_conditioning_channel_order "bgr": channels are flipped
};

// config.json of a diffusers ControlNet folder (_class_name ControlNetModel). Throws
// io::FileError / io::FormatError naming the file and the unsupported field.
ControlNetConfig readControlNetConfig(const std::filesystem::path& dir);

struct ControlNetResiduals {
  std::vector<at::Tensor> down;  // one per UNet skip connection, UNet order, already scaled
  at::Tensor mid;                // added to the mid-block output, already scaled
};

class ControlNetModel {
 public:
  explicit ControlNetModel(const ControlNetConfig& config);  // random-initialised
  ~ControlNetModel();
  ControlNetModel(ControlNetModel&&) noexcept;
  ControlNetModel& operator=(ControlNetModel&&) noexcept;

  // A diffusers folder (config.json + diffusion_pytorch_model[.fp16].safetensors); weights of
  // any floating dtype are converted to `dtype`. Throws io::FileError / io::FormatError.
  static ControlNetModel load(const std::filesystem::path& dir, c10::Device device = c10::Device("cpu"),
                              c10::ScalarType dtype = c10::kFloat);

  // The weights from a checkpoint of another layout (lllyasviel's original one, see
  // models/sd_single_file.h). Throws io::FormatError.
  void loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::string& what);

  const ControlNetConfig& config() const;
  // The live weights by diffusers name (benchmarks write them out as checkpoints).
  std::vector<std::pair<std::string, at::Tensor>> parameters() const;
  void to(c10::Device device, c10::ScalarType dtype);
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // sample/timesteps/encoderHiddenStates as UNet2DConditionModel::forward; controlCond
  // [B, conditioningChannels, 8h, 8w] (RGB in [0, 1] for SD1.5 ControlNets). Residuals come back
  // multiplied by conditioningScale, in the model's dtype. Runs under inference mode. Throws
  // std::invalid_argument on bad shapes.
  ControlNetResiduals forward(const at::Tensor& sample, const at::Tensor& timesteps,
                              const at::Tensor& encoderHiddenStates, const at::Tensor& controlCond,
                              double conditioningScale = 1.0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
