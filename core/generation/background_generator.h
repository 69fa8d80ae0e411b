#pragma once
// The BackgroundGenerator engine interface: the product laid out at the generator's working size
// (its pixels, alpha, inpainting mask and control image), a prompt and a seed -> one background,
// with per-step progress, previews and cancellation. The procedural backdrop renderer
// (core/backdrop/builtin_generator.h) and SD1.5 + ControlNet inpainting (core/sd/sd_generation.h)
// implement it; the generation job (core/generation/generation_job.h) does everything around it
// (cutout, placement, prompts, paste-back, ranking, storing) once for every engine.
// Qt-free and Torch-free.

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>

#include "core/generation/composition.h"

namespace caig {

// An engine's settings: option key -> value, a JSON object (see GeneratorKind::options in
// core/generation/generator_registry.h). Engines receive them complete (every default filled in).
using GeneratorSettings = nlohmann::json;

struct BackgroundRequest {
  const Layout& layout;  // at the working size: product pixels over the fill, alpha, mask, control
  cv::Size adSize;       // the final ad's size (the layout's canvas when the engine draws at it)
  std::string prompt;
  // How the prompt's writer planned it (the built-in planner's backdrop spec, style and harmony);
  // null for prompts written by anyone else. Engines that cannot use it ignore it.
  nlohmann::json plan;
  std::uint64_t seed = 0;
  std::string title, category;  // the product's, for engines that read the product's palette
  // Room for copy: these fractions of the height at the top and the bottom are kept free of the
  // product (see CompositionParams); engines that draw props (a podium) keep those out too.
  double copyTop = 0.0, copyBottom = 0.0;
  // Whether anyone shows per-step previews (the studio does, the CLI does not): engines whose
  // previews cost time skip them when not.
  bool previews = true;
};

struct GeneratedBackground {
  cv::Mat image;  // CV_8UC3 BGR at the layout's canvas size; empty when cancelled
  bool cancelled = false;
  // What this background used beyond the settings (the spec drawn, timings), merged into the
  // variant's recorded parameters.
  nlohmann::json record = nlohmann::json::object();
};

// After step `step` of `steps` (1-based) of one background; `preview` (CV_8UC3 at the working
// size) is empty when the engine has none.
using BackgroundStep = std::function<void(int step, int steps, const cv::Mat& preview)>;

class BackgroundGenerator {
 public:
  virtual ~BackgroundGenerator() = default;
  virtual std::string engine() const = 0;   // its GeneratorKind's name: "builtin", "sd15"
  virtual std::string modelId() const = 0;  // "builtin", "majicmix-v7+control_v11p_sd15_canny"
  // Where its networks run ("cpu", "cuda:0") and in what precision ("fp16"); "" for engines
  // without any (the procedural renderer).
  virtual std::string device() const { return {}; }
  virtual std::string precision() const { return {}; }
  // The settings in a few words for logs and the command line ("euler_a 30 steps, cfg 7.5").
  virtual std::string describe(const GeneratorSettings& settings) const = 0;
  // The size it draws at for an ad of `adSize` (the ad size itself, or e.g. 512 on the long side).
  virtual cv::Size workingSize(cv::Size adSize, const GeneratorSettings& settings) const = 0;
  // True when this loaded engine serves `settings` as a fresh one would (same weights on the same
  // device): a job reuses it instead of loading again.
  virtual bool reusableFor(const GeneratorSettings& settings) const = 0;
  // Throws std::invalid_argument for a layout or settings it cannot draw, and its own errors.
  // With `*cancel` set it returns within one step, cancelled.
  virtual GeneratedBackground generate(const BackgroundRequest& request, const GeneratorSettings& settings,
                                       const BackgroundStep& onStep, const std::atomic<bool>* cancel) = 0;
};

}  // namespace caig
