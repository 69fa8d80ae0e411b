#include "models/llava.h"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <c10/core/InferenceMode.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

const std::string kOriginalTower = "model.vision_tower.vision_tower.";
const std::string kHfTower = "vision_tower.";

bool isModelFolder(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) && std::filesystem::is_regular_file(dir / "config.json", ec);
}

// The separate CLIP tower's vision_model.* weights with the projector of the model's checkpoint.
void loadSeparateTower(LlavaVisionModel& vision, const io::Checkpoint& model, const std::filesystem::path& towerDir) {
  const auto tower = io::Checkpoint::open(towerDir);
  if (!tower.contains("vision_model.embeddings.class_embedding"))
    throw io::FormatError(towerDir.string() + ": no vision_model.* tensors (expected a CLIP or CLIP vision model)");
  try {
    vision.loadWeights(tower, model, LlavaLayout::Original);
  } catch (const io::FormatError& e) {
    throw io::FormatError("vision tower from " + towerDir.string() + " with the projector of the model: " + e.what());
  }
}

int64_t imageTokenIndexOf(const nlohmann::json& config) {
  for (const char* key : {"image_token_index", "image_token_id"})  // the latter: newer transformers
    if (config.contains(key) && config.at(key).is_number_integer()) return config.at(key).get<int64_t>();
  // transformers' LlavaConfig default; the original code's IMAGE_TOKEN_INDEX constant.
  return config.value("model_type", std::string()) == "llava" ? 32000 : -200;
}

}  // namespace

