#include "models/sd_inpaint_pipeline.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>

#include "models/autoencoder_kl.h"
#include "models/autoencoder_tiny.h"
#include "models/clip_text.h"
#include "models/controlnet.h"
#include "models/cpu_allocator.h"
#include "models/diffusion_schedulers.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/model_folder.h"
#include "models/nn/unet_blocks.h"
#include "models/sd_single_file.h"
#include "models/unet2d.h"

namespace caig {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("SdInpaintPipeline: " + message);
}

void checkImageLike(const at::Tensor& t, int64_t channels, const char* what, int64_t H, int64_t W) {
  require(t.defined() && t.dim() == 4 && t.size(0) == 1 && t.size(1) == channels,
          std::string(what) + " must be [1, " + std::to_string(channels) + ", H, W]");
  require(t.size(2) == H && t.size(3) == W, std::string(what) + " is " + std::to_string(t.size(2)) + "x" +
                                                std::to_string(t.size(3)) + ", the image " + std::to_string(H) +
                                                "x" + std::to_string(W));
}

}  // namespace

// Where a network's weights were read from, to read some of them again (undoing merged LoRAs).
struct WeightSource {
  std::filesystem::path file;  // a .safetensors file or a folder (io::Checkpoint::open)
  WeightNaming naming;         // identity for diffusers folders
};

struct SdInpaintPipeline::Impl {
  std::optional<ClipTextModel> textEncoder;
  std::optional<UNet2DConditionModel> unet;
  std::optional<ControlNetModel> controlnet;
  std::optional<AutoencoderKL> vae;
  std::optional<AutoencoderTiny> taesd;
  nlohmann::json schedulerConfig;
  std::string schedulerName;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;
  WeightSource unetSource, textSource;
  std::vector<LoraApplied> loras;
  std::vector<std::filesystem::file_time_type> loraTimes;  // each file's when it was merged
  std::set<std::string> patchedUnet, patchedText;          // parameters the merged LoRAs changed
};

SdInpaintPipeline::SdInpaintPipeline() : impl_(std::make_unique<Impl>()) {}
SdInpaintPipeline::~SdInpaintPipeline() = default;
SdInpaintPipeline::SdInpaintPipeline(SdInpaintPipeline&&) noexcept = default;
SdInpaintPipeline& SdInpaintPipeline::operator=(SdInpaintPipeline&&) noexcept = default;

namespace {

// A diffusers ControlNet folder, or a single file in lllyasviel's original layout.
ControlNetModel loadControlNet(const std::filesystem::path& path, const SdLoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return loadSingleFileControlNet(path, options.device, options.dtype);
  return ControlNetModel::load(path, options.device, options.dtype);
}

// The optional parts every load shares: a VAE replacing the model's own, TAESD.
void loadExtras(std::optional<AutoencoderKL>& modelVae, std::optional<AutoencoderTiny>& taesdOut,
                const SdLoadOptions& options) {
  std::error_code ec;
  if (!options.vaePath.empty()) {
    AutoencoderKL vae = std::filesystem::is_directory(options.vaePath, ec)
                            ? AutoencoderKL::load(options.vaePath, options.device, options.dtype)
                            : loadSingleFileVae(options.vaePath, options.device, options.dtype);
    if (vae.config().latentChannels != modelVae->config().latentChannels ||
        vae.config().downFactor() != modelVae->config().downFactor()) {
      throw io::FormatError(options.vaePath.string() + ": a VAE of " + std::to_string(vae.config().latentChannels) +
                            " latent channels at 1/" + std::to_string(vae.config().downFactor()) +
                            " scale does not fit this model's latents");
    }
    modelVae.emplace(std::move(vae));
  }
  if (!options.taesdPath.empty()) {
    AutoencoderTiny taesd = AutoencoderTiny::load(options.taesdPath, options.device, options.dtype);
    if (taesd.config().latentChannels != modelVae->config().latentChannels) {
      throw io::FormatError(options.taesdPath.string() + ": a TAESD of " +
                            std::to_string(taesd.config().latentChannels) +
                            " latent channels (SD1.x needs taesd, not taesdxl / taesd3 / taef1)");
    }
    taesdOut.emplace(std::move(taesd));
  }
}

}  // namespace

