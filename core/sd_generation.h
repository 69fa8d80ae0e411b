#pragma once
// The main job on the neural generator: a cut-out product -> CAIG placement at the generator's
// working size (product, inpainting mask, canny control) -> Stable Diffusion 1.5 + ControlNet
// canny inpainting (models/sd_pipeline.h) -> the background resized to the ad size -> the
// ORIGINAL product pixels pasted back at full resolution -> variants stored in the project.
// As core/builtin_generation.h: a pure compute step (safe on a worker thread) and a save step
// (on the thread that owns the project's database).
//
// Torch-free header (the studio's Qt code includes it); the library is caig_core_sd.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/composition.h"

namespace caig {

class Project;
struct Variant;

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

// fixed: every variant uses `seed`; increment: variant i (over all prompts) uses seed + i;
// random: a fresh seed per variant (recorded with the variant, so it can be reproduced).
enum class SeedMode { Fixed, Increment, Random };
std::string toString(SeedMode mode);
SeedMode parseSeedMode(const std::string& name);  // throws std::invalid_argument

// The samplers models/sd_pipeline offers: euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras,
// unipc, lcm. CAIG used euler_a.
const std::vector<std::string>& sdSamplerNames();

struct SdRequest {
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
  std::uint64_t seed = 1;
  SeedMode seedMode = SeedMode::Increment;
  int variantsPerPrompt = 1;
  std::string presetId = "1:1-1080";  // final ad size, see adPresets()
  int workingLongSide = 512;          // generator size: long side, multiple of 8 (SD1.5: 512)
  std::string device = "auto";        // auto (CUDA when available) | cpu | cuda | cuda:N
  std::string precision = "auto";     // auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16
  std::string promptSource = "user";  // PromptRecord::source of the prompts ("builtin", "llava:..")
  CompositionParams composition;
  // The user's placement of the product (ProjectStore::placement); none = CAIG's default.
  std::optional<PlacementOverride> placement;
};

// Throws std::invalid_argument naming the bad field (steps, sizes, sampler, ...).
void validateSdRequest(const SdRequest& request);

// The seed of variant `index` (0-based over the whole job) for fixed / increment; random draws.
std::uint64_t sdVariantSeed(const SdRequest& request, int index);

struct SdVariant {
  int promptIndex = 0;  // into the prompts given to renderSdVariants
  std::string prompt;
  std::string negativePrompt;
  std::uint64_t seed = 0;
  std::string sampler;
  int steps = 0;
  double guidance = 0;
  double controlnetScale = 0;
  int clipSkip = 1;
  cv::Size workingSize;
  std::string modelId;        // SdEngine::modelId()
  std::string device;         // "cpu", "cuda:0"
  std::string precision;      // "fp32", "fp16", "bf16"
  double denoiseSeconds = 0;  // text encoding + denoising loop
  double decodeSeconds = 0;   // VAE decode
  double totalSeconds = 0;    // also layout, resize and paste-back
  cv::Mat background;         // CV_8UC3 generated image at the working size, before paste-back
  cv::Mat image;              // CV_8UC3 ad at the preset size, original product pixels pasted back
  cv::Mat canvasAlpha;        // CV_8UC1 at the preset size, where the product sits
};

struct SdResult {
  std::vector<SdVariant> variants;  // the finished ones (all of them unless cancelled)
  bool cancelled = false;
};

// Called after every denoising step: step 1..totalSteps of variant `variantIndex` (0-based),
// with a quick preview of the current latents (CV_8UC3 BGR at the working size).
using SdProgress = std::function<void(int step, int totalSteps, int variantIndex, const cv::Mat& preview)>;

// The loaded pipeline (tokenizer, text encoder, UNet, ControlNet, VAE) on its device. Load once,
// render many jobs; destroying it frees the weights and the device memory they held.
class SdEngine {
 public:
  // Loads request.modelDir (+ controlnetDir) on request.device with request.precision.
  // Throws SdModelError naming the folder and the missing component or file, std::invalid_argument
  // for a bad device / precision, io::FormatError for malformed weights.
  explicit SdEngine(const SdRequest& request);
  ~SdEngine();
  SdEngine(SdEngine&&) noexcept;
  SdEngine& operator=(SdEngine&&) noexcept;

  // "<model folder>+<controlnet folder>", e.g. "majicmix-v7+control_v11p_sd15_canny".
  const std::string& modelId() const;
  std::string device() const;
  std::string precision() const;
  // True when this engine was loaded for the same folders, device and precision (reuse it).
  bool matches(const SdRequest& request) const;

  struct Impl;  // defined in sd_generation.cpp (Torch)
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// variantsPerPrompt variants for each prompt, in order (prompt 0's, then prompt 1's, ...).
// `shot`: BGR(A) product shot, `alpha`: CV_8UC1 cutout (empty: the shot's own alpha channel).
// Setting `*cancel` stops within one denoising step; the result then holds the variants
// finished before and cancelled = true. Throws CompositionError (no product in the alpha),
// std::invalid_argument (bad request, no prompts), and the engine's errors.
SdResult renderSdVariants(SdEngine& engine, const cv::Mat& shot, const cv::Mat& alpha,
                          const std::vector<std::string>& prompts, const SdRequest& request,
                          const SdProgress& progress = {}, const std::atomic<bool>* cancel = nullptr);

// The plain inpainting job, without CAIG's composition: the caller's init image, mask and
// control image (as diffusers' ControlNet-inpaint pipeline takes them), all of one size with
// both sides multiples of 8. Variants come out at that size, nothing pasted back (image ==
// background). For scripts and for checking the pipeline against other implementations.
struct SdGivenInputs {
  cv::Mat image;    // BGR(A) 8-bit
  cv::Mat mask;     // 8-bit, grey or colour (first channel): >= 128 = repaint
  cv::Mat control;  // BGR 8-bit; empty = canny (composition's thresholds) of the image where kept
  // Optional: safetensors with the initial noise ("latents" [1, 4, H/8, W/8]) for every variant
  // instead of the seed's (the seed still drives stochastic samplers).
  std::filesystem::path initialLatentsFile;
};

// Throws std::invalid_argument naming the input whose size or type is wrong.
SdResult renderSdGiven(SdEngine& engine, const SdGivenInputs& inputs, const std::vector<std::string>& prompts,
                       const SdRequest& request, const SdProgress& progress = {},
                       const std::atomic<bool>* cancel = nullptr);

// Writes the images under variants/ and, in one transaction, one prompt record per distinct
// prompt (source request.promptSource) and a variant record each (engine "sd15", every
// parameter in paramsJson).
std::vector<Variant> saveSdVariants(Project& project, std::int64_t productId, const std::vector<SdVariant>& variants,
                                    const SdRequest& request);

}  // namespace caig
