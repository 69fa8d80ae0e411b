#pragma once
// The Stable Diffusion 1.x ControlNet-inpaint job, step for step as diffusers 0.27's
// StableDiffusionControlNetInpaintPipeline (strength 1, VAE posterior mode, no guess mode):
// text encoder -> CFG denoising loop (ControlNet residuals into the UNet, any scheduler of
// models/diffusion_schedulers.h) with latent mask blending for 4-channel UNets, or the
// [latents, mask, masked-image latents] input of 9-channel inpainting UNets -> VAE decode.
// Torch-light header; the models live behind a pimpl.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/sd_lora.h"
#include "models/sd_single_file_hints.h"

namespace caig {

class NoiseSource;
class AutoencoderKL;
class AutoencoderTiny;
class UNet2DConditionModel;
class ControlNetModel;
class ClipTextModel;

struct SdLoadOptions {
  c10::Device device{c10::kCPU};
  // Weights of UNet, ControlNet and VAE (the text encoder stays fp32; its output is cast). fp32
  // on CPU; fp16 is the usual choice on CUDA.
  c10::ScalarType dtype = c10::kFloat;
  // A diffusers ControlNet folder or an original-layout single file; empty: the pipeline folder's controlnet/.
  std::filesystem::path controlnetDir;
  std::string schedulerName;            // "" = the folder's scheduler class; else a makeScheduler() name
  // A VAE instead of the model's own: a diffusers AutoencoderKL folder, or a .safetensors VAE file
  // (LDM names as vae-ft-mse-840000-ema-pruned.safetensors, or diffusers' names).
  std::filesystem::path vaePath;
  // TAESD (models/autoencoder_tiny.h) for previews and SdInpaintJob::fastDecode; empty: none.
  std::filesystem::path taesdPath;
  // A single-file checkpoint (models/sd_single_file.h) instead of a folder: what its shapes
  // cannot say (default: the .yaml beside it, else SD1.5's values). It has no scheduler config
  // (kSd15SchedulerConfig is used) and holds no ControlNet: controlnetDir is then required.
  std::optional<SdSingleFileHints> singleFileHints;
};

// The scheduler a single-file SD1.5 checkpoint is sampled with: SD1.5's training betas
// (runwayml/stable-diffusion-v1-5's scaled_linear 0.00085..0.012, steps_offset 1) with Euler a,
// CAIG's sampler; the engine's sampler choice swaps the class and keeps the betas.
extern const char* const kSd15SchedulerConfig;

struct SdInpaintJob {
  at::Tensor image;    // [1, 3, H, W] float RGB in [0, 1]; H, W multiples of 8
  at::Tensor mask;     // [1, 1, H, W] float, binarised at 0.5: 1 = repaint
  at::Tensor control;  // [1, 3, H, W] float RGB in [0, 1] (the ControlNet condition)
  at::Tensor promptEmbeds, negativeEmbeds;  // [1, 77, D] from encodePrompt()
  int steps = 20;
  double guidance = 7.5;  // <= 1: no classifier-free guidance (single batch, negative unused)
  double controlnetScale = 1.0;
  // Noise: initialLatents (standard normal [1, 4, H/8, W/8], tests) if defined, else drawn from
  // `noise` if set, else from SeededNoise(seed). The same source then feeds stochastic
  // schedulers, so a seed alone reproduces a variant. The initial noise is also what the
  // mask blending re-noises the image latents with (as diffusers).
  at::Tensor initialLatents;
  uint64_t seed = 0;
  NoiseSource* noise = nullptr;
  bool keepStepLatents = false;  // fill SdInpaintResult::stepLatents (after each step and blend)
  std::string sampler;           // "" = the loaded scheduler; else a makeScheduler() name for this run
  // Decode the final latents with TAESD instead of the VAE (needs SdLoadOptions::taesdPath):
  // tens of times cheaper, a little softer. The image-to-latent encode stays the VAE's.
  bool fastDecode = false;
  // Encode the image (and the masked image of a 9-channel UNet) with TAESD's encoder instead of the
  // VAE: only the kept region's latents come from it, and the studio pastes the product's own
  // pixels back over the result, so the Fast quality trades little for a VAE encode's cost.
  bool fastEncode = false;
};

// After each step: (step index + 1, total, current latents). Return false to cancel.
using SdStepCallback = std::function<bool(int step, int total, const at::Tensor& latents)>;

struct SdInpaintResult {
  at::Tensor image;  // [1, H, W, 3] float in [0, 1] on CPU; undefined when cancelled
  bool cancelled = false;
  std::vector<at::Tensor> stepLatents;  // fp32 CPU, only with SdInpaintJob::keepStepLatents
};

class SdInpaintPipeline {
 public:
  // A diffusers pipeline folder (model_index.json + text_encoder, unet, controlnet, vae,
  // scheduler; a tokenizer folder is not needed here), or a single-file SD1.x checkpoint (a
  // .safetensors file; see SdLoadOptions). Weights go straight to options.device. Throws
  // io::FileError naming a missing component folder, io::FormatError for bad content.
  static SdInpaintPipeline load(const std::filesystem::path& pipelineDir, const SdLoadOptions& options = {});
  ~SdInpaintPipeline();
  SdInpaintPipeline(SdInpaintPipeline&&) noexcept;
  SdInpaintPipeline& operator=(SdInpaintPipeline&&) noexcept;