const char* const kSd15SchedulerConfig = R"({
  "_class_name": "EulerAncestralDiscreteScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "num_train_timesteps": 1000,
  "steps_offset": 1,
  "trained_betas": null
})";

SdInpaintPipeline SdInpaintPipeline::load(const std::filesystem::path& pipelineDir, const SdLoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(pipelineDir, ec)) {
    // A single-file checkpoint: its three networks, SD1.5's scheduler, the ControlNet given.
    if (options.controlnetDir.empty()) {
      throw io::FileError(pipelineDir.string() + ": a single-file checkpoint holds no ControlNet; give one");
    }
    const SdSingleFileHints hints = options.singleFileHints ? *options.singleFileHints : ldmHintsBeside(pipelineDir);
    SdInpaintPipeline p;
    Impl& m = *p.impl_;
    m.device = options.device;
    m.dtype = options.dtype;
    m.schedulerConfig = nlohmann::json::parse(kSd15SchedulerConfig);
    m.schedulerName = options.schedulerName;
    makeScheduler(m.schedulerName, m.schedulerConfig);
    m.textEncoder.emplace(loadSingleFileClip(pipelineDir, options.device, hints));
    m.unet.emplace(loadSingleFileUnet(pipelineDir, options.device, options.dtype, hints));
    {
      const SdSingleFile layout = inspectSdSingleFile(io::Checkpoint::open(pipelineDir), pipelineDir.string());
      m.unetSource = {pipelineDir, ldmUnetNaming(m.unet->config(), layout.unetPrefix)};
      m.textSource = {pipelineDir, ldmClipNaming(layout.clipPrefix)};
    }
    m.controlnet.emplace(loadControlNet(options.controlnetDir, options));
    m.vae.emplace(loadSingleFileVae(pipelineDir, options.device, options.dtype, hints));
    loadExtras(m.vae, m.taesd, options);
    const int64_t inCh = m.unet->config().inChannels;
    if (inCh != 4 && inCh != 9) {
      throw io::FormatError(pipelineDir.string() + ": a UNet of " + std::to_string(inCh) +
                            " input channels (need 4, or 9 for an inpainting checkpoint)");
    }
    return p;
  }
  const auto folder = io::ModelFolder::open(pipelineDir);
  // componentPath() throws io::FileError naming a missing subfolder.
  const auto part = [&](const std::string& name) { return folder.componentPath(name); };
  SdInpaintPipeline p;
  Impl& m = *p.impl_;
  m.device = options.device;
  m.dtype = options.dtype;
  m.schedulerConfig = io::ModelFolder::open(part("scheduler")).config();
  m.schedulerName = options.schedulerName;
  makeScheduler(m.schedulerName, m.schedulerConfig);  // validate now, not at the first run
  m.textEncoder.emplace(ClipTextModel::load(part("text_encoder"), options.device));
  m.unet.emplace(UNet2DConditionModel::load(part("unet"), options.device, options.dtype));
  m.unetSource = {unet::findDiffusersWeights(part("unet")), {}};
  m.textSource = {part("text_encoder"), {}};
  m.controlnet.emplace(
      loadControlNet(options.controlnetDir.empty() ? part("controlnet") : options.controlnetDir, options));
  m.vae.emplace(AutoencoderKL::load(part("vae"), options.device, options.dtype));
  loadExtras(m.vae, m.taesd, options);
  const int64_t inCh = m.unet->config().inChannels;
  if (inCh != 4 && inCh != 9)
    throw io::FormatError("'" + part("unet").string() + "': in_channels " + std::to_string(inCh) +
                          " (need 4, or 9 for an inpainting UNet)");
  return p;
}

at::Tensor SdInpaintPipeline::encodePrompt(const at::Tensor& ids, int clipSkip) const {
  if (clipSkip != 0 && clipSkip != 1) {
    throw std::invalid_argument("clip skip " + std::to_string(clipSkip) + " is not supported (0 or 1 layers skipped)");
  }
  c10::InferenceMode guard;
  const ClipTextOutput out = impl_->textEncoder->forward(ids.to(impl_->device));
  return clipSkip == 0 ? out.lastHiddenState : impl_->textEncoder->finalLayerNorm(out.penultimateHiddenState);
}

