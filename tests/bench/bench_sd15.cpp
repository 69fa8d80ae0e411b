// Stable Diffusion 1.5 at its real sizes, random weights (the cost does not depend on their
// values): one ControlNet step and one UNet step (with the ControlNet residuals) on 64x64
// latents, batch 2 as classifier-free guidance runs them; one VAE decode to 512x512; and, with
// --job, the whole ControlNet-inpaint denoising loop (Euler ancestral, 30 steps, latent mask
// blending) plus the decode; with --fast, the Fast quality's job (VAE encode, LCM 4 steps without
// CFG, TAESD decode); with --lora, a LoRA of the usual kohya shape (rank 32 on every
// attention Linear and 1x1 projection of the UNet) read, merged into the UNet and undone by
// re-reading the changed weights from a model file (models/sd_lora.h); TAESD's decode beside the
// VAE's; with --load, the UNet and VAE written as an fp16 diffusers folder and as an fp16
// single-file checkpoint (LDM names), each loaded back. On the CPU the ControlNet and UNet steps run
// first on LibTorch's own allocator, then every row with the caching CPU allocator the CLI and the
// studio install (models/cpu_allocator.h). Peak memory per row: the process's peak resident
// set, and the CUDA allocator's peak on a GPU. Every time is also given as a ratio to a baseline measured in the same
// process (5x5 Gaussian blur of a 1024x1024 BGR image, one OpenCV thread), so figures from different machines compare.
//
//   bench_sd15 [--device cpu|cuda] [--dtype fp32|fp16|bf16] [--iters N] [--size 512] [--job] [--fast] [--steps 30]
//              [--lora] [--load] [--threads N] [--write-models DIR]   (LibTorch's CPU threads; default: one per
//              hardware thread)
//
// A small harness rather than Google Benchmark: one iteration takes seconds on a CPU, and the
// peak memory of each part has to be reset and read around it.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "models/cpu_allocator.h"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "models/autoencoder_kl.h"
#include "models/autoencoder_tiny.h"
#include "models/clip_text.h"
#include "models/controlnet.h"
#include "models/device_info.h"
#include "models/diffusion_schedulers.h"
#include "models/io/checkpoint.h"
#include "models/io/safetensors.h"
#include "models/nn/load_weights.h"
#include "models/sd_lora.h"
#include "models/sd_single_file.h"
#include "models/unet2d.h"

namespace {

using namespace caig;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string device = "cpu";
  std::string dtype = "fp32";
  int iters = 2;
  int size = 512;
  bool job = false;
  bool lora = false;
  bool load = false;
  bool fast = false;
  std::string writeModels;  // a folder: write random SD1.5-size model files there and stop
  int steps = 30;
  int threads = 0;  // 0: one per hardware thread
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--device") {
      o.device = value();
    } else if (a == "--dtype") {
      o.dtype = value();
    } else if (a == "--iters") {
      o.iters = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--size") {
      o.size = std::atoi(value().c_str());
    } else if (a == "--job") {
      o.job = true;
    } else if (a == "--lora") {
      o.lora = true;
    } else if (a == "--load") {
      o.load = true;
    } else if (a == "--fast") {
      o.fast = true;
    } else if (a == "--write-models") {
      o.writeModels = value();
    } else if (a == "--threads") {
      o.threads = std::max(0, std::atoi(value().c_str()));
    } else if (a == "--steps") {
      o.steps = std::max(1, std::atoi(value().c_str()));
    } else {
      std::fprintf(stderr,
                   "usage: bench_sd15 [--device cpu|cuda] [--dtype fp32|fp16|bf16] [--iters N] [--size 512] "
                   "[--job] [--fast] [--steps 30] [--lora] [--load] [--threads N] [--write-models DIR]\n");
      std::exit(2);
    }
  }
  if (o.size < 64 || o.size % 8 != 0) {
    std::fprintf(stderr, "--size must be a multiple of 8, at least 64\n");
    std::exit(2);
  }
  return o;
}

