// core/sd_generation's one Torch file: OpenCV images in and out of models/sd_inpaint_pipeline.
#include "core/sd/sd_pipeline_binding.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <chrono>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "core/sd/sd_generation.h"
#include "models/device_info.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/sd_inpaint_pipeline.h"

namespace caig {

namespace {

struct Runtime {
  c10::Device device = c10::Device("cpu");
  c10::ScalarType dtype = c10::kFloat;
};

// device auto: CUDA when LibTorch sees a GPU. precision auto: fp16 on CUDA (what SD1.5
// checkpoints are published in, half the memory), fp32 on CPU (no fast fp16 kernels there).
Runtime resolveRuntime(const std::string& device, const std::string& precision) {
  Runtime r;
  if (device == "auto") {
    r.device = torch::cuda::is_available() ? c10::Device("cuda:0") : c10::Device("cpu");
  } else if (device == "cpu" || device == "cuda" || device.rfind("cuda:", 0) == 0) {
    try {
      r.device = c10::Device(device == "cuda" ? std::string("cuda:0") : device);
    } catch (const std::exception&) {
      throw std::invalid_argument("bad device '" + device + "' (auto, cpu, cuda or cuda:N)");
    }
    if (r.device.is_cuda() && !torch::cuda::is_available()) {
      throw std::invalid_argument("device " + device + " asked for, but this LibTorch sees no CUDA device");
    }
  } else {
    throw std::invalid_argument("bad device '" + device + "' (auto, cpu, cuda or cuda:N)");
  }
  if (precision == "auto") {
    r.dtype = r.device.is_cuda() ? c10::kHalf : c10::kFloat;
  } else if (precision == "fp32") {
    r.dtype = c10::kFloat;
  } else if (precision == "fp16") {
    r.dtype = c10::kHalf;
  } else if (precision == "bf16") {
    r.dtype = c10::kBFloat16;
  } else {
    throw std::invalid_argument("bad precision '" + precision + "' (auto, fp32, fp16 or bf16)");
  }
  return r;
}

std::string dtypeName(c10::ScalarType t) {
  switch (t) {
    case c10::kHalf: return "fp16";
    case c10::kBFloat16: return "bf16";
    default: return "fp32";
  }
}

// BGR CV_8UC3 -> [1, 3, H, W] float RGB in [0, 1]; CV_8UC1 (255 = repaint) -> [1, 1, H, W] in [0, 1].
at::Tensor rgbTensor(const cv::Mat& bgr, c10::Device device) {
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::kByte).permute({2, 0, 1}).unsqueeze(0)
      .to(at::kFloat).div(255.0).to(device);
}

at::Tensor greyTensor(const cv::Mat& grey, c10::Device device) {
  cv::Mat c = grey.isContinuous() ? grey : grey.clone();
  return at::from_blob(c.data, {1, 1, c.rows, c.cols}, at::kByte).to(at::kFloat).div(255.0).to(device);
}

// [3, H, W] / [1, 3, H, W] float RGB in [0, 1] (any device, any dtype) -> BGR CV_8UC3.
cv::Mat toBgr(const at::Tensor& t) {
  at::Tensor x = t.detach().to(at::kCPU, at::kFloat);
  if (x.dim() == 4) x = x[0];
  x = (x.clamp(0, 1) * 255.0).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(x.size(0)), static_cast<int>(x.size(1)), CV_8UC3, x.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

at::Tensor readInitialLatents(const std::filesystem::path& file) {
  const auto checkpoint = io::Checkpoint::open(file);
  const auto names = checkpoint.names();
  if (checkpoint.contains("latents")) return checkpoint.tensor("latents").to(at::kFloat);
  if (names.size() == 1) return checkpoint.tensor(names.front()).to(at::kFloat);
  throw io::FormatError(file.string() + ": no tensor named \"latents\" (and more than one tensor to choose from)");
}

}  // namespace

struct SdPipelineBinding::Impl {
  Runtime runtime;
  SdInpaintPipeline pipeline;
};

SdPipelineBinding::SdPipelineBinding() = default;
SdPipelineBinding::~SdPipelineBinding() {
  const bool loaded = impl_ != nullptr;
  impl_.reset();
  if (loaded) releaseCachedDeviceMemory();  // the weights' VRAM back to the driver
}
SdPipelineBinding::SdPipelineBinding(SdPipelineBinding&&) noexcept = default;
SdPipelineBinding& SdPipelineBinding::operator=(SdPipelineBinding&&) noexcept = default;

SdPipelineBinding SdPipelineBinding::load(const SdSettings& request) {
  SdPipelineBinding b;
  const Runtime runtime = resolveRuntime(request.device, request.precision);
  SdLoadOptions options;
  options.device = runtime.device;
  options.dtype = runtime.dtype;
  options.controlnetDir = request.controlnetDir;  // empty: modelDir/controlnet
  options.vaePath = request.vaePath;
  options.taesdPath = request.taesdPath;
  b.impl_ = std::make_unique<Impl>(Impl{runtime, SdInpaintPipeline::load(request.modelDir, options)});
  return b;
}

SdPipelineBinding::Output SdPipelineBinding::run(const Job& job) {
  Output out;
  {
    const auto loraStart = std::chrono::steady_clock::now();
    std::vector<SdLoraChoice> choices;
    for (const auto& l : job.loras) choices.push_back({l.file, l.weight});
    for (const auto& a : impl_->pipeline.setLoras(choices)) {
      out.loras.push_back({a.choice.file, a.choice.weight, a.unetModules, a.textModules, a.unmatched});
    }
    out.loraSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loraStart).count();
  }
  const auto& pipeline = impl_->pipeline;
  const c10::Device device = impl_->runtime.device;
  const auto start = std::chrono::steady_clock::now();
  SdInpaintJob p;
  p.promptEmbeds = pipeline.encodeWeightedPrompt(job.promptChunks, job.promptWeights, job.clipSkip);
  p.negativeEmbeds = pipeline.encodeWeightedPrompt(job.negativeChunks, job.negativeWeights, job.clipSkip);
  p.image = rgbTensor(job.image, device);
  p.mask = greyTensor(job.mask, device);
  p.control = rgbTensor(job.control, device);
  p.steps = job.steps;
  p.guidance = job.guidance;
  p.controlnetScale = job.controlnetScale;
  p.sampler = job.sampler;
  p.seed = job.seed;
  p.fastDecode = job.fastDecode;
  p.fastEncode = job.fastEncode;
  if (!job.initialLatentsFile.empty()) p.initialLatents = readInitialLatents(job.initialLatentsFile);
  auto denoised = start;
  const SdStepCallback progress = [&](int step, int total, const at::Tensor& latents) {
    if (job.onStep) {
      cv::Mat preview;  // only for someone who shows it: TAESD's costs as much as a tenth of a step
      if (job.previews) {
        preview =
            toBgr(pipeline.hasTaesd() ? pipeline.taesdPreview(latents) : SdInpaintPipeline::latentPreview(latents));
      }
      job.onStep(step, total, preview);
    }
    if (step == total) denoised = std::chrono::steady_clock::now();  // the decode starts
    return true;
  };
  const SdInpaintResult r = pipeline.run(p, progress, job.cancel);
  const auto end = std::chrono::steady_clock::now();
  if (denoised == start) denoised = end;
  out.denoiseSeconds = std::chrono::duration<double>(denoised - start).count();
  out.decodeSeconds = std::chrono::duration<double>(end - denoised).count();
  if (r.cancelled) {
    out.cancelled = true;
    return out;
  }
  out.image = toBgr(r.image[0].permute({2, 0, 1}));
  return out;
}

std::string SdPipelineBinding::deviceName() const {
  return impl_->runtime.device.str();
}
std::string SdPipelineBinding::precisionName() const {
  return dtypeName(impl_->runtime.dtype);
}

}  // namespace caig