at::Tensor SdInpaintPipeline::encodeWeightedPrompt(const std::vector<std::vector<int64_t>>& chunkIds,
                                                   const std::vector<std::vector<float>>& chunkWeights,
                                                   int clipSkip) const {
  return weightedTextEmbeddings(*impl_->textEncoder, chunkIds, chunkWeights, clipSkip);
}

namespace {

void reloadWeights(const std::vector<std::pair<std::string, at::Tensor>>& params, const WeightSource& source,
                   const std::set<std::string>& names) {
  if (!names.empty()) {
    reloadParameters(params, io::Checkpoint::open(source.file), source.naming, names, source.file.string());
  }
}

std::filesystem::file_time_type modified(const std::filesystem::path& file) {
  std::error_code ec;
  return std::filesystem::last_write_time(file, ec);
}

}  // namespace

const std::vector<SdInpaintPipeline::LoraApplied>& SdInpaintPipeline::setLoras(const std::vector<SdLoraChoice>& loras) {
  Impl& m = *impl_;
  bool same = loras.size() == m.loras.size();
  for (std::size_t i = 0; same && i < loras.size(); ++i) {
    same = loras[i].file == m.loras[i].choice.file && loras[i].weight == m.loras[i].choice.weight &&
           modified(loras[i].file) == m.loraTimes[i];
  }
  if (same) return m.loras;
  std::vector<SdLoraFile> files;
  std::vector<std::filesystem::file_time_type> times;
  for (const auto& c : loras) {
    if (!std::isfinite(c.weight)) throw std::invalid_argument(c.file.string() + ": the LoRA weight must be finite");
    times.push_back(modified(c.file));
    files.push_back(readSdLora(c.file, *m.unet, &*m.textEncoder));
  }
  // From here on the old set is undone; should re-reading fail (the model file changed on disk),
  // the patched names stay recorded so that the next call tries again.
  m.loras.clear();
  m.loraTimes.clear();
  reloadWeights(m.unet->parameters(), m.unetSource, m.patchedUnet);
  m.patchedUnet.clear();
  reloadWeights(m.textEncoder->parameters(), m.textSource, m.patchedText);
  m.patchedText.clear();
  for (std::size_t i = 0; i < files.size(); ++i) {
    for (const auto& p : files[i].patches) (p.textEncoder ? m.patchedText : m.patchedUnet).insert(p.param);
    mergeSdLora(files[i], loras[i].weight, *m.unet, &*m.textEncoder);
    m.loras.push_back({loras[i], files[i].unetModules, files[i].textModules, std::move(files[i].unmatched)});
  }
  m.loraTimes = std::move(times);
  return m.loras;
}

const std::vector<SdInpaintPipeline::LoraApplied>& SdInpaintPipeline::loras() const {
  return impl_->loras;
}

const AutoencoderKL& SdInpaintPipeline::vae() const {
  return *impl_->vae;
}
const AutoencoderTiny* SdInpaintPipeline::taesd() const {
  return impl_->taesd ? &*impl_->taesd : nullptr;
}
bool SdInpaintPipeline::hasTaesd() const {
  return impl_->taesd.has_value();
}
at::Tensor SdInpaintPipeline::taesdPreview(const at::Tensor& latents) const {
  if (!impl_->taesd) throw std::logic_error("SdInpaintPipeline: no TAESD loaded for previews");
  c10::InferenceMode guard;
  // The loop's latents are already in TAESD's (scaled) latent space.
  return (impl_->taesd->decode(latents / impl_->taesd->config().scalingFactor).to(at::kFloat) / 2.0 + 0.5)
      .clamp(0.0, 1.0);
}
const UNet2DConditionModel& SdInpaintPipeline::unet() const {
  return *impl_->unet;
}
const ClipTextModel& SdInpaintPipeline::textEncoder() const {
  return *impl_->textEncoder;
}
std::string SdInpaintPipeline::schedulerName() const {
  return makeScheduler(impl_->schedulerName, impl_->schedulerConfig)->name();
}
c10::Device SdInpaintPipeline::device() const {
  return impl_->device;
}
c10::ScalarType SdInpaintPipeline::dtype() const {
  return impl_->dtype;
}