c10::ScalarType dtypeOf(const std::string& name) {
  if (name == "fp16") return c10::kHalf;
  if (name == "bf16") return c10::kBFloat16;
  return c10::kFloat;
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

double cpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct Row {
  std::string what;
  double ms = 0;     // median wall time over the iterations
  double cpu = 0;    // median process CPU time (all threads): steadier on a shared machine
  PeakMemory peak;
  uint64_t before = 0;  // resident bytes before the timed runs (weights, inputs)
};

// Median wall time of `iters` runs after one warm-up, with the peak memory of the timed runs.
Row measure(const std::string& what, int iters, const c10::Device& device, const std::function<void()>& body) {
  body();  // warm-up: allocator pools, kernel selection, first-touch of the weights
  synchronize(device);
  const uint64_t before = processRssBytes();
  resetPeakMemory();
  std::vector<double> ms, cpu;
  for (int i = 0; i < iters; ++i) {
    const auto start = Clock::now();
    const double cpuStart = cpuMs();
    body();
    synchronize(device);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    cpu.push_back(cpuMs() - cpuStart);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  Row row{what, ms[ms.size() / 2], cpu[cpu.size() / 2], peakMemory(), before};
  std::fprintf(stderr, "  %-50s %10.1f ms\n", what.c_str(), row.ms);
  return row;
}

at::Tensor half(const at::Tensor& t) {
  return t.detach().to(at::kCPU, at::kHalf).contiguous();
}

// The UNet and VAE in a single-file checkpoint's LDM names, fp16 as published (the VAE's
// attention projections as 1x1 convolutions, as LDM stores them).
io::NamedTensors ldmUnetAndVae(const UNet2DConditionModel& unet, const AutoencoderKL& vae) {
  io::NamedTensors out;
  for (const auto& [name, w] : unet.parameters())
    out.emplace_back("model.diffusion_model." + ldmUnetKey(name, unet.config()), half(w));
  for (const auto& [name, w] : vae.parameters()) {
    at::Tensor t = half(w);
    if (name.find("mid_block.attentions.") != std::string::npos && t.dim() == 2)
      t = t.view({t.size(0), t.size(1), 1, 1});
    out.emplace_back("first_stage_model." + ldmVaeKey(name, vae.config()), t);
  }
  return out;
}

// A kohya-style LoRA of `rank` on every attention Linear and 1x1 projection of the UNet (the usual
// shape; LCM-LoRA's too), random factors; `changed` gets the UNet parameters it patches.
io::NamedTensors attentionLora(const UNet2DConditionModel& unet, int64_t rank, double alpha,
                               std::set<std::string>* changed = nullptr) {
  io::NamedTensors lora;
  for (const auto& [name, w] : unet.parameters()) {
    const bool projection = name.find("attentions.") != std::string::npos && name.size() > 7 &&
                            name.compare(name.size() - 7, 7, ".weight") == 0 &&
                            (w.dim() == 2 || (w.dim() == 4 && w.size(2) == 1)) &&
                            name.find("norm") == std::string::npos;
    if (!projection) continue;
    std::string key = "lora_unet_" + name.substr(0, name.size() - 7);
    for (char& c : key) c = c == '.' ? '_' : c;
    std::vector<int64_t> down = {rank, w.size(1)}, up = {w.size(0), rank};
    if (w.dim() == 4) down.insert(down.end(), {1, 1}), up.insert(up.end(), {1, 1});
    lora.emplace_back(key + ".lora_down.weight", half(at::randn(down) * 0.01));
    lora.emplace_back(key + ".lora_up.weight", half(at::randn(up) * 0.01));
    lora.emplace_back(key + ".alpha", half(at::scalar_tensor(alpha)));
    if (changed) changed->insert(name);
  }
  return lora;
}

double baselineMs() {
  cv::setNumThreads(1);
  cv::Mat src(1024, 1024, CV_8UC3), dst;
  cv::randu(src, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::GaussianBlur(src, dst, cv::Size(5, 5), 0);
  std::vector<double> ms;
  for (int i = 0; i < 50; ++i) {
    const auto start = Clock::now();
    cv::GaussianBlur(src, dst, cv::Size(5, 5), 0);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const c10::Device device(o.device == "cuda" ? "cuda:0" : o.device);
  if (device.is_cuda() && !torch::cuda::is_available()) {
    std::fprintf(stderr, "bench_sd15: --device cuda, but this LibTorch sees no CUDA device\n");
    return 2;
  }
  const c10::ScalarType dtype = dtypeOf(o.dtype);
  const int64_t lat = o.size / 8;
  const double baseline = baselineMs();
  // After the baseline: OpenCV's setNumThreads(1) may reach the OpenMP pool LibTorch shares.
  at::set_num_threads(o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  const DeviceInfo info = queryDeviceInfo();
  std::fprintf(stderr, "building SD1.5-size models (random weights) on %s, %s...\n", device.str().c_str(),
               o.dtype.c_str());

  const auto buildStart = Clock::now();
  UNet2DConditionModel unet(UNet2DConfig{});  // the defaults are SD1.5's
  unet.to(device, dtype);
  ControlNetConfig cnConfig;
  cnConfig.unet.upBlockTypes.clear();
  ControlNetModel controlnet(cnConfig);
  controlnet.to(device, dtype);
  AutoencoderKL vae(AutoencoderKLConfig{});
  vae.to(device, dtype);
  const double buildSeconds = std::chrono::duration<double>(Clock::now() - buildStart).count();
  const PeakMemory afterBuild = peakMemory();

  if (!o.writeModels.empty()) {
    // Random SD1.5-size files in the forms users have, for timing the CLI end to end (`caig
    // generate --quality fast`): an fp16 single-file checkpoint (UNet, VAE, CLIP ViT-L text
    // encoder), an original-layout ControlNet, an LCM-LoRA-shaped LoRA in loras/, a TAESD folder.
    namespace fs = std::filesystem;
    const fs::path dir = o.writeModels;
    fs::create_directories(dir / "loras");
    fs::create_directories(dir / "taesd");
    at::manual_seed(0);
    ClipTextConfig clip;  // SD1.5's text encoder: CLIP ViT-L/14's
    clip.hiddenSize = 768;
    clip.intermediateSize = 3072;
    clip.numAttentionHeads = 12;
    ClipTextModel text(clip);
    io::NamedTensors single = ldmUnetAndVae(unet, vae), control, tiny;
    const WeightNaming clipNames = ldmClipNaming("cond_stage_model.transformer.text_model.");
    for (const auto& [name, w] : text.parameters()) single.emplace_back(clipNames.checkpointKey(name), half(w));
    io::saveSafetensors(dir / "sd15-random.safetensors", single);
    for (const auto& [name, w] : controlnet.parameters())
      control.emplace_back("control_model." + ldmControlNetKey(name, controlnet.config()), half(w));
    io::saveSafetensors(dir / "control-random.safetensors", control);
    const io::NamedTensors lora = attentionLora(unet, 64, 8.0);  // LCM-LoRA for SD1.5 is rank 64
    io::saveSafetensors(dir / "loras" / "lcm-lora-sdv1-5.safetensors", lora);
    AutoencoderTiny taesd(AutoencoderTinyConfig{});
    for (const auto& [name, w] : taesd.parameters()) tiny.emplace_back(name, half(w));
    io::saveSafetensors(dir / "taesd" / "diffusion_pytorch_model.safetensors", tiny);
    std::ofstream(dir / "taesd" / "config.json") << R"({"_class_name": "AutoencoderTiny", "act_fn": "relu"})";
    std::printf(
        "wrote %s: sd15-random.safetensors (%zu tensors), control-random.safetensors (%zu), "
        "loras/lcm-lora-sdv1-5.safetensors (%zu), taesd/\n",
        dir.string().c_str(), single.size(), control.size(), lora.size());
    return 0;
  }
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  at::manual_seed(0);
  const at::Tensor latents = at::randn({2, 4, lat, lat}).to(opts);
  const at::Tensor t = at::full({2}, 500.0).to(device);
  const at::Tensor context = at::randn({2, 77, 768}).to(opts);
  const at::Tensor control = at::rand({2, 3, o.size, o.size}).to(opts);

  std::vector<Row> rows;
  ControlNetResiduals residuals;
  if (device.is_cpu()) {
    // The baseline for the CPU cache: the two steps on LibTorch's own allocator first, then
    // everything else with the caching allocator the CLI and the studio install.
    rows.push_back(measure("ControlNet step (batch 2), LibTorch's allocator", o.iters, device,
                           [&] { residuals = controlnet.forward(latents, t, context, control, 1.0); }));
    rows.push_back(measure("UNet step + ControlNet residuals (batch 2), LibTorch's allocator", o.iters, device, [&] {
      const at::Tensor eps = unet.forward(latents, t, context, &residuals.down, &residuals.mid);
      (void)eps;
    }));
    useCachingCpuAllocator();
  }
  rows.push_back(measure("ControlNet step (batch 2)", o.iters, device, [&] {
    residuals = controlnet.forward(latents, t, context, control, 1.0);
  }));
  rows.push_back(measure("UNet step + ControlNet residuals (batch 2)", o.iters, device, [&] {
    const at::Tensor eps = unet.forward(latents, t, context, &residuals.down, &residuals.mid);
    (void)eps;
  }));
  rows.push_back(measure("UNet step, no residuals (batch 2)", o.iters, device, [&] {
    const at::Tensor eps = unet.forward(latents, t, context);
    (void)eps;
  }));
  const at::Tensor one = latents.narrow(0, 0, 1);
  releaseCachedCpuMemory();  // as the pipeline does before its decode
  rows.push_back(measure("VAE decode " + std::to_string(o.size) + "x" + std::to_string(o.size), o.iters, device,
                         [&] { const at::Tensor image = vae.decode(one); (void)image; }));
  {
    AutoencoderTiny taesd(AutoencoderTinyConfig{});  // madebyollin/taesd's sizes
    taesd.to(device, dtype);
    rows.push_back(
        measure("TAESD decode " + std::to_string(o.size) + "x" + std::to_string(o.size), o.iters, device, [&] {
          const at::Tensor image = taesd.decode(one);
          (void)image;
        }));
  }
  if (o.load) {
    // The same UNet and VAE weights (fp16, as published) in both forms users have.
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("caig-bench-load-" + std::to_string(::getpid()));
    fs::create_directories(dir / "unet");
    fs::create_directories(dir / "vae");
    io::NamedTensors unetW, vaeW;
    for (const auto& [name, w] : unet.parameters()) unetW.emplace_back(name, half(w));
    for (const auto& [name, w] : vae.parameters()) vaeW.emplace_back(name, half(w));
    const io::NamedTensors single = ldmUnetAndVae(unet, vae);
    io::saveSafetensors(dir / "unet" / "diffusion_pytorch_model.safetensors", unetW);
    io::saveSafetensors(dir / "vae" / "diffusion_pytorch_model.safetensors", vaeW);
    io::saveSafetensors(dir / "model.safetensors", single);
    const nlohmann::json unetConfig = {{"_class_name", "UNet2DConditionModel"},
                                       {"block_out_channels", {320, 640, 1280, 1280}},
                                       {"cross_attention_dim", 768},
                                       {"attention_head_dim", 8},
                                       {"in_channels", 4},
                                       {"out_channels", 4},
                                       {"layers_per_block", 2},
                                       {"norm_num_groups", 32},
                                       {"sample_size", 64}};
    const nlohmann::json vaeConfig = {{"_class_name", "AutoencoderKL"}, {"block_out_channels", {128, 256, 512, 512}},
                                      {"latent_channels", 4},           {"layers_per_block", 2},
                                      {"norm_num_groups", 32},          {"scaling_factor", 0.18215}};
    std::ofstream(dir / "unet" / "config.json") << unetConfig.dump(2);
    std::ofstream(dir / "vae" / "config.json") << vaeConfig.dump(2);
    rows.push_back(measure("load UNet + VAE: diffusers folder (fp16 files)", o.iters, device, [&] {
      const auto u = UNet2DConditionModel::load(dir / "unet", device, dtype);
      const auto v = AutoencoderKL::load(dir / "vae", device, dtype);
    }));
    SdSingleFileHints hints;
    hints.unetHeads = 8;
    rows.push_back(measure("load UNet + VAE: single-file checkpoint (fp16)", o.iters, device, [&] {
      const auto u = loadSingleFileUnet(dir / "model.safetensors", device, dtype, hints);
      const auto v = loadSingleFileVae(dir / "model.safetensors", device, dtype, hints);
    }));
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  if (o.lora) {
    // The file a LoRA is undone from: the weights it changes, as a checkpoint of the model's names
    // (the pipeline re-reads them from the model's own file the same way).
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / ("caig-bench-lora-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::set<std::string> changed;
    const io::NamedTensors lora = attentionLora(unet, 32, 16.0, &changed);
    io::NamedTensors base;  // the weights it changes, as the usual fp16 checkpoint holds them
    for (const auto& [name, w] : unet.parameters())
      if (changed.count(name)) base.emplace_back(name, half(w));
    io::saveSafetensors(dir / "model.safetensors", base);
    io::saveSafetensors(dir / "lora.safetensors", lora);
    std::fprintf(stderr, "LoRA: %zu modules of rank 32\n", changed.size());
    SdLoraFile file;
    rows.push_back(measure("LoRA read + match (" + std::to_string(changed.size()) + " modules, rank 32)", o.iters,
                           device, [&] { file = readSdLora(dir / "lora.safetensors", unet, nullptr); }));
    rows.push_back(
        measure("LoRA merge into the UNet", o.iters, device, [&] { mergeSdLora(file, 0.8, unet, nullptr); }));
    rows.push_back(measure("LoRA undo (changed weights re-read from the file)", o.iters, device, [&] {
      reloadParameters(unet.parameters(), io::Checkpoint::open(dir / "model.safetensors"), {}, changed, "bench");
    }));
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  if (o.job) {
    // The denoising loop of models/sd_inpaint_pipeline.cpp without the text encoder and VAE
    // encode: CFG batch, ControlNet then UNet, Euler ancestral, latent mask blending, decode.
    const nlohmann::json schedulerConfig = {{"_class_name", "EulerAncestralDiscreteScheduler"},
                                            {"beta_schedule", "scaled_linear"},
                                            {"beta_start", 0.00085},
                                            {"beta_end", 0.012},
                                            {"num_train_timesteps", 1000},
                                            {"steps_offset", 1},
                                            {"timestep_spacing", "leading"}};
    const at::Tensor imageLatents = at::randn({1, 4, lat, lat}).to(opts);
    const at::Tensor mask = (at::rand({1, 1, lat, lat}) > 0.3).to(opts);
    rows.push_back(measure(std::to_string(o.steps) + "-step job (euler_a, CFG, ControlNet) + decode", 1, device, [&] {
      auto scheduler = makeScheduler("euler_a", schedulerConfig);
      scheduler->setTimesteps(o.steps);
      SeededNoise noise(1);
      const at::Tensor start = noise.next(imageLatents);
      at::Tensor x = start * scheduler->initNoiseSigma();
      const auto& steps = scheduler->timesteps();
      for (size_t i = 0; i < steps.size(); ++i) {
        const at::Tensor in = scheduler->scaleModelInput(at::cat({x, x}), i);
        const at::Tensor ti = at::scalar_tensor(steps[i], at::TensorOptions().dtype(at::kFloat).device(device));
        const ControlNetResiduals r = controlnet.forward(in, ti, context, control, 1.0);
        const auto halves = unet.forward(in, ti, context, &r.down, &r.mid).chunk(2);
        const at::Tensor eps = halves[0] + 7.5 * (halves[1] - halves[0]);
        x = scheduler->step(eps, i, x, noise);
        const at::Tensor known = i + 1 < steps.size() ? scheduler->addNoise(imageLatents, start, i + 1) : imageLatents;
        x = (1.0 - mask) * known + mask * x;
      }
      const at::Tensor image = vae.decode(x / 0.18215);
      (void)image;
    }));
  }
  if (o.fast) {
    // The Fast quality: LCM 4 steps without CFG (batch 1; the LCM-LoRA merged beforehand costs
    // nothing per step), the product's VAE encode the pipeline does for the blend, TAESD's decode.
    const nlohmann::json schedulerConfig = {{"_class_name", "LCMScheduler"}, {"beta_schedule", "scaled_linear"},
                                            {"beta_start", 0.00085},         {"beta_end", 0.012},
                                            {"num_train_timesteps", 1000},   {"steps_offset", 1}};
    const at::Tensor mask = (at::rand({1, 1, lat, lat}) > 0.3).to(opts);
    AutoencoderTiny taesd(AutoencoderTinyConfig{});
    taesd.to(device, dtype);
    const at::Tensor context1 = context.narrow(0, 0, 1), control1 = control.narrow(0, 0, 1);
    const at::Tensor product = at::rand({1, 3, o.size, o.size}).to(opts) * 2.0 - 1.0;
    rows.push_back(measure("Fast: VAE encode + 4-step lcm (no CFG) + TAESD decode", 1, device, [&] {
      const at::Tensor known = vae.encodeMode(product) * 0.18215;
      auto scheduler = makeScheduler("lcm", schedulerConfig);
      scheduler->setTimesteps(4);
      SeededNoise noise(1);
      const at::Tensor start = noise.next(known);
      at::Tensor x = start * scheduler->initNoiseSigma();
      const auto& steps = scheduler->timesteps();
      for (size_t i = 0; i < steps.size(); ++i) {
        const at::Tensor in = scheduler->scaleModelInput(x, i);
        const at::Tensor ti = at::scalar_tensor(steps[i], at::TensorOptions().dtype(at::kFloat).device(device));
        const ControlNetResiduals r = controlnet.forward(in, ti, context1, control1, 1.0);
        x = scheduler->step(unet.forward(in, ti, context1, &r.down, &r.mid), i, x, noise);
        const at::Tensor kept = i + 1 < steps.size() ? scheduler->addNoise(known, start, i + 1) : known;
        x = (1.0 - mask) * kept + mask * x;
      }
      const at::Tensor image = taesd.decode(x);
      (void)image;
    }));
  }

  std::printf("\nStable Diffusion 1.5 sizes, random weights: %s (%s), %s, %dx%d (latents %lldx%lld), torch %d threads\n",
              device.str().c_str(), info.name.c_str(), o.dtype.c_str(), o.size, o.size, static_cast<long long>(lat),
              static_cast<long long>(lat), at::get_num_threads());
  std::printf("models built in %.1f s; peak resident after building: %s\n", buildSeconds,
              formatBytes(afterBuild.processRss).c_str());
  std::printf("baseline (5x5 Gaussian blur, 1024x1024 BGR, 1 OpenCV thread): %.3f ms\n\n", baseline);
  // x baseline: wall time / the baseline's. Peak RSS: the process during the part (weights
  // included); above start: the part's own working memory (activations, attention scores).
  std::printf("| %-50s | %11s | %11s | %10s | %10s | %11s | %15s |\n", "part", "wall ms", "CPU ms", "x baseline",
              "peak RSS", "above start", "peak CUDA alloc");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(52, '-').c_str(), std::string(13, '-').c_str(),
              std::string(13, '-').c_str(), std::string(12, '-').c_str(), std::string(12, '-').c_str(),
              std::string(13, '-').c_str(), std::string(17, '-').c_str());
  for (const auto& r : rows) {
    const uint64_t above = r.peak.processRss > r.before ? r.peak.processRss - r.before : 0;
    std::printf("| %-50s | %11.1f | %11.1f | %10.0f | %10s | %11s | %15s |\n", r.what.c_str(), r.ms, r.cpu,
                r.ms / baseline, formatBytes(r.peak.processRss).c_str(), formatBytes(above).c_str(),
                r.peak.cuda ? formatBytes(r.peak.cudaAllocated).c_str() : "-");
  }
  return 0;
}