std::filesystem::path resolveLlavaVisionTower(const std::filesystem::path& modelDir, const nlohmann::json& config,
                                              const std::filesystem::path& explicitDir) {
  if (!explicitDir.empty()) {
    if (!isModelFolder(explicitDir))
      throw io::FileError("vision tower folder " + explicitDir.string() +
                          " is not a model folder (config.json + safetensors weights)");
    return explicitDir;
  }
  std::string name;
  for (const char* key : {"mm_vision_tower", "vision_tower"})
    if (config.contains(key) && config.at(key).is_string()) {
      name = config.at(key).get<std::string>();
      break;
    }
  std::vector<std::filesystem::path> tried;
  if (!name.empty()) {
    std::string trimmed = name;
    while (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
    const auto last = std::filesystem::path(trimmed).filename();
    if (!last.empty()) tried.push_back(modelDir / last);
  }
  tried.push_back(modelDir / "vision_tower");
  if (!name.empty() && std::filesystem::path(name).is_absolute()) tried.emplace_back(name);
  for (const auto& dir : tried)
    if (isModelFolder(dir)) return dir;
  std::string looked;
  for (const auto& dir : tried) looked += (looked.empty() ? "" : ", ") + dir.string();
  throw io::FileError(modelDir.string() +
                      ": the checkpoint holds no vision tower weights (model.vision_tower.vision_tower.vision_model.*) "
                      "and its CLIP tower" +
                      (name.empty() ? std::string() : " \"" + name + "\"") + " was not found (looked in " + looked +
                      "). Put that CLIP model's folder (config.json + safetensors) there, or name it as the vision "
                      "tower folder (LlavaLoadOptions::visionTowerDir).");
}

struct LlavaModel::Impl {
  LlavaVisionModel vision;
  LlamaModel language;
  int64_t imageTokenIndex;

  Impl(LlavaVisionModel v, LlamaModel l, int64_t index)
      : vision(std::move(v)), language(std::move(l)), imageTokenIndex(index) {}
};

LlavaModel::LlavaModel(LlavaVisionModel vision, LlamaModel language, int64_t imageTokenIndex) {
  if (vision.config().textHiddenSize != language.config().hiddenSize)
    throw std::invalid_argument("LLaVA projector output " + std::to_string(vision.config().textHiddenSize) +
                                " differs from the language model's hidden size " +
                                std::to_string(language.config().hiddenSize));
  impl_ = std::make_unique<Impl>(std::move(vision), std::move(language), imageTokenIndex);
}
LlavaModel::~LlavaModel() = default;
LlavaModel::LlavaModel(LlavaModel&&) noexcept = default;
LlavaModel& LlavaModel::operator=(LlavaModel&&) noexcept = default;

LlavaModel LlavaModel::load(const std::filesystem::path& dir, const LlavaLoadOptions& opts) {
  const auto configPath = dir / "config.json";
  nlohmann::json config = io::readJsonFile(configPath);
  if (!config.is_object()) throw io::FormatError(configPath.string() + ": not a JSON object");
  const auto checkpoint = io::Checkpoint::open(dir);

  // Language model: transformers layout when its keys are there, else the original one.
  const bool hfLayout = checkpoint.contains(LlamaKeyLayout::llavaHf().checkpointKey("model.embed_tokens.weight"));
  LlamaKeyLayout layout = hfLayout ? LlamaKeyLayout::llavaHf() : LlamaKeyLayout::llavaOriginal();
  for (const auto& p : opts.headKeyPrefixes) layout.foreignPrefixes.push_back(p);
  LlamaConfig textConfig = readLlamaConfig(dir);
  if (opts.languageHeadOptional && !textConfig.tieWordEmbeddings &&
      !checkpoint.contains(layout.checkpointKey("lm_head.weight")))
    textConfig.tieWordEmbeddings = true;  // a sequence classifier: no lm_head, hidden states only
  checkLlamaConfig(textConfig, checkpoint, layout, configPath.string());
  LlamaModel language = LlamaModel::uninitialised(textConfig, opts.dtype);  // never fp32 on the way
  language.loadWeights(checkpoint, layout);
  language.to(opts.device, opts.dtype);
  if (opts.int8Weights) language.quantizeInt8();

  // Vision tower + projector, possibly from a separate CLIP folder.
  const bool towerInside = checkpoint.contains((hfLayout ? kHfTower : kOriginalTower) +
                                               "vision_model.embeddings.class_embedding");
  std::filesystem::path towerDir;
  if (!towerInside) {
    if (hfLayout)
      throw io::FormatError(dir.string() + ": transformers LLaVA checkpoint without vision_tower.vision_model.* keys");
    towerDir = resolveLlavaVisionTower(dir, config, opts.visionTowerDir);
    if (!config.contains("vision_config")) {  // real LLaVA configs leave the tower's config to its folder
      const auto towerConfig = io::readJsonFile(towerDir / "config.json");
      config["vision_config"] = towerConfig.contains("vision_config") ? towerConfig.at("vision_config") : towerConfig;
    }
  }
  LlavaVisionConfig visionConfig;
  try {
    visionConfig = llavaVisionConfigFromJson(config);
  } catch (const io::FormatError& e) {
    throw io::FormatError(configPath.string() + ": " + e.what());
  }
  if (towerInside) {
    const WeightNaming naming =
        llavaVisionWeightNaming(hfLayout ? LlavaLayout::Transformers : LlavaLayout::Original, visionConfig.projector);
    checkLlavaVisionConfig(visionConfig, checkpoint, naming, checkpoint, naming, configPath.string());
  } else {
    checkLlavaVisionConfig(visionConfig, io::Checkpoint::open(towerDir), WeightNaming{}, checkpoint,
                           llavaVisionWeightNaming(LlavaLayout::Original, visionConfig.projector), configPath.string());
  }
  LlavaVisionModel vision(visionConfig);
  if (towerInside)
    vision.loadWeights(checkpoint, hfLayout ? LlavaLayout::Transformers : LlavaLayout::Original);
  else
    loadSeparateTower(vision, checkpoint, towerDir);
  vision.to(opts.device, opts.dtype);  // features then need no conversion either
  return LlavaModel(std::move(vision), std::move(language), imageTokenIndexOf(config));
}

int64_t LlavaModel::imageSize() const { return impl_->vision.config().vision.imageSize; }
int64_t LlavaModel::numImageTokens() const {
  const auto& c = impl_->vision.config();
  return c.vision.numPatches() + (c.keepCls ? 1 : 0);
}
int64_t LlavaModel::imageTokenIndex() const { return impl_->imageTokenIndex; }
const LlamaModel& LlavaModel::languageModel() const { return impl_->language; }
LlamaModel& LlavaModel::mutableLanguageModel() { return impl_->language; }
const LlavaVisionModel& LlavaModel::visionModel() const { return impl_->vision; }

at::Tensor LlavaModel::encodeImages(const at::Tensor& pixels) const {
  const auto& lm = impl_->language;
  return impl_->vision.imageFeatures(pixels).to(lm.device(), lm.dtype());
}

at::Tensor LlavaModel::spliceEmbeddings(const at::Tensor& ids, const at::Tensor& imageFeatures) const {
  const auto& lm = impl_->language;
  const int64_t hidden = lm.config().hiddenSize, vocab = lm.config().vocabSize;
  if (ids.dim() != 1 || at::isFloatingType(ids.scalar_type()) || ids.scalar_type() == at::kBool)
    throw std::invalid_argument("prompt ids must be a 1-D integer tensor");
  if (imageFeatures.dim() != 2 || imageFeatures.size(1) != hidden)
    throw std::invalid_argument("image features must be [tokens, " + std::to_string(hidden) + "]");
  const at::Tensor cpuIds = ids.to(at::kCPU, at::kLong).contiguous();
  const int64_t* p = cpuIds.data_ptr<int64_t>();
  const int64_t T = cpuIds.numel();
  int64_t pos = -1, count = 0;
  for (int64_t i = 0; i < T; ++i) {
    if (p[i] == impl_->imageTokenIndex) {
      pos = i;
      ++count;
    } else if (p[i] < 0 || p[i] >= vocab) {
      throw std::invalid_argument("prompt id " + std::to_string(p[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary of " + std::to_string(vocab));
    }
  }
  if (count != 1)
    throw std::invalid_argument("the prompt holds " + std::to_string(count) + " image placeholders (id " +
                                std::to_string(impl_->imageTokenIndex) + "); exactly one is needed");
  c10::InferenceMode guard;
  std::vector<at::Tensor> parts;
  if (pos > 0) parts.push_back(lm.embed(cpuIds.narrow(0, 0, pos)));
  parts.push_back(imageFeatures.to(lm.device(), lm.dtype()));
  if (pos + 1 < T) parts.push_back(lm.embed(cpuIds.narrow(0, pos + 1, T - pos - 1)));
  return at::cat(parts, 0);
}

at::Tensor LlavaModel::embedPrompts(const at::Tensor& ids, const at::Tensor& pixels) const {
  if (ids.dim() != 2) throw std::invalid_argument("prompt ids must be [batch, tokens]");
  if (pixels.dim() != 4 || pixels.size(0) != ids.size(0))
    throw std::invalid_argument("pixels must be [batch, 3, S, S] with one image per prompt row");
  const at::Tensor features = encodeImages(pixels);
  c10::InferenceMode guard;
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < ids.size(0); ++b) rows.push_back(spliceEmbeddings(ids[b], features[b]));
  return at::stack(rows, 0);
}

LlamaOutput LlavaModel::forward(const at::Tensor& ids, const at::Tensor& pixels) const {
  return impl_->language.forwardEmbeddings(embedPrompts(ids, pixels));
}

GenerationResult LlavaModel::generate(const at::Tensor& ids, const at::Tensor& pixels, int64_t numSequences,
                                      const SamplingOptions& options, const TokenCallback& callback,
                                      const std::atomic<bool>* cancel) const {
  if (numSequences < 1) throw std::invalid_argument("numSequences must be positive");
  if (pixels.dim() != 4 || pixels.size(0) != 1) throw std::invalid_argument("pixels must be [1, 3, S, S]");
  const auto& lm = impl_->language;
  c10::InferenceMode guard;
  const at::Tensor row = ids.dim() == 2 && ids.size(0) == 1 ? ids[0] : ids;  // [1, T] is fine too
  const at::Tensor embeds = spliceEmbeddings(row, encodeImages(pixels)[0]).unsqueeze(0);
  GenerationResult result;
  if (options.maxNewTokens <= 0) {
    result.tokens.resize(static_cast<std::size_t>(numSequences));
    return result;
  }
  // Prefill once and repeat the cache: bench_llava measured this against prefilling N rows.
  LlamaKvCache one = lm.newCache(1, embeds.size(1) + options.maxNewTokens);
  const LlamaOutput out = lm.forwardEmbeddings(embeds, &one, true, true);
  LlamaKvCache cache = numSequences == 1 ? std::move(one) : repeatCacheRows(one, numSequences);
  const at::Tensor logits = out.logits.select(1, 0).expand({numSequences, -1});
  std::vector<int64_t> text;  // what the repetition penalty sees of the prompt
  const at::Tensor cpuIds = row.to(at::kCPU, at::kLong).contiguous();
  for (int64_t i = 0; i < cpuIds.numel(); ++i)
    if (cpuIds.data_ptr<int64_t>()[i] != impl_->imageTokenIndex) text.push_back(cpuIds.data_ptr<int64_t>()[i]);
  const std::vector<std::vector<int64_t>> promptIds(static_cast<std::size_t>(numSequences), text);
  return generateFromCache(lm, cache, logits, promptIds, options, callback, cancel);
}

}  // namespace caig
