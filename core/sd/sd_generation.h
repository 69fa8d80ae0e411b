#pragma once
// The neural BackgroundGenerator: Stable Diffusion 1.5 + ControlNet canny inpainting
// (models/sd_inpaint_pipeline.h) on the product laid out at the working size (512 on the long
// side by default, a multiple of 8). Registered as the engine "sd15" with its options (model and
// ControlNet folders, sampler, steps, CFG, ControlNet scale, clip skip, negative prompt, working
// size, device, precision, initial latents, LoRAs, VAE, TAESD and the final decode); the generation job does the rest.
//
// Torch-free header (the studio's Qt code may include it); the library is caig_core_sd.

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/generation/generator_registry.h"

namespace caig {

// A model folder that cannot be used: names the folder and what is missing or wrong in it.
class SdModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What an ad background should not show. SD1.5 fine-tunes draw text, watermarks, extra copies
// of the subject and people unless told not to; a product ad wants none of them, and the usual
// quality words keep the photographic fine-tunes (majicMIX, Realistic Vision) away from their
// low-quality modes.
extern const char* const kDefaultSdNegativePrompt;

// The samplers models/sd_pipeline offers: euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras,
// dpmpp_singlestep, dpmpp_singlestep_karras, dpmpp_sde, dpmpp_sde_karras, unipc, lcm. CAIG used
// euler_a; its "DPM++ SDE Karras" is diffusers' DPMSolverSinglestepScheduler with Karras sigmas
// (dpmpp_singlestep_karras); dpmpp_sde_karras is the real DPM++ SDE (DPMSolverSDEScheduler).
const std::vector<std::string>& sdSamplerNames();

// A LoRA file merged into the model for a job, at a weight (A1111's <lora:name:weight>).
struct SdLora {
  std::filesystem::path file;
  double weight = 1.0;
};

// The "sd15" engine's settings, typed.
struct SdSettings {
  // A diffusers StableDiffusion(ControlNet)(Inpaint)Pipeline folder: model_index.json with
  // text_encoder, tokenizer, unet, vae, scheduler (and controlnet unless controlnetDir is set).
  std::filesystem::path modelDir;
  // A diffusers ControlNetModel folder (e.g. control_v11p_sd15_canny); empty = modelDir/controlnet.
  std::filesystem::path controlnetDir;
  std::string sampler = "euler_a";
  int steps = 30;
  double guidance = 7.5;         // classifier-free guidance scale (<= 1 turns CFG off)
  double controlnetScale = 1.0;  // conditioning scale of the canny ControlNet
  // A1111's "Clip skip": 1 = the text encoder's last layer, 2 = its penultimate layer (through the
  // final LayerNorm; diffusers' clip_skip=1), what many SD1.5 fine-tunes' model cards ask for.
  int clipSkip = 1;
  std::string negativePrompt = kDefaultSdNegativePrompt;
  int workingLongSide = 512;     // generator size: long side, multiple of 8 (SD1.5: 512)
  std::string device = "auto";     // auto (CUDA when available) | cpu | cuda | cuda:N
  std::string precision = "auto";  // auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16
  // Optional: safetensors with the initial noise ("latents" [1, 4, H/8, W/8]) for every variant
  // instead of the seed's (the seed still drives stochastic samplers): reproduces another
  // implementation's run exactly.
  std::filesystem::path initialLatentsFile;
  // LoRA .safetensors files (kohya / A1111, LoCon, diffusers, LCM-LoRA) for every variant; the
  // prompt's <lora:name:weight> tags add installed ones (see ModelRegistry::findSdLora).
  std::vector<SdLora> loras;
  // A VAE instead of the model's own (a diffusers AutoencoderKL folder or a .safetensors VAE file,
  // e.g. vae-ft-mse-840000-ema-pruned); empty: the model's.
  std::filesystem::path vaePath;
  // TAESD (a diffusers AutoencoderTiny folder, or taesd_decoder.safetensors) for the live
  // previews; empty: the linear latent preview.
  std::filesystem::path taesdPath;
  // The final decode: "vae" (the model's VAE, full quality) or "taesd" (TAESD: tens of times
  // cheaper, a little softer; needs taesdPath, or an installed TAESD the engine then records).
  std::string vaeDecode = "vae";
  // The product image's encode: "vae", or "taesd" (its encoder; the Fast quality's choice, since
  // the product's own pixels are pasted back over the result).
  std::string vaeEncode = "vae";
};

// Typed view of complete "sd15" settings (see completeSettings), and back.
SdSettings sdSettings(const GeneratorSettings& settings);
GeneratorSettings toGeneratorSettings(const SdSettings& settings);

// The "sd15" engine: options, checks (the folders hold every component before a weight is read)
// and creation. registerSdGenerator() adds it once (later calls do nothing).
GeneratorKind sdGeneratorKind();
void registerSdGenerator();

// The loaded pipeline (tokenizer, text encoder, UNet, ControlNet, VAE) on its device. Load once,
// render many jobs; destroying it frees the weights and the device memory they held.
class SdEngine {
 public:
  // Throws SdModelError naming the folder and the missing component or file, std::invalid_argument
  // for a bad device / precision, io::FormatError for malformed weights.
  explicit SdEngine(const SdSettings& settings);
  ~SdEngine();
  SdEngine(SdEngine&&) noexcept;
  SdEngine& operator=(SdEngine&&) noexcept;

  // "<model folder>+<controlnet folder>", e.g. "majicmix-v7+control_v11p_sd15_canny".
  const std::string& modelId() const;
  std::string device() const;
  std::string precision() const;
  // True when this engine was loaded for the same folders and files, device and precision (reuse it).
  bool matches(const SdSettings& settings) const;

  struct Impl;  // defined in sd_generation.cpp (Torch)
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
