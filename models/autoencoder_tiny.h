#pragma once
// TAESD (madebyollin's tiny autoencoder, diffusers' AutoencoderTiny) in LibTorch: a plain
// conv + ReLU encoder and decoder that map images to and from Stable Diffusion's latent space
// about 50x cheaper than the SD VAE, for live previews and an optional fast final decode.
//
// It lives in the SD latent space AFTER the VAE's 0.18215 scaling (scaling_factor 1.0): the
// denoising loop's latents are decoded as they are. Two forms load:
//  - a diffusers AutoencoderTiny folder (config.json + diffusion_pytorch_model.safetensors,
//    encoder.layers.* / decoder.layers.*), e.g. madebyollin/taesd;
//  - the original single files taesd_decoder.safetensors (and taesd_encoder.safetensors),
//    ComfyUI's models/vae_approx: a torch Sequential whose decoder starts with a parameterless
//    clamp, so its indices are diffusers' + 1 ("1.weight" = decoder.layers.0.weight). Their
//    layout is the default one (blocks 1,3,3,3 / 3,3,3,1); channels come from the tensors.
// Torch-light header.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace caig {

namespace io {
class Checkpoint;
}

struct AutoencoderTinyConfig {
  int64_t inChannels = 3, outChannels = 3, latentChannels = 4;
  std::vector<int64_t> encoderBlockOutChannels{64, 64, 64, 64};
  std::vector<int64_t> decoderBlockOutChannels{64, 64, 64, 64};
  std::vector<int64_t> numEncoderBlocks{1, 3, 3, 3};
  std::vector<int64_t> numDecoderBlocks{3, 3, 3, 1};
  int64_t upsamplingScalingFactor = 2;
  double latentMagnitude = 3.0, latentShift = 0.5;  // only for scaleLatents / unscaleLatents
  double scalingFactor = 1.0;
  int64_t downFactor() const { return int64_t{1} << (numEncoderBlocks.size() - 1); }
};

class AutoencoderTiny {
 public:
  explicit AutoencoderTiny(const AutoencoderTinyConfig& config);  // random-initialised, both halves
  ~AutoencoderTiny();
  AutoencoderTiny(AutoencoderTiny&&) noexcept;
  AutoencoderTiny& operator=(AutoencoderTiny&&) noexcept;

  // A diffusers AutoencoderTiny folder; a folder holding taesd_decoder.safetensors (and
  // optionally taesd_encoder.safetensors); or one of those files (the other half is read from
  // beside it when present). Throws io::FileError / io::FormatError naming the file and key.
  static AutoencoderTiny load(const std::filesystem::path& path, c10::Device device = c10::Device("cpu"),
                              c10::ScalarType dtype = c10::kFloat);
  // Whether load(path) would have the encoder too (headers only; false when path is no TAESD).
  static bool hasEncoderAt(const std::filesystem::path& path);

  const AutoencoderTinyConfig& config() const;
  // The live weights by diffusers name (encoder.layers.N.*, decoder.layers.N.*).
  std::vector<std::pair<std::string, at::Tensor>> parameters() const;
  bool hasEncoder() const;
  bool hasDecoder() const;
  void to(c10::Device device, c10::ScalarType dtype);
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // image [B, 3, H, W] in [-1, 1], H and W multiples of 8 -> latents [B, 4, H/8, W/8] (SD's
  // scaled latent space). Throws std::logic_error when only the decoder was loaded.
  at::Tensor encode(const at::Tensor& image) const;
  // latents [B, 4, h, w] -> image [B, 3, 8h, 8w] in about [-1, 1], unclamped (diffusers' decode).
  at::Tensor decode(const at::Tensor& latents) const;
  // diffusers' uint8 storage form of latents: (x / (2 * magnitude) + shift) clamped to [0, 1], and back.
  at::Tensor scaleLatents(const at::Tensor& latents) const;
  at::Tensor unscaleLatents(const at::Tensor& scaled) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
