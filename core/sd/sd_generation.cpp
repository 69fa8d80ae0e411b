#include "core/sd/sd_generation.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "core/base/resources.h"
#include "core/model_files/model_registry.h"
#include "core/sd/sd_pipeline_binding.h"
#include "core/text/clip_tokenizer.h"
#include "core/text/prompt_loras.h"
#include "core/text/prompt_weighting.h"
#include "models/autoencoder_tiny.h"
#include "models/cpu_allocator.h"
#include "models/diffusion_schedulers.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/model_folder.h"
#include "models/io/sd_file_kind.h"
#include "models/sd_single_file.h"

namespace caig {

namespace fs = std::filesystem;

const char* const kDefaultSdNegativePrompt =
    "text, watermark, logo, signature, letters, people, hands, duplicate, extra objects, lowres, blurry, "
    "out of focus, jpeg artifacts, worst quality, low quality, deformed, distorted, oversaturated";

const std::vector<std::string>& sdSamplerNames() {
  static const std::vector<std::string> names = schedulerNames();  // the one list, models/diffusion_schedulers.h
  return names;
}

namespace {

std::string folderName(const fs::path& dir) {
  fs::path p = dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(p, ec);
  // A single-file checkpoint is named without its extension, as A1111 does.
  const fs::path name = !ec && !canonical.filename().empty() ? canonical.filename() : p.filename();
  return name.extension() == ".safetensors" ? name.stem().string() : name.string();
}

// The CLIP tokenizer the studio ships, for checkpoints that carry none.
fs::path bundledClipTokenizer() {
  return resourceDir() / "clip-tokenizer";
}

void checkPipelineFolder(const SdSettings& r);
void checkControlNetFolder(const SdSettings& r);

// A LoRA file, by its header: the weights are read (and matched) when a job merges it.
void checkLoraFile(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw SdModelError(file.string() + ": no such LoRA file");
  if (io::isPickleFile(file) || file.extension() != ".safetensors") {
    throw SdModelError(file.string() + ": not a .safetensors LoRA (CAIG Studio never loads pickle files)");
  }
  try {
    const auto kind = io::classifySdFile(io::Checkpoint::open(file).names());
    if (kind != io::SdFileKind::Lora) {
      throw SdModelError(file.string() + ": not a LoRA file" +
                         (kind == io::SdFileKind::Sd1Checkpoint ? " (a checkpoint: give it as the model)" : ""));
    }
  } catch (const SdModelError&) {
    throw;
  } catch (const std::exception& e) {
    throw SdModelError(e.what());
  }
}

// A VAE / TAESD given by the user: a folder, or a .safetensors file holding that kind (the
// weights are read when the engine loads).
void checkAutoencoder(const fs::path& path, const std::string& what) {
  if (path.empty()) return;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return;  // AutoencoderKL / AutoencoderTiny::load name what is missing
  if (!fs::is_regular_file(path, ec)) throw SdModelError(path.string() + ": no such " + what + " folder or file");
  if (io::isPickleFile(path) || path.extension() != ".safetensors") {
    throw SdModelError(path.string() + ": not a .safetensors " + what + " (CAIG Studio never loads pickle files)");
  }
  const io::SdFileKind want = what == "VAE" ? io::SdFileKind::Vae : io::SdFileKind::Taesd;
  try {
    const auto kind = io::classifySdFile(io::Checkpoint::open(path).names());
    if (kind != want) {
      const std::string refusal = io::sdFileRefusal(kind);
      const std::string why = kind == io::SdFileKind::Sd1Checkpoint ? "a Stable Diffusion checkpoint"
                              : kind == io::SdFileKind::Other       ? ""
                                                                    : refusal;
      throw SdModelError(path.string() + ": not a " + what + " file" + (why.empty() ? "" : " (" + why + ")"));
    }
  } catch (const SdModelError&) {
    throw;
  } catch (const std::exception& e) {
    throw SdModelError(e.what());
  }
}

bool hasWeights(const fs::path& dir) {
  try {
    io::findWeights(dir);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// A single-file checkpoint (A1111 / ComfyUI / Civitai): a .safetensors file, looked into (its
// header only) so that an SDXL file or a LoRA given as the model is named before loading.
bool isSingleFile(const fs::path& model) {
  std::error_code ec;
  return fs::is_regular_file(model, ec);
}

void checkSingleFile(const SdSettings& r) {
  if (io::isPickleFile(r.modelDir)) {
    throw SdModelError(r.modelDir.string() +
                       ": a pickle checkpoint; CAIG Studio never loads pickle files (code can hide in them): "
                       "use the model's .safetensors file");
  }
  try {
    inspectSdSingleFile(io::Checkpoint::open(r.modelDir), r.modelDir.string());
  } catch (const std::exception& e) {
    throw SdModelError(e.what());
  }
  if (r.controlnetDir.empty()) {
    throw SdModelError(r.modelDir.string() +
                       ": a single-file checkpoint holds no ControlNet: choose a ControlNet canny folder "
                       "(--controlnet, or ControlNet in the Generate dock)");
  }
  for (const char* f : {"vocab.json", "merges.txt"}) {
    if (!fs::is_regular_file(bundledClipTokenizer() / f)) {
      throw SdModelError(bundledClipTokenizer().string() + ": the studio's CLIP tokenizer (" + f + ") is missing");
    }
  }
}

// Checks the folders (or the file) before any weight is read, so that a wrong path or a
// half-downloaded model gets one message that names what is missing.
void checkModelFolders(const SdSettings& r) {
  if (r.modelDir.empty()) throw SdModelError("no Stable Diffusion model folder given");
  if (isSingleFile(r.modelDir)) {
    checkSingleFile(r);
  } else if (!fs::is_directory(r.modelDir)) {
    throw SdModelError(r.modelDir.string() + ": no such Stable Diffusion model folder or file");
  }
  if (!isSingleFile(r.modelDir)) checkPipelineFolder(r);
  checkControlNetFolder(r);
  for (const auto& l : r.loras) checkLoraFile(l.file);
  checkAutoencoder(r.vaePath, "VAE");
  checkAutoencoder(r.taesdPath, "TAESD");
}

void checkPipelineFolder(const SdSettings& r) {
  if (!fs::is_regular_file(r.modelDir / "model_index.json")) {
    throw SdModelError(
        r.modelDir.string() +
        ": not a diffusers pipeline folder (no model_index.json) nor a single-file .safetensors checkpoint");
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
}

void checkControlNetFolder(const SdSettings& r) {
  if (isSingleFile(r.controlnetDir)) {  // lllyasviel's control_v11p_sd15_canny.safetensors
    if (r.controlnetDir.extension() != ".safetensors") {
      throw SdModelError(r.controlnetDir.string() + ": not a .safetensors ControlNet (pickle files are never loaded)");
    }
    try {
      if (ldmControlNetPrefix(io::Checkpoint::open(r.controlnetDir)) == "-") {
        throw SdModelError(r.controlnetDir.string() +
                           ": not a ControlNet (no control_model.input_hint_block.0.weight)");
      }
    } catch (const SdModelError&) {
      throw;
    } catch (const std::exception& e) {
      throw SdModelError(e.what());
    }
    return;
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

}  // namespace

// ---- Engine ------------------------------------------------------------------------------

struct SdEngine::Impl {
  SdSettings loadedFor;  // folders, device and precision it was loaded with
  std::string modelId;
  ClipTokenizer tokenizer;
  SdPipelineBinding pipeline;
};

SdEngine::SdEngine(const SdSettings& request) {
  checkModelFolders(request);
  auto tokenizer =
      ClipTokenizer::load(isSingleFile(request.modelDir) ? bundledClipTokenizer() : request.modelDir / "tokenizer");
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

bool SdEngine::matches(const SdSettings& r) const {
  const auto& l = impl_->loadedFor;
  auto same = [](const fs::path& a, const fs::path& b) {
    if (a.empty() || b.empty()) return a.empty() && b.empty();
    std::error_code ec;
    return fs::equivalent(a, b, ec);
  };
  return same(l.modelDir, r.modelDir) && same(l.controlnetDir, r.controlnetDir) && same(l.vaePath, r.vaePath) &&
         same(l.taesdPath, r.taesdPath) && l.device == r.device && l.precision == r.precision;
}


// ---- Settings ----------------------------------------------------------------------------

namespace {

fs::path pathOrEmpty(const GeneratorSettings& s, const char* key) {
  const auto it = s.find(key);
  return it == s.end() || !it->is_string() ? fs::path() : fs::path(it->get<std::string>());
}

nlohmann::json pathOrNull(const fs::path& p) {
  return p.empty() ? nlohmann::json() : nlohmann::json(p.string());
}

std::string absoluteName(const std::string& p) {
  return p.empty() ? p : fs::absolute(p).lexically_normal().string();
}

// A path, or a name the user already has ("org/name" in the Hugging Face cache, a ComfyUI file's
// name): the absolute path it stands for, recorded so that "same seed again" finds the same files.
std::string resolvedName(const std::string& p) {
  std::error_code ec;
  if (p.empty() || fs::exists(p, ec)) return absoluteName(p);
  try {
    return absoluteName(ModelRegistry().resolveReference(p).string());
  } catch (const std::exception&) {  // a malformed model list: the path's own error follows
    return absoluteName(p);
  }
}

nlohmann::json lorasJson(const std::vector<SdLora>& loras) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : loras) out.push_back({{"file", l.file.string()}, {"weight", l.weight}});
  return out;
}

}  // namespace

SdSettings sdSettings(const GeneratorSettings& s) {
  SdSettings r;
  r.modelDir = pathOrEmpty(s, "model");
  r.controlnetDir = pathOrEmpty(s, "controlnet");
  r.sampler = s.value("sampler", r.sampler);
  r.steps = s.value("steps", r.steps);
  r.guidance = s.value("cfg", r.guidance);
  r.controlnetScale = s.value("controlnetScale", r.controlnetScale);
  r.clipSkip = s.value("clipSkip", r.clipSkip);
  if (s.contains("negativePrompt") && s["negativePrompt"].is_string()) r.negativePrompt = s["negativePrompt"];
  r.workingLongSide = s.value("workingSize", r.workingLongSide);
  r.device = s.value("device", r.device);
  r.precision = s.value("precision", r.precision);
  r.initialLatentsFile = pathOrEmpty(s, "latents");
  if (s.contains("loras") && s["loras"].is_array()) {
    for (const auto& l : s["loras"]) r.loras.push_back({l.value("file", std::string()), l.value("weight", 1.0)});
  }
  r.vaePath = pathOrEmpty(s, "vae");
  r.taesdPath = pathOrEmpty(s, "taesd");
  r.vaeDecode = s.value("vaeDecode", r.vaeDecode);
  r.vaeEncode = s.value("vaeEncode", r.vaeEncode);
  return r;
}

GeneratorSettings toGeneratorSettings(const SdSettings& r) {
  return {{"model", pathOrNull(r.modelDir)},
          {"controlnet", pathOrNull(r.controlnetDir)},
          {"sampler", r.sampler},
          {"steps", r.steps},
          {"cfg", r.guidance},
          {"controlnetScale", r.controlnetScale},
          {"clipSkip", r.clipSkip},
          {"negativePrompt", r.negativePrompt},
          {"workingSize", r.workingLongSide},
          {"device", r.device},
          {"precision", r.precision},
          {"latents", pathOrNull(r.initialLatentsFile)},
          {"loras", lorasJson(r.loras)},
          {"vae", pathOrNull(r.vaePath)},
          {"taesd", pathOrNull(r.taesdPath)},
          {"vaeDecode", r.vaeDecode},
          {"vaeEncode", r.vaeEncode}};
}

// ---- The generator -----------------------------------------------------------------------

namespace {

class SdGenerator : public BackgroundGenerator {
 public:
  explicit SdGenerator(const SdSettings& settings) : engine_(settings) {}

  std::string engine() const override { return "sd15"; }
  std::string modelId() const override { return engine_.modelId(); }
  std::string device() const override { return engine_.device(); }
  std::string precision() const override { return engine_.precision(); }
  std::string describe(const GeneratorSettings& s) const override {
    const SdSettings sd = sdSettings(s);
    return cv::format("%s %d steps, cfg %.1f", sd.sampler.c_str(), sd.steps, sd.guidance);
  }
  cv::Size workingSize(cv::Size adSize, const GeneratorSettings& s) const override {
    return caig::workingSize(adSize, sdSettings(s).workingLongSide, 8);
  }
  bool reusableFor(const GeneratorSettings& s) const override { return engine_.matches(sdSettings(s)); }

  GeneratedBackground generate(const BackgroundRequest& r, const GeneratorSettings& s, const BackgroundStep& onStep,
                               const std::atomic<bool>* cancel) override {
    // The steps reuse their large blocks from the CPU cache; the variant done (or failed), they
    // go back to the system, so an idle studio does not hold a step's working memory.
    struct ReleaseCpuCache {
      ~ReleaseCpuCache() { releaseCachedCpuMemory(); }
    } releaseAtEnd;
    const SdSettings sd = sdSettings(s);
    const cv::Size size = r.layout.canvas;
    if (size.width % 8 != 0 || size.height % 8 != 0) {
      throw std::invalid_argument(
          cv::format("the init image is %dx%d: both sides must be multiples of 8 (crop or resize it)", size.width,
                     size.height));
    }
    auto& impl = engine_.impl();
    SdPipelineBinding::Job job;
    // A1111 emphasis and prompts of any length; the shorter of the two padded with empty chunks.
    // <lora:name:weight> tags pick installed LoRAs and leave the text; the settings' come first.
    const PromptWithLoras tagged = extractPromptLoras(r.prompt);
    std::vector<SdLora> loras = sd.loras;
    if (!tagged.loras.empty()) {
      const ModelRegistry registry;
      for (const auto& t : tagged.loras) loras.push_back({registry.findSdLora(t.name), t.weight});
    }
    WeightedChunks prompt = weightedPromptChunks(impl.tokenizer, tagged.prompt);
    WeightedChunks negative = weightedPromptChunks(impl.tokenizer, sd.negativePrompt);
    const std::size_t chunks = std::max(prompt.ids.size(), negative.ids.size());
    padPromptChunks(prompt, chunks, impl.tokenizer);
    padPromptChunks(negative, chunks, impl.tokenizer);
    job.promptChunks = std::move(prompt.ids);
    job.promptWeights = std::move(prompt.weights);
    job.negativeChunks = std::move(negative.ids);
    job.negativeWeights = std::move(negative.weights);
    job.image = r.layout.product;
    job.mask = r.layout.mask;
    job.control = r.layout.control;
    job.seed = r.seed;
    job.initialLatentsFile = sd.initialLatentsFile;
    job.sampler = sd.sampler;
    job.steps = sd.steps;
    job.guidance = sd.guidance;
    job.controlnetScale = sd.controlnetScale;
    job.clipSkip = sd.clipSkip - 1;  // A1111's count -> layers skipped
    job.loras = loras;
    job.fastDecode = sd.vaeDecode == "taesd";
    job.fastEncode = sd.vaeEncode == "taesd";
    job.previews = r.previews;
    job.cancel = cancel;
    if (onStep) job.onStep = onStep;
    const auto out = impl.pipeline.run(job);
    GeneratedBackground g;
    g.cancelled = out.cancelled;
    if (out.cancelled) return g;
    g.image = out.image;
    g.record = {{"modelDir", absoluteName(sd.modelDir.string())},
                {"controlnetDir", absoluteName(sd.controlnetDir.string())},
                {"sampler", sd.sampler},
                {"steps", sd.steps},
                {"cfg", sd.guidance},
                {"controlnetScale", sd.controlnetScale},
                {"clipSkip", sd.clipSkip},
                {"negativePrompt", sd.negativePrompt},
                {"quality", s.value("quality", std::string("custom"))},
                {"vae", absoluteName(sd.vaePath.string())},
                {"vaeDecode", sd.vaeDecode},
                {"vaeEncode", sd.vaeEncode},
                {"device", engine_.device()},
                {"precision", engine_.precision()},
                {"timings",
                 {{"loraSeconds", out.loraSeconds},
                  {"denoiseSeconds", out.denoiseSeconds},
                  {"decodeSeconds", out.decodeSeconds}}}};
    // What each LoRA changed, and the keys that matched nothing (a LoRA partly for another model).
    nlohmann::json used = nlohmann::json::array();
    for (const auto& l : out.loras) {
      nlohmann::json e = {{"file", absoluteName(l.file.string())},
                          {"weight", l.weight},
                          {"unetModules", l.unetModules},
                          {"textEncoderModules", l.textModules}};
      if (!l.unmatched.empty()) {
        e["unmatchedKeys"] = l.unmatched.size();
        g.record["warnings"].push_back(cv::format("%s: %zu LoRA keys match nothing in this model (e.g. %s)",
                                                  l.file.filename().string().c_str(), l.unmatched.size(),
                                                  l.unmatched.front().c_str()));
      }
      used.push_back(e);
    }
    if (!used.empty()) g.record["loras"] = used;
    if (job.fastDecode || job.fastEncode) g.record["taesd"] = absoluteName(sd.taesdPath.string());
    return g;
  }

 private:
  SdEngine engine_;
};

// Quality presets: what each stands for among the other options.
nlohmann::json sdQualityPresets() {
  return {{"fast", {{"sampler", "lcm"}, {"steps", 4}, {"cfg", 1.0}, {"vaeDecode", "taesd"}, {"vaeEncode", "taesd"}}},
          {"balanced", {{"sampler", "lcm"}, {"steps", 8}, {"cfg", 1.5}, {"vaeDecode", "vae"}, {"vaeEncode", "vae"}}},
          {"caig", {{"sampler", "euler_a"}, {"steps", 30}, {"cfg", 7.5}, {"vaeDecode", "vae"}, {"vaeEncode", "vae"}}}};
}

// An LCM-LoRA is told by its file name, as A1111 users name it (lcm-lora-sdv1-5.safetensors), or
// by the name it is listed under.
bool namesLcm(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name.find("lcm") != std::string::npos;
}

// The installed LCM-LoRA for SD1.5.
fs::path installedLcmLora() {
  for (const auto& m : ModelRegistry().scan()) {
    // The name too: in the Hugging Face cache the file is latent-consistency/lcm-lora-sdv1-5's
    // pytorch_lora_weights.safetensors.
    if (m.kind == ModelKind::SdLora && m.status == ModelStatus::Ok &&
        (namesLcm(m.path.filename().string()) || namesLcm(m.name))) {
      return m.path;
    }
  }
  return {};
}

// A quality preset over the settings: its sampler, steps, CFG and decode; LCM-LoRA added for the
// LCM presets (at weight 1, unless one is given), so the record holds what ran.
void applySdQuality(GeneratorSettings& s, const std::string& quality) {
  const nlohmann::json presets = sdQualityPresets();
  const auto it = presets.find(quality);
  if (it == presets.end()) throw std::invalid_argument("unknown quality '" + quality + "'");
  for (const auto& [k, v] : it->items()) s[k] = v;
  if ((*it)["sampler"] != "lcm") return;
  for (const auto& l : s["loras"])
    if (namesLcm(fs::path(l.value("file", std::string())).filename().string())) return;  // one given: used as given
  const fs::path lcm = installedLcmLora();
  if (lcm.empty()) {
    throw SdModelError("--quality " + quality +
                       " needs LCM-LoRA for SD1.5 (latent-consistency/lcm-lora-sdv1-5, "
                       "pytorch_lora_weights.safetensors renamed lcm-lora-sdv1-5.safetensors) in " +
                       ModelRegistry().lorasDir().string() + ", or give it with --lora FILE");
  }
  s["loras"].push_back({{"file", absoluteName(lcm.string())}, {"weight", 1.0}});
}

GeneratorOption option(std::string key, std::string flag, std::string label, std::string help, OptionType type,
                       nlohmann::json defaultValue) {
  GeneratorOption o;
  o.key = std::move(key);
  o.flag = std::move(flag);
  o.label = std::move(label);
  o.help = std::move(help);
  o.type = type;
  o.defaultValue = std::move(defaultValue);
  return o;
}

}  // namespace

GeneratorKind sdGeneratorKind() {
  GeneratorKind k;
  k.name = "sd15";
  k.inpaints = true;
  k.label = "Stable Diffusion 1.5 + ControlNet";
  k.filePrefix = "sd";
  auto model =
      option("model", "model", "Model",
             "diffusers SD1.5 pipeline folder, or a single-file SD1.5 .safetensors checkpoint (A1111 / Civitai)",
             OptionType::Model, nullptr);
  model.modelKind = ModelKind::StableDiffusion;
  model.primaryModel = true;
  auto controlnet =
      option("controlnet", "controlnet", "ControlNet",
             "ControlNet canny folder or original-layout .safetensors file (default: the model's controlnet/)",
             OptionType::Model, nullptr);
  controlnet.modelKind = ModelKind::ControlNet;
  controlnet.noneLabel = "The pipeline's own controlnet/";
  controlnet.pickFirstForFileModels = true;
  auto sampler = option("sampler", "sampler", "Sampler",
                        "euler, euler_a (CAIG's Euler a), ddim, dpmpp_2m, dpmpp_2m_karras, dpmpp_singlestep, "
                        "dpmpp_singlestep_karras (what CAIG's code runs for its DPM++ SDE Karras), dpmpp_sde, "
                        "dpmpp_sde_karras (DPM++ SDE: two UNet calls a step, Brownian noise from the seed), unipc, lcm",
                        OptionType::Choice, "euler_a");
  sampler.choices = sdSamplerNames();
  auto steps = option("steps", "steps", "Steps", "denoising steps", OptionType::Integer, 30);
  steps.min = 1;
  steps.max = 1000;
  auto cfg = option("cfg", "cfg", "CFG scale", "classifier-free guidance scale (<= 1 turns it off)", OptionType::Number,
                    7.5);
  cfg.max = 50;
  cfg.step = 0.5;
  auto scale = option("controlnetScale", "control-scale", "ControlNet scale", "ControlNet conditioning scale",
                      OptionType::Number, 1.0);
  scale.max = 5;
  scale.step = 0.1;
  auto clipSkip = option("clipSkip", "clip-skip", "Clip skip",
                         "1 = last CLIP layer, 2 = penultimate (A1111's Clip skip, as many SD1.5 fine-tunes ask)",
                         OptionType::Integer, 1);
  clipSkip.min = 1;
  clipSkip.max = 2;
  auto negative = option("negativePrompt", "negative", "Negative prompt", "what the background must not show",
                         OptionType::Text, kDefaultSdNegativePrompt);
  auto working = option("workingSize", "working-size", "Working size",
                        "the generator's long side in px (a multiple of 8); the ad is resized to its preset after",
                        OptionType::Integer, 512);
  working.min = 64;
  working.max = 2048;
  working.step = 64;
  working.multiple = 8;
  auto device = option("device", "device", "Device", "auto, cpu, cuda or cuda:N", OptionType::Text, "auto");
  device.inStudio = false;
  auto precision = option("precision", "precision", "Precision", "auto (fp16 on CUDA, fp32 on CPU), fp32, fp16, bf16",
                          OptionType::Choice, "auto");
  precision.choices = {"auto", "fp32", "fp16", "bf16"};
  precision.inStudio = false;
  auto latents = option("latents", "latents", "Initial latents",
                        "safetensors holding the initial noise \"latents\" [1,4,H/8,W/8] (reproduces another "
                        "implementation's run)",
                        OptionType::File, nullptr);
  latents.inStudio = false;
  latents.givenCanvasOnly = true;
  auto loras = option("loras", "lora", "LoRAs",
                      "a LoRA .safetensors (kohya / A1111, LoCon, diffusers, LCM-LoRA) at a weight, FILE[:WEIGHT] "
                      "(weight 1 when absent); the prompt's <lora:name:weight> tags add installed ones",
                      OptionType::LoraList, nlohmann::json::array());
  auto vae = option("vae", "vae", "VAE",
                    "a VAE instead of the model's own: a diffusers AutoencoderKL folder or a .safetensors VAE file "
                    "(e.g. vae-ft-mse-840000-ema-pruned)",
                    OptionType::Model, nullptr);
  vae.modelKind = ModelKind::Vae;
  vae.noneLabel = "The model's own VAE";
  auto taesd = option("taesd", "taesd", "Previews",
                      "TAESD (madebyollin/taesd folder or taesd_decoder.safetensors) for live previews and "
                      "--vae-decode taesd",
                      OptionType::Model, nullptr);
  taesd.modelKind = ModelKind::Taesd;
  taesd.noneLabel = "Rough colours (no TAESD)";
  taesd.pickFirstInstalled = true;
  auto vaeDecode =
      option("vaeDecode", "vae-decode", "Final decode",
             "vae (full quality) or taesd (TAESD: tens of times cheaper, a little softer)", OptionType::Choice, "vae");
  vaeDecode.choices = {"vae", "taesd"};
  auto vaeEncode = option("vaeEncode", "vae-encode", "Image encode",
                          "vae, or taesd (TAESD's encoder for the product image: cheaper; the product's own pixels "
                          "are pasted back over the result)",
                          OptionType::Choice, "vae");
  vaeEncode.choices = {"vae", "taesd"};
  vaeEncode.inStudio = false;  // the Quality presets set it
  auto quality = option("quality", "quality", "Quality",
                        "fast (LCM-LoRA, 4 steps, no CFG, TAESD decode), balanced (LCM-LoRA, 8 steps, CFG 1.5, VAE), "
                        "caig (CAIG's Euler a, 30 steps, CFG 7.5), or custom (the options as given); fast and "
                        "balanced need an installed LCM-LoRA for SD1.5, fast also TAESD",
                        OptionType::Choice, "custom");
  quality.choices = {"custom", "fast", "balanced", "caig"};
  quality.presets = sdQualityPresets();
  k.options = {model,   quality, controlnet, sampler, steps, cfg, scale, clipSkip,  negative,
               working, device,  precision,  latents, loras, vae, taesd, vaeDecode, vaeEncode};
  k.validate = [](GeneratorSettings& s) {
    for (const char* key : {"model", "controlnet", "vae", "taesd"}) {
      if (s[key].is_string()) s[key] = resolvedName(s[key].get<std::string>());
      if (s[key].is_string() && s[key].get<std::string>().empty()) s[key] = nullptr;
    }
    for (const char* key : {"latents"}) {
      if (s[key].is_string()) s[key] = absoluteName(s[key].get<std::string>());
      if (s[key].is_string() && s[key].get<std::string>().empty()) s[key] = nullptr;
    }
    for (auto& l : s["loras"]) l["file"] = absoluteName(l["file"].get<std::string>());
    if (!s["model"].is_string())
      throw SdModelError(
          "the sd15 engine needs a model: --model DIR|FILE (a diffusers SD1.5 folder or a single-file .safetensors "
          "checkpoint)");
    if (const std::string q = s.value("quality", "custom"); q != "custom") applySdQuality(s, q);
    if ((s["vaeDecode"] == "taesd" || s["vaeEncode"] == "taesd") && !s["taesd"].is_string()) {
      // The installed one, recorded so that "same seed again" decodes with it.
      const fs::path installed = ModelRegistry().findTaesd();
      if (installed.empty()) {
        throw SdModelError(
            "--vae-decode / --vae-encode taesd needs TAESD: give --taesd DIR|FILE (madebyollin/taesd, or "
            "taesd_decoder.safetensors), or install it in " +
            ModelRegistry::defaultModelsDir().string());
      }
      s["taesd"] = installed.string();
    }
    // A decoder-only TAESD (ComfyUI's vae_approx holds just that): the Fast quality encodes with
    // the VAE then; asked for explicitly, the job says why it cannot.
    if (s.value("quality", "custom") != "custom" && s["vaeEncode"] == "taesd" && s["taesd"].is_string() &&
        !AutoencoderTiny::hasEncoderAt(s["taesd"].get<std::string>())) {
      s["vaeEncode"] = "vae";
    }
    checkModelFolders(sdSettings(s));
  };
  k.create = [](const GeneratorSettings& s) { return std::make_unique<SdGenerator>(sdSettings(s)); };
  k.settingsFromOldParams = [](const nlohmann::json& p) {
    GeneratorSettings s = nlohmann::json::object();
    if (p.contains("modelDir") && p["modelDir"].is_string() && !p["modelDir"].get<std::string>().empty()) {
      s["model"] = p["modelDir"];
    }
    if (p.contains("controlnetDir") && p["controlnetDir"].is_string() && !p["controlnetDir"].get<std::string>().empty()) {
      s["controlnet"] = p["controlnetDir"];
    }
    for (const char* key : {"sampler", "steps", "cfg", "controlnetScale", "clipSkip", "negativePrompt"}) {
      if (p.contains(key)) s[key] = p[key];
    }
    if (p.contains("workingSize") && p["workingSize"].is_array() && p["workingSize"].size() == 2) {
      s["workingSize"] = std::max(p["workingSize"][0].get<int>(), p["workingSize"][1].get<int>());
    }
    return s;
  };
  return k;
}

void registerSdGenerator() {
  if (!hasGenerator("sd15")) registerGenerator(sdGeneratorKind());
}

}  // namespace caig