  // Token ids [B, 77] -> text encoder last_hidden_state [B, 77, D] (fp32, on the device).
  // clipSkip as diffusers' clip_skip: 1 = the penultimate layer's output through the final
  // LayerNorm (A1111's "Clip skip: 2", what many SD1.5 fine-tunes expect); 0 = the last layer.
  // Throws std::invalid_argument for other values.
  at::Tensor encodePrompt(const at::Tensor& ids, int clipSkip = 0) const;
  // A weighted prompt of any length (chunks of 77 ids with per-token weights, see
  // core/text/prompt_weighting.h): weightedTextEmbeddings on this text encoder, [1, 77 * chunks, D].
  at::Tensor encodeWeightedPrompt(const std::vector<std::vector<int64_t>>& chunkIds,
                                  const std::vector<std::vector<float>>& chunkWeights, int clipSkip = 0) const;

  // Throws std::invalid_argument for bad shapes (H/W not multiples of 8, mask/control sizes
  // differing from the image, missing embeds, steps < 1). cancel (checked before every step) or
  // progress returning false => cancelled result without an image.
  SdInpaintResult run(const SdInpaintJob& job, const SdStepCallback& progress = {}, const std::atomic<bool>* cancel = nullptr) const;

  // Cheap latent -> RGB [1, 3, h, w] in [0, 1] at latent size: the linear SD1.5 latent-to-RGB
  // factors popularised by ComfyUI's previews (unscaled latents as they come out of the loop).
  static at::Tensor latentPreview(const at::Tensor& latents);
  // With TAESD loaded: the latents decoded by it, RGB [B, 3, 8h, 8w] in [0, 1] (the previews
  // ComfyUI and A1111 show with TAESD installed). Throws std::logic_error without TAESD.
  bool hasTaesd() const;
  at::Tensor taesdPreview(const at::Tensor& latents) const;

  // LoRAs merged now, with what each matched.
  struct LoraApplied {
    SdLoraChoice choice;
    int64_t unetModules = 0, textModules = 0;
    std::vector<std::string> unmatched;  // module keys that matched nothing (warn with their count)
  };
  // Makes `loras` (in order, each at its weight; empty: none) the set merged into the UNet and the
  // text encoder: the weights the previous set changed are read again from the model's files (so
  // that the result is bit for bit a fresh load with the new set, without a second copy of the
  // weights in memory), then each file is merged. Every file is read and checked first: one that
  // fails throws io::FileError / io::FormatError naming it and its key, and the previous set stays.
  // The same set again (same files, unchanged on disk, same weights) does nothing.
  const std::vector<LoraApplied>& setLoras(const std::vector<SdLoraChoice>& loras);
  const std::vector<LoraApplied>& loras() const;

  const AutoencoderKL& vae() const;
  const AutoencoderTiny* taesd() const;  // null when none was loaded
  const UNet2DConditionModel& unet() const;
  const ClipTextModel& textEncoder() const;
  std::string schedulerName() const;  // the scheduler each run() builds afresh
  c10::Device device() const;
  c10::ScalarType dtype() const;

 private:
  SdInpaintPipeline();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