at::Tensor SdInpaintPipeline::latentPreview(const at::Tensor& latents) {
  c10::InferenceMode guard;
  // Rows: latent channels; columns: R, G, B (SD1.5, ComfyUI's latent_rgb_factors).
  static const float kFactors[4][3] = {
      {0.3512f, 0.2297f, 0.3227f}, {0.3250f, 0.4974f, 0.2350f}, {-0.2829f, 0.1762f, 0.2721f}, {-0.2120f, -0.2616f, -0.7177f}};
  require(latents.defined() && latents.dim() == 4 && latents.size(1) == 4, "latentPreview needs [B, 4, h, w] latents");
  const at::Tensor f = at::from_blob(const_cast<float*>(&kFactors[0][0]), {4, 3}, at::kFloat)
                           .to(latents.device());
  const at::Tensor rgb = at::einsum("bchw,cr->brhw", {latents.to(at::kFloat), f});
  return ((rgb + 1.0) / 2.0).clamp(0.0, 1.0);
}

SdInpaintResult SdInpaintPipeline::run(const SdInpaintJob& job, const SdStepCallback& progress, const std::atomic<bool>* cancel) const {
  const Impl& m = *impl_;
  require(job.image.defined() && job.image.dim() == 4 && job.image.size(0) == 1 && job.image.size(1) == 3,
          "image must be [1, 3, H, W]");
  const int64_t H = job.image.size(2), W = job.image.size(3);
  require(H > 0 && W > 0 && H % 8 == 0 && W % 8 == 0,
          "image is " + std::to_string(H) + "x" + std::to_string(W) + ", height and width must be multiples of 8");
  checkImageLike(job.mask, 1, "mask", H, W);
  checkImageLike(job.control, 3, "control", H, W);
  require(job.steps >= 1, "steps must be at least 1");
  require(!job.fastDecode || m.taesd, "fastDecode needs TAESD (SdLoadOptions::taesdPath)");
  require(!job.fastEncode || (m.taesd && m.taesd->hasEncoder()),
          "fastEncode needs TAESD with its encoder (taesd_encoder.safetensors beside the decoder, or the diffusers "
          "folder)");
  const bool cfg = job.guidance > 1.0;
  require(job.promptEmbeds.defined() && job.promptEmbeds.dim() == 3 && job.promptEmbeds.size(0) == 1,
          "promptEmbeds must be [1, T, D]");
  if (cfg)
    require(job.negativeEmbeds.defined() && job.negativeEmbeds.sizes() == job.promptEmbeds.sizes(),
            "negativeEmbeds must have the prompt embeds' shape");
  const int64_t f = m.vae->config().downFactor(), h = H / f, w = W / f;
  const int64_t latentCh = m.vae->config().latentChannels;
  if (job.initialLatents.defined())
    require(job.initialLatents.dim() == 4 && job.initialLatents.size(0) == 1 && job.initialLatents.size(1) == latentCh &&
                job.initialLatents.size(2) == h && job.initialLatents.size(3) == w,
            "initialLatents must be [1, " + std::to_string(latentCh) + ", H/8, W/8]");

  c10::InferenceMode guard;
  const auto opts = at::TensorOptions().dtype(m.dtype).device(m.device);
  const double sf = m.vae->scalingFactor();
  const bool inpaintUNet = m.unet->config().inChannels == 9;

  const at::Tensor image = job.image.to(opts) * 2.0 - 1.0;
  const at::Tensor mask = (job.mask.to(at::kFloat) >= 0.5).to(opts);  // diffusers binarises: < 0.5 -> 0
  const auto encode = [&](const at::Tensor& x) {
    return job.fastEncode ? m.taesd->encode(x) * m.taesd->config().scalingFactor : m.vae->encodeMode(x) * sf;
  };
  const at::Tensor imageLatents = encode(image);
  const at::Tensor maskLatent = at::upsample_nearest2d(mask, {h, w});
  at::Tensor maskedImageLatents;
  if (inpaintUNet) maskedImageLatents = encode(image * (mask < 0.5).to(m.dtype));
  const at::Tensor control = job.control.to(opts);
  const at::Tensor controlIn = cfg ? at::cat({control, control}) : control;
  const at::Tensor context = (cfg ? at::cat({job.negativeEmbeds, job.promptEmbeds}) : job.promptEmbeds).to(opts);

  auto scheduler = makeScheduler(job.sampler.empty() ? m.schedulerName : job.sampler, m.schedulerConfig);
  scheduler->setTimesteps(job.steps);
  const auto& timesteps = scheduler->timesteps();
  const size_t total = timesteps.size();

  std::unique_ptr<SeededNoise> seeded;
  NoiseSource* source = job.noise;
  if (!source) {
    seeded = std::make_unique<SeededNoise>(job.seed);
    source = seeded.get();
  }
  const at::Tensor like = at::empty({1, latentCh, h, w}, opts);
  const at::Tensor noise = job.initialLatents.defined() ? job.initialLatents.to(opts) : source->next(like).to(opts);
  at::Tensor latents = noise * scheduler->initNoiseSigma();

  SdInpaintResult result;
  for (size_t i = 0; i < total; ++i) {
    if (cancel && cancel->load()) {
      result.cancelled = true;
      return result;
    }
    const at::Tensor x = cfg ? at::cat({latents, latents}) : latents;
    const at::Tensor xIn = scheduler->scaleModelInput(x, i);
    const at::Tensor t = at::scalar_tensor(timesteps[i], at::TensorOptions().dtype(at::kFloat).device(m.device));
    const ControlNetResiduals r = m.controlnet->forward(xIn, t, context, controlIn, job.controlnetScale);
    at::Tensor unetIn = xIn;
    if (inpaintUNet) {
      const at::Tensor extra = at::cat({maskLatent, maskedImageLatents}, 1);
      unetIn = at::cat({xIn, cfg ? at::cat({extra, extra}) : extra}, 1);
    }
    at::Tensor eps = m.unet->forward(unetIn, t, context, &r.down, &r.mid);
    if (cfg) {
      const auto halves = eps.chunk(2);
      eps = halves[0] + job.guidance * (halves[1] - halves[0]);
    }
    latents = scheduler->step(eps, i, latents, *source);
    if (!inpaintUNet) {
      // Keep the known region: the image latents re-noised to the next step's level.
      const at::Tensor known = i + 1 < total ? scheduler->addNoise(imageLatents, noise, i + 1) : imageLatents;
      latents = (1.0 - maskLatent) * known + maskLatent * latents;
    }
    if (job.keepStepLatents) result.stepLatents.push_back(latents.to(at::kFloat).cpu().clone());
    if (progress && !progress(static_cast<int>(i + 1), static_cast<int>(total), latents)) {
      result.cancelled = true;
      return result;
    }
  }
  if (cancel && cancel->load()) {
    result.cancelled = true;
    return result;
  }
  // Broken weights (or fp16 overflow) give NaN, which the clamp below would turn into a black image.
  if (!at::isfinite(latents).all().item<bool>()) {
    throw std::runtime_error("the UNet (or ControlNet) produced NaN or Inf latents: its weights are broken, or they "
                             "overflow in this precision (try fp32)");
  }
  // The steps' idle blocks are of the UNet's sizes, not the decoder's: give them back first so the
  // decode does not stack its working memory on top of them.
  releaseCachedCpuMemory();
  const at::Tensor decoded =
      job.fastDecode ? m.taesd->decode(latents / m.taesd->config().scalingFactor) : m.vae->decode(latents / sf);
  if (!at::isfinite(decoded).all().item<bool>()) {
    throw std::runtime_error("the VAE decoder produced NaN or Inf pixels: its weights are broken, or they overflow in "
                             "this precision (try fp32)");
  }
  result.image = (decoded.to(at::kFloat) / 2.0 + 0.5).clamp(0.0, 1.0).permute({0, 2, 3, 1}).contiguous().cpu();
  return result;
}

}  // namespace caig
