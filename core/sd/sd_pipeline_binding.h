#pragma once
// core/sd/sd_generation.cpp's view of models/sd_pipeline (the diffusers ControlNet-inpaint
// pipeline in LibTorch): OpenCV images in and out, no Torch types, so that the job logic (layout,
// seeds, paste-back, saving) stays independent of how the pipeline is called. Internal to
// caig_core_sd; implemented in sd_pipeline_binding.cpp.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace caig {

struct SdSettings;
struct SdLora;

class SdPipelineBinding {
 public:
  // Loads request.modelDir's text encoder, UNet, ControlNet (or request.controlnetDir), VAE and
  // scheduler config on the resolved device / precision (see SdSettings::device, ::precision).
  static SdPipelineBinding load(const SdSettings& request);
  SdPipelineBinding();
  ~SdPipelineBinding();  // frees the weights and the device memory they held
  SdPipelineBinding(SdPipelineBinding&&) noexcept;
  SdPipelineBinding& operator=(SdPipelineBinding&&) noexcept;

  std::string deviceName() const;     // "cpu", "cuda:0"
  std::string precisionName() const;  // "fp32", "fp16", "bf16"

  struct Job {
    // The prompt and the negative prompt as weighted chunks of 77 CLIP ids (as many of each,
    // core/text/prompt_weighting.h).
    std::vector<std::vector<int64_t>> promptChunks, negativeChunks;
    std::vector<std::vector<float>> promptWeights, negativeWeights;
    cv::Mat image;                                // CV_8UC3 BGR, working size: the product over the fill
    cv::Mat mask;                                 // CV_8UC1, 255 = repaint
    cv::Mat control;                              // CV_8UC3 canny control image
    std::uint64_t seed = 0;
    // A safetensors file whose tensor "latents" (or only tensor), [1, 4, H/8, W/8], replaces the
    // seed's initial noise: reproduces a run of another implementation (diffusers) exactly.
    std::filesystem::path initialLatentsFile;
    std::string sampler;
    int steps = 0;
    double guidance = 0, controlnetScale = 0;
    int clipSkip = 0;  // text encoder layers skipped (diffusers' clip_skip)
    // Merged into the UNet and the text encoder for this job; the previous job's set is undone
    // first, bit for bit (models/sd_inpaint_pipeline.h, setLoras).
    std::vector<SdLora> loras;
    bool fastDecode = false;  // the final decode by TAESD (loaded from SdSettings::taesdPath)
    bool fastEncode = false;  // the image's encode by TAESD's encoder
    const std::atomic<bool>* cancel = nullptr;
    // After each denoising step; preview: CV_8UC3 BGR, any size (the caller resizes it): TAESD's
    // decode when it is loaded, else the linear latent colours at 1/8 size.
    std::function<void(int step, int totalSteps, const cv::Mat& preview)> onStep;
    bool previews = true;  // false: onStep gets an empty preview (nobody shows it)
  };
  struct LoraUse {
    std::filesystem::path file;
    double weight = 1.0;
    std::int64_t unetModules = 0, textModules = 0;
    std::vector<std::string> unmatched;  // the file's module keys that matched nothing
  };
  struct Output {
    cv::Mat image;  // CV_8UC3 BGR at the working size
    bool cancelled = false;
    double loraSeconds = 0, denoiseSeconds = 0, decodeSeconds = 0;
    std::vector<LoraUse> loras;
  };
  Output run(const Job& job);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
