#include "core/sd_generation.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "core/clip_tokenizer.h"
#include "core/image_io.h"
#include "core/project.h"
#include "core/sd_pipeline_binding.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/model_folder.h"

namespace caig {

namespace fs = std::filesystem;

const char* const kDefaultSdNegativePrompt =
    "text, watermark, logo, signature, letters, people, hands, duplicate, extra objects, lowres, blurry, "
    "out of focus, jpeg artifacts, worst quality, low quality, deformed, distorted, oversaturated";

std::string toString(SeedMode mode) {
  switch (mode) {
    case SeedMode::Fixed: return "fixed";
    case SeedMode::Increment: return "increment";
    case SeedMode::Random: return "random";
  }
  return "increment";
}

SeedMode parseSeedMode(const std::string& name) {
  if (name == "fixed") return SeedMode::Fixed;
  if (name == "increment") return SeedMode::Increment;
  if (name == "random") return SeedMode::Random;
  throw std::invalid_argument("unknown seed mode '" + name + "' (fixed, increment or random)");
}

const std::vector<std::string>& sdSamplerNames() {
  static const std::vector<std::string> names = {"euler",           "euler_a", "ddim", "dpmpp_2m",
                                                 "dpmpp_2m_karras", "unipc",   "lcm"};
  return names;
}

void validateSdRequest(const SdRequest& r) {
  const auto& samplers = sdSamplerNames();
  if (std::find(samplers.begin(), samplers.end(), r.sampler) == samplers.end()) {
    std::string list;
    for (const auto& s : samplers) list += (list.empty() ? "" : ", ") + s;
    throw std::invalid_argument("unknown sampler '" + r.sampler + "' (" + list + ")");
  }
  if (r.steps < 1 || r.steps > 1000) throw std::invalid_argument("steps must be between 1 and 1000");
  if (!(r.guidance >= 0.0 && r.guidance <= 50.0)) throw std::invalid_argument("guidance must be between 0 and 50");
  if (!(r.controlnetScale >= 0.0 && r.controlnetScale <= 5.0)) {
    throw std::invalid_argument("the ControlNet scale must be between 0 and 5");
  }
  if (r.clipSkip != 1 && r.clipSkip != 2) throw std::invalid_argument("clip skip must be 1 (none) or 2");
  if (r.variantsPerPrompt < 1 || r.variantsPerPrompt > 64) {
    throw std::invalid_argument("variants per prompt must be between 1 and 64");
  }
  if (r.workingLongSide < 64 || r.workingLongSide > 2048 || r.workingLongSide % 8 != 0) {
    throw std::invalid_argument("the working size must be a multiple of 8 between 64 and 2048");
  }
  adPreset(r.presetId);  // throws CompositionError for an unknown id
}

std::uint64_t sdVariantSeed(const SdRequest& request, int index) {
  switch (request.seedMode) {
    case SeedMode::Fixed: return request.seed;
    case SeedMode::Increment: return request.seed + static_cast<std::uint64_t>(index);
    case SeedMode::Random: {
      // 32 bits: every seed stays reproducible by any tool that takes a torch / numpy seed.
      static thread_local std::mt19937_64 rng{std::random_device{}()};
      return rng() & 0xffffffffULL;
    }
  }
  return request.seed;
}

namespace {

std::string folderName(const fs::path& dir) {
  fs::path p = dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(p, ec);
  if (!ec && !canonical.filename().empty()) return canonical.filename().string();
  return p.filename().string();
}

bool hasWeights(const fs::path& dir) {
  try {
    io::findWeights(dir);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Checks the folders before any weight is read, so that a wrong path or a half-downloaded
// model gets one message that names what is missing.
void checkModelFolders(const SdRequest& r) {
  if (r.modelDir.empty()) throw SdModelError("no Stable Diffusion model folder given");
  if (!fs::is_directory(r.modelDir)) {
    throw SdModelError(r.modelDir.string() + ": no such Stable Diffusion model folder");
  }
  if (!fs::is_regular_file(r.modelDir / "model_index.json")) {
    throw SdModelError(r.modelDir.string() +
                       ": not a diffusers pipeline folder (no model_index.json); convert single-file "
                       "checkpoints to the diffusers layout first");
  }
  std::vector<std::string> needed = {"tokenizer", "text_encoder", "unet", "vae", "scheduler"};
  if (r.controlnetDir.empty()) needed.push_back("controlnet");
  for (const auto& name : needed) {
    const fs::path sub = r.modelDir / name;
    if (!fs::is_directory(sub)) {
      throw SdModelError(r.modelDir.string() + ": the " + name + "/ component is missing" +
                         (name == "controlnet" ? " (give a ControlNet canny folder with --controlnet)" : ""));
    }
    if (name == "tokenizer") {
      for (const char* f : {"vocab.json", "merges.txt"}) {
        if (!fs::is_regular_file(sub / f)) {
          throw SdModelError(r.modelDir.string() + ": tokenizer/" + f + " is missing");
        }
      }
    } else if (name == "scheduler") {
      if (!fs::is_regular_file(sub / "scheduler_config.json")) {
        throw SdModelError(r.modelDir.string() + ": scheduler/scheduler_config.json is missing");
      }
    } else {
      if (!fs::is_regular_file(sub / "config.json")) {
        throw SdModelError(r.modelDir.string() + ": " + name + "/config.json is missing");
      }
      if (!hasWeights(sub)) {
        throw SdModelError(r.modelDir.string() + ": " + name + "/ has no safetensors weights");
      }
    }
  }
  if (!r.controlnetDir.empty()) {
    if (!fs::is_directory(r.controlnetDir)) {
      throw SdModelError(r.controlnetDir.string() + ": no such ControlNet folder");
    }
    if (!fs::is_regular_file(r.controlnetDir / "config.json")) {
      throw SdModelError(r.controlnetDir.string() + ": not a diffusers ControlNet folder (no config.json)");
    }
    if (!hasWeights(r.controlnetDir)) {
      throw SdModelError(r.controlnetDir.string() + ": the ControlNet folder has no safetensors weights");
    }
  }
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// ---- Engine ------------------------------------------------------------------------------

struct SdEngine::Impl {
  SdRequest loadedFor;  // folders, device and precision it was loaded with
  std::string modelId;
  ClipTokenizer tokenizer;
  SdPipelineBinding pipeline;
};

SdEngine::SdEngine(const SdRequest& request) {
  checkModelFolders(request);
  auto tokenizer = ClipTokenizer::load(request.modelDir / "tokenizer");
  auto pipeline = SdPipelineBinding::load(request);
  std::string id = folderName(request.modelDir);
  id += "+" + (request.controlnetDir.empty() ? std::string("controlnet") : folderName(request.controlnetDir));
  impl_ = std::make_unique<Impl>(Impl{request, id, std::move(tokenizer), std::move(pipeline)});
}

SdEngine::~SdEngine() = default;
SdEngine::SdEngine(SdEngine&&) noexcept = default;
SdEngine& SdEngine::operator=(SdEngine&&) noexcept = default;

const std::string& SdEngine::modelId() const {
  return impl_->modelId;
}
std::string SdEngine::device() const {
  return impl_->pipeline.deviceName();
}
std::string SdEngine::precision() const {
  return impl_->pipeline.precisionName();
}

bool SdEngine::matches(const SdRequest& r) const {
  const auto& l = impl_->loadedFor;
  auto same = [](const fs::path& a, const fs::path& b) {
    if (a.empty() || b.empty()) return a.empty() && b.empty();
    std::error_code ec;
    return fs::equivalent(a, b, ec);
  };
  return same(l.modelDir, r.modelDir) && same(l.controlnetDir, r.controlnetDir) && l.device == r.device &&
         l.precision == r.precision;
}

// ---- The job -----------------------------------------------------------------------------

namespace {

void checkJob(const SdRequest& request, const std::vector<std::string>& prompts) {
  validateSdRequest(request);
  if (prompts.empty()) throw std::invalid_argument("no prompts to generate from");
  if (static_cast<long long>(prompts.size()) * request.variantsPerPrompt > 256) {
    throw std::invalid_argument("at most 256 variants per job");
  }
}

// The loop both jobs share: variant `index` takes prompt index / variantsPerPrompt and its seed,
// the pipeline runs on (image, mask, control) at the working size, cancellation is checked
// between variants and within steps; `finish` turns the generated background into the ad.
SdResult runVariants(SdEngine::Impl& impl, const std::vector<std::string>& prompts, const SdRequest& request,
                     const cv::Mat& image, const cv::Mat& mask, const cv::Mat& control,
                     const fs::path& initialLatentsFile, const SdProgress& progress, const std::atomic<bool>* cancel,
                     const std::function<void(SdVariant&)>& finish) {
  const cv::Size work = image.size();
  const auto negativeIds = impl.tokenizer.encode(request.negativePrompt);
  SdResult result;
  const int total = static_cast<int>(prompts.size()) * request.variantsPerPrompt;
  for (int index = 0; index < total; ++index) {
    if (cancel && cancel->load()) {
      result.cancelled = true;
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    SdVariant v;
    v.promptIndex = index / request.variantsPerPrompt;
    v.prompt = prompts[static_cast<std::size_t>(v.promptIndex)];
    v.negativePrompt = request.negativePrompt;
    v.seed = sdVariantSeed(request, index);
    v.sampler = request.sampler;
    v.steps = request.steps;
    v.guidance = request.guidance;
    v.controlnetScale = request.controlnetScale;
    v.clipSkip = request.clipSkip;
    v.workingSize = work;
    v.modelId = impl.modelId;
    v.device = impl.pipeline.deviceName();
    v.precision = impl.pipeline.precisionName();

    SdPipelineBinding::Job job;
    job.promptIds = impl.tokenizer.encode(v.prompt);
    job.negativeIds = negativeIds;
    job.image = image;
    job.mask = mask;
    job.control = control;
    job.seed = v.seed;
    job.initialLatentsFile = initialLatentsFile;
    job.sampler = v.sampler;
    job.steps = v.steps;
    job.guidance = v.guidance;
    job.controlnetScale = v.controlnetScale;
    job.clipSkip = v.clipSkip - 1;  // A1111's count -> layers skipped
    job.cancel = cancel;
    if (progress) {
      job.onStep = [&, index](int step, int steps, const cv::Mat& preview) {
        cv::Mat shown;
        if (!preview.empty()) cv::resize(preview, shown, work, 0, 0, cv::INTER_LINEAR);
        progress(step, steps, index, shown);
      };
    }
    const auto out = impl.pipeline.run(job);
    if (out.cancelled) {
      result.cancelled = true;
      break;
    }
    v.denoiseSeconds = out.denoiseSeconds;
    v.decodeSeconds = out.decodeSeconds;
    v.background = out.image;
    finish(v);
    v.totalSeconds = secondsSince(start);
    result.variants.push_back(std::move(v));
  }
  return result;
}

cv::Mat toBgr8(const cv::Mat& image, const char* what) {
  if (image.empty()) throw std::invalid_argument(std::string("no ") + what + " image");
  if (image.depth() != CV_8U) throw std::invalid_argument(std::string("the ") + what + " image must be 8-bit");
  cv::Mat bgr;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR); break;
    case 3: bgr = image; break;
    case 4: cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR); break;
    default: throw std::invalid_argument(std::string("the ") + what + " image has an unsupported channel count");
  }
  return bgr;
}

}  // namespace

SdResult renderSdVariants(SdEngine& engine, const cv::Mat& shot, const cv::Mat& alpha,
                          const std::vector<std::string>& prompts, const SdRequest& request, const SdProgress& progress,
                          const std::atomic<bool>* cancel) {
  checkJob(request, prompts);
  const CompositionParams& comp = request.composition;
  const cv::Size canvas = adPreset(request.presetId).size;
  const cv::Size work = workingSize(canvas, request.workingLongSide, 8);
  const ProductShot product = prepareProduct(shot, alpha, comp);
  // The generator sees the product at its working size; the ad gets the original pixels laid
  // out again at the full preset size (never the generator's upscaled copy of them).
  const cv::Rect box = productBox(product.alpha);
  const Layout workLayout = layoutProduct(product, work, productPlacement(box, work, request.placement, comp), comp);
  const Layout adLayout = layoutProduct(product, canvas, productPlacement(box, canvas, request.placement, comp), comp);

  return runVariants(engine.impl(), prompts, request, workLayout.product, workLayout.mask, workLayout.control, {},
                     progress, cancel, [&](SdVariant& v) {
                       cv::Mat background;
                       // INTER_CUBIC upscales the 512 px background to 1080+ px without the ringing of Lanczos.
                       cv::resize(v.background, background, canvas, 0, 0,
                                  v.background.size().area() < canvas.area() ? cv::INTER_CUBIC : cv::INTER_AREA);
                       v.image = pasteBack(background, adLayout, comp);
                       v.canvasAlpha = adLayout.alpha;
                     });
}

SdResult renderSdGiven(SdEngine& engine, const SdGivenInputs& inputs, const std::vector<std::string>& prompts,
                       const SdRequest& request, const SdProgress& progress, const std::atomic<bool>* cancel) {
  checkJob(request, prompts);
  const cv::Mat image = toBgr8(inputs.image, "init");
  const cv::Size size = image.size();
  if (size.width % 8 != 0 || size.height % 8 != 0) {
    throw std::invalid_argument(cv::format("the init image is %dx%d: both sides must be multiples of 8 (crop or resize it)",
                                           size.width, size.height));
  }
  if (inputs.mask.empty()) throw std::invalid_argument("no mask image");
  if (inputs.mask.size() != size) {
    throw std::invalid_argument(cv::format("the mask is %dx%d, the init image %dx%d: they must match",
                                           inputs.mask.cols, inputs.mask.rows, size.width, size.height));
  }
  if (inputs.mask.depth() != CV_8U) throw std::invalid_argument("the mask image must be 8-bit");
  cv::Mat mask;
  if (inputs.mask.channels() == 1) {
    mask = inputs.mask;
  } else {
    cv::extractChannel(inputs.mask, mask, 0);
  }
  cv::Mat control;
  if (inputs.control.empty()) {
    // The edges of what is kept, as the composition does for a product.
    cv::Mat grey, edges;
    cv::cvtColor(image, grey, cv::COLOR_BGR2GRAY);
    cv::Canny(grey, edges, request.composition.cannyLow, request.composition.cannyHigh,
              request.composition.cannyAperture);
    edges.setTo(0, mask >= 128);
    cv::cvtColor(edges, control, cv::COLOR_GRAY2BGR);
  } else {
    if (inputs.control.size() != size) {
      throw std::invalid_argument(cv::format("the control image is %dx%d, the init image %dx%d: they must match",
                                             inputs.control.cols, inputs.control.rows, size.width, size.height));
    }
    control = toBgr8(inputs.control, "control");
  }

  const cv::Mat kept = 255 - (mask >= 128);  // where the init image was kept
  return runVariants(engine.impl(), prompts, request, image, mask, control, inputs.initialLatentsFile, progress,
                     cancel, [&](SdVariant& v) {
                       v.image = v.background;
                       v.canvasAlpha = kept;
                     });
}

// ---- Saving ------------------------------------------------------------------------------

std::vector<Variant> saveSdVariants(Project& project, std::int64_t productId, const std::vector<SdVariant>& variants,
                                    const SdRequest& request) {
  std::vector<Variant> saved;
  project.store().transaction([&] {
    // One record per distinct prompt text; a prompt the product already has (the pinned prompts a
    // job used, "same seed again") keeps its record instead of gaining a copy.
    std::map<std::string, std::int64_t> promptIds;
    for (const auto& existing : project.store().prompts(productId)) promptIds.emplace(existing.text, existing.id);
    for (const auto& v : variants) {
      if (v.image.empty() || v.image.type() != CV_8UC3) throw std::invalid_argument("a variant without an image");
      const auto png = encodeImage(v.image, ".png");
      const std::string relative = "variants/" + contentHash(png.data(), png.size()) + ".png";
      try {
        io::AtomicFile file(project.absolute(relative));
        file.write(png.data(), png.size());
        file.commit();
      } catch (const io::FileError& e) {
        throw StoreError(std::string("cannot save a variant: ") + e.what());
      }
      auto found = promptIds.find(v.prompt);
      if (found == promptIds.end()) {
        PromptRecord prompt{0, productId, v.prompt, request.promptSource, false};
        found = promptIds.emplace(v.prompt, project.store().addPrompt(prompt)).first;
      }
      const auto& p = request.placement;  // null = CAIG's default
      const nlohmann::json placement = p ? nlohmann::json{{"scale", p->scale}, {"dx", p->dx}, {"dy", p->dy}} : nullptr;
      Variant record;
      record.productId = productId;
      record.promptId = found->second;
      record.imagePath = relative;
      record.seed = static_cast<std::int64_t>(v.seed);
      record.paramsJson = nlohmann::json{{"engine", "sd15"},
                                         {"model", v.modelId},
                                         {"modelDir", fs::absolute(request.modelDir).lexically_normal().string()},
                                         {"controlnetDir", request.controlnetDir.empty()
                                                               ? std::string()
                                                               : fs::absolute(request.controlnetDir).lexically_normal().string()},
                                         {"preset", request.presetId},
                                         {"size", {v.image.cols, v.image.rows}},
                                         {"workingSize", {v.workingSize.width, v.workingSize.height}},
                                         {"prompt", v.prompt},
                                         {"negativePrompt", v.negativePrompt},
                                         {"seed", v.seed},
                                         {"seedMode", toString(request.seedMode)},
                                         {"requestSeed", request.seed},
                                         {"sampler", v.sampler},
                                         {"steps", v.steps},
                                         {"cfg", v.guidance},
                                         {"controlnetScale", v.controlnetScale},
                                         {"clipSkip", v.clipSkip},
                                         {"placement", placement},
                                         {"device", v.device},
                                         {"precision", v.precision},
                                         {"timings",
                                          {{"denoiseSeconds", v.denoiseSeconds},
                                           {"decodeSeconds", v.decodeSeconds},
                                           {"totalSeconds", v.totalSeconds}}}}
                              .dump();
      record.id = project.store().addVariant(record);
      saved.push_back(record);
    }
  });
  return saved;
}

}  // namespace caig
