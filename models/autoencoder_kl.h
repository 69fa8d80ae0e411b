#pragma once
// diffusers' AutoencoderKL (the Stable Diffusion VAE) in LibTorch: encoder (conv_in,
// DownEncoderBlock2D x N with asymmetric-padded stride-2 downsamplers, mid block with one global
// self-attention, GroupNorm + SiLU + conv_out, quant_conv) to the diagonal-Gaussian posterior, and
// decoder (post_quant_conv, conv_in, mid block, UpDecoderBlock2D x N with nearest x2 upsampling,
// GroupNorm + SiLU + conv_out). Loads a diffusers folder with diffusers' parameter names; the
// legacy attention names (query/key/value/proj_attn) are accepted too. Torch-light header.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/nn/load_weights.h"

namespace caig {

struct AutoencoderKLConfig {
  int64_t inChannels = 3;
  int64_t outChannels = 3;
  int64_t latentChannels = 4;
  std::vector<int64_t> blockOutChannels{128, 256, 512, 512};
  int64_t layersPerBlock = 2;
  int64_t normNumGroups = 32;
  double scalingFactor = 0.18215;
  // Pixels per latent cell: 2^(blocks - 1).
  int64_t downFactor() const { return int64_t{1} << (blockOutChannels.size() - 1); }
};

class AutoencoderKL {
 public:
  explicit AutoencoderKL(const AutoencoderKLConfig& config);  // random-initialised
  ~AutoencoderKL();
  AutoencoderKL(AutoencoderKL&&) noexcept;
  AutoencoderKL& operator=(AutoencoderKL&&) noexcept;

  // config.json (_class_name AutoencoderKL) + diffusion_pytorch_model[.fp16].safetensors.
  // Throws io::FileError / io::FormatError naming the file.
  static AutoencoderKL load(const std::filesystem::path& dir, c10::Device device = c10::Device("cpu"),
                            c10::ScalarType dtype = c10::kFloat);

  // The weights from a checkpoint of another layout (a single-file SD checkpoint's
  // first_stage_model.*, see models/sd_single_file.h). Throws io::FormatError.
  void loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::string& what);

  const AutoencoderKLConfig& config() const;
  // The live weights by diffusers name (benchmarks write them out as checkpoints).
  std::vector<std::pair<std::string, at::Tensor>> parameters() const;
  void to(c10::Device device, c10::ScalarType dtype);
  c10::Device device() const;
  c10::ScalarType dtype() const;
  double scalingFactor() const { return config().scalingFactor; }

  struct Moments {
    at::Tensor mean, logvar;  // [B, latent, H/f, W/f]; logvar clamped to [-30, 20] as diffusers does
  };
  // image [B, inChannels, H, W] in [-1, 1], H and W multiples of downFactor(). Inputs move to the
  // model's device/dtype; outputs are in the model's dtype. Inference mode.
  Moments encodeMoments(const at::Tensor& image) const;
  // The posterior mode (= mean): raw latents, NOT multiplied by scalingFactor().
  at::Tensor encodeMode(const at::Tensor& image) const;
  // Raw latents (divide SD latents by scalingFactor() first) -> image [B, outChannels, H, W], unclamped.
  at::Tensor decode(const at::Tensor& latents) const;
  // decode() over overlapping latent tiles of tileLatent cells (overlapLatent shared between
  // neighbours) to bound memory on large images. Tiles are blended with weights that ramp linearly
  // across each overlap, so seams fade out. Not bit-equal to decode(): the mid-block attention and
  // the GroupNorms see only their tile, not the whole latent.
  at::Tensor decodeTiled(const at::Tensor& latents, int64_t tileLatent = 64, int64_t overlapLatent = 16) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
