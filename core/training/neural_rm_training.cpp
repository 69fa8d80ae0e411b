#include "core/training/neural_rm_training.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/image/image_io.h"
#include "core/llava/clip_preprocess.h"
#include "core/llava/llava_conversation.h"
#include "core/llava/llava_engine_common.h"
#include "core/llava/llava_prompt_writer.h"
#include "core/project/project.h"
#include "core/ranking/ctr_ranker.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "core/training/distributed.h"
#include "models/data_parallel.h"
#include "models/io/atomic_file.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "models/llava.h"
#include "models/llava_reward.h"
#include "models/lora.h"
#include "models/preference_training.h"
#include "models/trainer.h"

namespace fs = std::filesystem;

namespace caig {
namespace {

const std::string kTowerKey = "model.vision_tower.vision_tower.vision_model.embeddings.class_embedding";

bool isWeightOrPickle(const std::string& name) {
  for (const char* ext : {".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json", ".pt", ".pth", ".ckpt",
                          ".msgpack", ".h5"}) {
    const std::string e = ext;
    if (name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return true;
  }
  return false;
}

// Training runs fp32 on the CPU and bf16 on CUDA unless told otherwise (fp16 has too little
// range for gradients; the adapters themselves always train in fp32).
LlavaRuntime trainingRuntime(const std::string& device, const std::string& dtype) {
  LlavaRuntime rt = resolveLlavaRuntime(device, dtype);
  if (rt.int8Weights)
    throw std::invalid_argument("dtype int8 is for running a model, not training it: use auto, fp32 or bf16");
  if (dtype == "auto" && rt.device.is_cuda()) rt.dtype = c10::kBFloat16;
  return rt;
}

std::string dtypeName(c10::ScalarType t) {
  switch (t) {
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    case c10::kDouble: return "fp64";
    default: return "fp32";
  }
}

// The creative as a feed shows it: BGR, transparent areas over white.
cv::Mat loadCreativeImage(const Project& project, const std::string& relPath) {
  cv::Mat image = loadImage(project.absolute(relPath));
  if (image.channels() == 4) {
    cv::Mat bgr(image.size(), CV_8UC3, cv::Scalar::all(255)), alpha;
    cv::extractChannel(image, alpha, 3);
    cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
    image.copyTo(bgr, alpha > 127);
    image = bgr;
  } else if (image.channels() == 1) {
    cv::cvtColor(image, image, cv::COLOR_GRAY2BGR);
  }
  return image;
}

nlohmann::json metricsJsonOf(const PairMetrics& m) {
  return {{"pairs", m.pairs}, {"accuracy", m.accuracy}, {"logLoss", m.logLoss}};
}

// Probability that each example's labelled side wins, in batches, no graph, dropout off.
std::vector<double> labelProbabilities(const LlamaModel& model, const RewardHeads& heads,
                                       const std::vector<RewardExample>& examples, int64_t batchSize) {
  // Examples of another data-parallel rank (no embeddings here) get 0: the ranks' sum is the value.
  std::vector<double> out(examples.size(), 0.0);
  std::vector<std::size_t> here;
  for (std::size_t i = 0; i < examples.size(); ++i)
    if (examples[i].embeds.defined()) here.push_back(i);
  LlamaForwardOptions fo;
  fo.grad = false;
  for (std::size_t begin = 0; begin < here.size(); begin += static_cast<std::size_t>(batchSize)) {
    const std::size_t end = std::min(here.size(), begin + static_cast<std::size_t>(batchSize));
    std::vector<at::Tensor> seqs;
    for (std::size_t i = begin; i < end; ++i) seqs.push_back(examples[here[i]].embeds);
    const auto [embeds, mask] = padEmbeddings(seqs);
    const at::Tensor p = rewardForward(model, heads, embeds, mask, fo).logits.detach().to(at::kDouble).softmax(1).cpu();
    for (std::size_t i = begin; i < end; ++i)
      out[here[i]] = p[static_cast<int64_t>(i - begin)][examples[here[i]].label].item<double>();
  }
  return out;
}

// Examples come in pairs (winner left, winner right): P(winner wins) averages both orders, as
// the ranker does, so the metrics are those of the studio's ranking. One number per pair; with
// data parallelism, every rank computes its own pairs and receives the others'.
std::vector<double> pairWinProbabilities(const LlamaModel& model, const RewardHeads& heads,
                                         const std::vector<RewardExample>& examples, int64_t batchSize,
                                         DataParallel* parallel) {
  const auto p = labelProbabilities(model, heads, examples, batchSize);
  std::vector<double> wins;
  for (std::size_t k = 0; k + 1 < p.size(); k += 2) wins.push_back(0.5 * (p[k] + p[k + 1]));
  return parallel ? parallel->sum(wins) : wins;
}

PairMetrics metricsOf(const std::vector<double>& wins) {
  PairMetrics m;
  if (wins.empty()) return m;
  m.pairs = static_cast<int>(wins.size());
  for (const double win : wins) {
    m.accuracy += win > 0.5 ? 1.0 : (win == 0.5 ? 0.5 : 0.0);
    m.logLoss += -std::log(std::max(win, 1e-12));
  }
  m.accuracy /= m.pairs;
  m.logLoss /= m.pairs;
  return m;
}

PairMetrics pairMetrics(const LlamaModel& model, const RewardHeads& heads, const std::vector<RewardExample>& examples,
                        int64_t batchSize, DataParallel* parallel) {
  return metricsOf(pairWinProbabilities(model, heads, examples, batchSize, parallel));
}

// Which pairs are this rank's: all of them in one process, else those of its products.
std::vector<char> localPairs(const std::vector<ClickPair>& pairs, DataParallel* parallel, bool everyRankNeedsOne) {
  std::vector<char> local(pairs.size(), 1);
  if (!parallel || pairs.empty()) return local;
  std::vector<std::string> products;
  for (const auto& p : pairs) products.push_back(p.productKey);
  const std::set<std::string> distinct(products.begin(), products.end());
  // Held-out pairs may come from fewer products than there are ranks: some ranks then have none.
  const int ranks = everyRankNeedsOne ? parallel->worldSize()
                                      : std::min<int>(parallel->worldSize(), static_cast<int>(distinct.size()));
  const auto owner = shardByProduct(products, ranks, "training pairs");
  for (std::size_t i = 0; i < pairs.size(); ++i) local[i] = owner[i] == parallel->rank();
  return local;
}

// Copies the small files a model folder needs beside its weights (tokenizer, processor
// configs); config.json is written by the caller.
void copyAuxiliaryFiles(const fs::path& from, const fs::path& to, bool onlyTokenizer) {
  std::error_code ec;
  if (from.empty() || !fs::is_directory(from, ec)) return;
  for (const auto& e : fs::directory_iterator(from)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "config.json" || isWeightOrPickle(name)) continue;
    if (onlyTokenizer && name.rfind("tokenizer", 0) != 0 && name != "added_tokens.json" && name != "special_tokens_map.json")
      continue;
    if (fs::exists(to / name)) continue;
    fs::copy_file(e.path(), to / name);
  }
}

}  // namespace

std::string llavaLanguageKeyPrefix(const fs::path& modelDir) {
  const auto ckpt = io::Checkpoint::open(modelDir);
  return ckpt.contains(LlamaKeyLayout::llavaHf().checkpointKey("model.embed_tokens.weight")) ? "language_model." : "";
}

void saveMergedLlavaFolder(const fs::path& baseDir, const LlamaModel& model, const LoraAdapters& lora,
                           const fs::path& outDir, const std::vector<std::pair<std::string, at::Tensor>>& extraTensors,
                           const fs::path& tokenizerDir, const fs::path& visionTowerDir) {
  nlohmann::json config = io::readJsonFile(baseDir / "config.json");
  const auto ckpt = io::Checkpoint::open(baseDir);
  const bool hf = ckpt.contains(LlamaKeyLayout::llavaHf().checkpointKey("model.embed_tokens.weight"));
  const LlamaKeyLayout layout = hf ? LlamaKeyLayout::llavaHf() : LlamaKeyLayout::llavaOriginal();
  if (!hf && !ckpt.contains(kTowerKey))
    config["mm_vision_tower"] = fs::absolute(resolveLlavaVisionTower(baseDir, config, visionTowerDir)).string();

  // W + scale * B A per adapted module, computed aside (the live model keeps its base weights).
  std::map<std::string, at::Tensor> replaced;
  {
    at::NoGradGuard noGrad;
    std::map<std::string, at::Tensor> params;
    for (const auto& [name, t] : lora.namedParameters()) params[name] = t;
    for (const auto& module : lora.modules()) {
      const std::string base = "base_model.model." + module;
      const at::Tensor& a = params.at(base + ".lora_A.weight");
      const at::Tensor& b = params.at(base + ".lora_B.weight");
      const at::Tensor w = model.parameter(module + ".weight");
      const at::Tensor delta = at::matmul(b, a) * lora.config().scale();
      const std::string key = layout.checkpointKey(module + ".weight");
      if (!ckpt.contains(key)) throw io::FormatError(baseDir.string() + ": no tensor " + key + " to merge into");
      replaced[key] = (w.to(delta.scalar_type()) + delta).to(ckpt.tensor(key).scalar_type()).cpu().contiguous();
    }
  }
  for (const auto& [name, t] : extraTensors) replaced[name] = t.detach().cpu().contiguous();
  io::NamedTensors tensors;
  for (const auto& name : ckpt.names()) {
    const auto it = replaced.find(name);
    if (it == replaced.end()) {
      tensors.emplace_back(name, ckpt.tensor(name));
    } else {
      tensors.emplace_back(name, it->second);
      replaced.erase(it);
    }
  }
  for (const auto& [name, t] : replaced) tensors.emplace_back(name, t);  // new heads

  // Written beside the target and renamed: a crash leaves no half folder under the name.
  const fs::path partial = outDir.parent_path() / (outDir.filename().string() + ".partial");
  fs::remove_all(partial);
  fs::create_directories(partial);
  io::saveSafetensors(partial / "model.safetensors", tensors, {{"format", "pt"}});
  io::writeFileAtomically(partial / "config.json", config.dump(2) + "\n");
  copyAuxiliaryFiles(baseDir, partial, false);
  if (!tokenizerDir.empty()) copyAuxiliaryFiles(tokenizerDir, partial, true);
  fs::remove_all(outDir);
  fs::rename(partial, outDir);
}

LlavaRewardModel loadAdaptedRewardModel(const fs::path& adapterDir, const fs::path& baseDir, const std::string& device) {
  fs::path base = baseDir;
  if (base.empty()) {
    const auto info = io::readJsonFile(adapterDir / "reward_model.json");
    if (!info.contains("baseModel") || !info.at("baseModel").is_string())
      throw io::FormatError((adapterDir / "reward_model.json").string() + ": no baseModel");
    base = info.at("baseModel").get<std::string>();
  }
  const fs::path headsFile = adapterDir / "reward_heads.safetensors";
  const auto heads = io::SafetensorsFile::open(headsFile);
  if (!heads.contains("score.weight")) throw io::FormatError(headsFile.string() + ": no score.weight");
  auto optional = [&heads](const std::string& name) { return heads.contains(name) ? heads.tensor(name) : at::Tensor(); };
  const LlavaRuntime rt = resolveLlavaRuntime(device, "auto");
  LlavaLoadOptions lo;
  lo.device = rt.device;
  lo.dtype = rt.dtype;
  lo.headKeyPrefixes = {"score.", "point_head."};
  lo.languageHeadOptional = true;
  LlavaModel llava = LlavaModel::load(base, lo);
  LoraAdapters::load(llava.mutableLanguageModel(), adapterDir, llavaLanguageKeyPrefix(base)).merge();
  return LlavaRewardModel(std::move(llava), heads.tensor("score.weight"), optional("score.bias"),
                          optional("point_head.weight"), optional("point_head.bias"));
}

std::string NeuralRmResult::summary() const {
  std::ostringstream s;
  char buf[256];
  s << "pairs: " << pairStats.pairs << " from " << pairStats.productsWithPairs << " of " << pairStats.products
    << " products (" << pairStats.candidatePairs << " same-product candidates)\n";
  s << "split by product: " << trainPairs << " train pairs (" << trainProducts << " products, " << trainExamples
    << " examples with both orders), " << validationPairs << " held-out pairs (" << validationProducts << " products)\n";
  std::snprintf(buf, sizeof buf, "device %s; %lld steps%s%s, %.1f s\n", device.c_str(), static_cast<long long>(steps),
                resumedFromStep > 0 ? (" (resumed at step " + std::to_string(resumedFromStep) + ")").c_str() : "",
                newHead ? ", new score head" : "", seconds);
  s << buf;
  if (worldSize > 1) {
    std::snprintf(buf, sizeof buf, "data parallel: %d processes, %.1f s in steps, %.1f%% of it in the all-reduce\n",
                  worldSize, trainSeconds, trainSeconds > 0 ? 100 * communicationSeconds / trainSeconds : 0.0);
    s << buf;
  }
  std::snprintf(buf, sizeof buf, "train: accuracy %.1f%% -> %.1f%%, log-loss %.4f -> %.4f\n", 100 * trainBefore.accuracy,
                100 * trainAfter.accuracy, trainBefore.logLoss, trainAfter.logLoss);
  if (!cancelled) s << buf;
  if (validationBefore && validationAfter) {
    std::snprintf(buf, sizeof buf, "held out: accuracy %.1f%% (before %.1f%%), log-loss %.4f (before %.4f)\n",
                  100 * validationAfter->accuracy, 100 * validationBefore->accuracy, validationAfter->logLoss,
                  validationBefore->logLoss);
    s << buf;
  } else if (!cancelled) {
    s << "held out: none (one product with pairs, or --val-fraction 0): accuracy unknown\n";
  }
  if (cancelled) s << "cancelled; checkpoint " << lastCheckpoint.string() << " (continue with --resume)\n";
  if (ctrScale) {
    std::snprintf(buf, sizeof buf, "CTR scale: %.3f log CTR ratio per logit (fitted on the training pairs)\n",
                  *ctrScale);
    s << buf;
  }
  if (!adapterDir.empty()) s << "adapter -> " << adapterDir.string() << "\n";
  if (!mergedDir.empty()) s << "merged reward model -> " << mergedDir.string() << "\n";
  return s.str();
}

std::string NeuralRmResult::metricsJson() const {
  nlohmann::json j;
  j["pairs"] = pairStats.pairs;
  j["trainPairs"] = trainPairs;
  j["validationPairs"] = validationPairs;
  j["trainProducts"] = trainProducts;
  j["validationProducts"] = validationProducts;
  j["trainExamples"] = trainExamples;
  j["trainBefore"] = metricsJsonOf(trainBefore);
  if (!cancelled) j["train"] = metricsJsonOf(trainAfter);
  if (validationBefore) j["validationUntrained"] = metricsJsonOf(*validationBefore);
  if (validationAfter) j["validation"] = metricsJsonOf(*validationAfter);
  j["steps"] = steps;
  j["resumedFromStep"] = resumedFromStep;
  j["cancelled"] = cancelled;
  j["device"] = device;
  j["adapter"] = adapterDir.string();
  j["merged"] = mergedDir.string();
  j["lastCheckpoint"] = lastCheckpoint.string();
  j["seconds"] = seconds;
  j["trainSeconds"] = trainSeconds;
  j["communicationSeconds"] = communicationSeconds;
  j["processes"] = worldSize;
  if (ctrScale) j["ctrScale"] = *ctrScale;
  return j.dump();
}

NeuralRmResult trainNeuralRewardModel(Project& project, const NeuralRmOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (o.steps < 1 || o.batchSize < 1 || o.gradientAccumulation < 1 || o.pairSide < 1 || !(o.learningRate > 0))
    throw std::invalid_argument("train-rm: need steps, batch size, accumulation and pair side >= 1 and lr > 0");
  if (o.modelDir.empty()) throw std::invalid_argument("train-rm: no reward-model folder given");
  std::error_code ec;
  if (!fs::is_directory(o.modelDir, ec))
    throw io::FileError(o.modelDir.string() + ": no such model folder");

  NeuralRmResult result;
  // Pairs first: a project without clicks fails before any model is read.
  const TrainingPairs data = loadTrainingPairs(project, o.rules, o.validationFraction, o.seed);
  const auto& creatives = data.creatives;
  const PairSet& pairSet = data.pairSet;
  const PairSplit& split = data.split;
  result.pairStats = pairSet.stats;
  result.trainPairs = static_cast<int>(split.train.size());
  result.validationPairs = static_cast<int>(split.validation.size());
  result.trainProducts = static_cast<int>(split.trainProducts.size());
  result.validationProducts = static_cast<int>(split.validationProducts.size());
  DataParallel* dp = o.parallel && o.parallel->worldSize() > 1 ? o.parallel : nullptr;
  const bool main = !dp || dp->isMain();
  result.worldSize = dp ? dp->worldSize() : 1;
  result.rank = dp ? dp->rank() : 0;
  // Each rank's products (a rank without training pairs is refused before any model is read).
  const std::vector<char> localTrain = localPairs(split.train, dp, true);
  const std::vector<char> localValidation = localPairs(split.validation, dp, false);

  // Model, head, tokenizer, question.
  const auto instructions =
      LlavaInstructions::load(o.instructionsFile.empty() ? defaultLlavaInstructionsFile() : o.instructionsFile);
  const fs::path tokenizerDir = o.tokenizerDir.empty() ? o.modelDir : o.tokenizerDir;
  const auto tokenizer = SentencePieceTokenizer::load(tokenizerDir);
  const LlavaRuntime rt = trainingRuntime(o.device, o.dtype);
  result.device = rt.device.str() + " " + dtypeName(rt.dtype);
  // The base model's files, read once: checked against a bundle's, compared between the ranks,
  // recorded with the adapter.
  const std::string baseFingerprint = modelFolderFingerprint(o.modelDir);
  if (!o.expectedBaseFingerprint.empty() && o.expectedBaseFingerprint != baseFingerprint)
    throw std::invalid_argument(o.modelDir.string() +
                                " is not the base model these options were made for (its fingerprint is " +
                                baseFingerprint + ", expected " + o.expectedBaseFingerprint +
                                "): give the same model folder, with the same files, as the studio trained from");
  if (dp) {
    // Same options, model files and pairs everywhere, or no rank starts (a mismatch would train
    // on silently different data).
    RunFingerprint fp;
    fp.add(nlohmann::json{
        {"rules", {o.rules.minImpressions, o.rules.ratioMin, o.rules.ratioMax, o.rules.maxPairsPerProduct}},
        {"split", {o.validationFraction, o.seed, o.pairSide}},
        {"lora", {o.lora.rank, o.lora.alpha, o.lora.dropout, o.lora.targetModules}},
        {"steps",
         {o.steps, o.batchSize, o.gradientAccumulation, o.learningRate, o.weightDecay, o.warmupSteps, o.maxGradNorm,
          o.pointWeight}},
        {"head", {o.newHead, o.pointHead}},
        {"output", {o.name, o.checkpointEvery, o.resume, o.evalEvery, o.merge}},
        {"device", std::string(rt.device.is_cuda() ? "cuda " : "cpu ") + dtypeName(rt.dtype)}}
               .dump());
    fp.add(baseFingerprint);
    if (tokenizerDir != o.modelDir) fp.addModelFolder(tokenizerDir);
    for (const auto* pairs : {&split.train, &split.validation})
      for (const auto& p : *pairs) {
        const auto& w = creatives[static_cast<std::size_t>(p.winner)];
        const auto& l = creatives[static_cast<std::size_t>(p.loser)];
        fp.add(p.productKey + "|" + w.imagePath + "|" + l.imagePath + "|" + std::to_string(w.ctr()) + "|" +
               std::to_string(l.ctr()));
      }
    dp->requireSame(fp.hex(), "options, model files or click pairs");
  }
  const auto ckpt = io::Checkpoint::open(o.modelDir);
  const bool hasHead = ckpt.contains("score.weight");
  if (!hasHead && !o.newHead)
    throw io::FormatError(o.modelDir.string() +
                          ": not a reward-model folder (its checkpoint has no score.weight head); pass --new-head to "
                          "start a reward model from this LLaVA");
  LlavaLoadOptions lo;
  lo.device = rt.device;
  lo.dtype = rt.dtype;
  lo.visionTowerDir = llavaVisionTowerFor(o.modelDir, o.visionTowerDir);
  lo.headKeyPrefixes = {"score.", "point_head."};
  lo.languageHeadOptional = true;
  LlavaModel llava = LlavaModel::load(o.modelDir, lo);
  LlamaModel& lm = llava.mutableLanguageModel();
  checkTokenizerFitsModel(tokenizer, lm.config().vocabSize, llava.imageTokenIndex(), o.modelDir);
  const int64_t hidden = lm.config().hiddenSize;
  const c10::ScalarType headType = at::promote_types(lm.dtype(), at::kFloat);
  RewardHeads heads;
  if (hasHead) {
    // Fine-tuning starts from the checkpoint's head (a missing bias starts at zero).
    auto take = [&](const std::string& name, std::vector<int64_t> shape) {
      if (!ckpt.contains(name)) return at::zeros(shape, at::TensorOptions().dtype(headType).device(rt.device));
      const at::Tensor t = ckpt.tensor(name);
      if (t.sizes().vec() != shape) throw io::FormatError(o.modelDir.string() + ": " + name + " has the wrong shape");
      return t.to(rt.device, headType).clone();
    };
    heads.scoreWeight = take("score.weight", {2, hidden}).set_requires_grad(true);
    heads.scoreBias = take("score.bias", {2}).set_requires_grad(true);
    if (ckpt.contains("point_head.weight")) {
      heads.pointWeight = take("point_head.weight", {2, hidden}).set_requires_grad(true);
      heads.pointBias = take("point_head.bias", {2}).set_requires_grad(true);
    }
  } else {
    heads = RewardHeads::create(hidden, o.pointHead, o.seed, rt.device, headType);
    result.newHead = true;
  }
  const bool pointTargets = heads.pointWeight.defined();

  // Examples: both orders of every pair, embeddings computed once (the tower is frozen).
  std::map<std::string, std::string> titles;
  for (const auto& p : project.store().clickProducts()) titles[p.key] = p.title.empty() ? p.key : p.title;
  std::map<std::string, at::Tensor> idsByTitle;
  ClipPreprocessOptions pre;
  pre.size = static_cast<int>(llava.imageSize());
  std::map<int, cv::Mat> images;
  auto image = [&](int index) -> const cv::Mat& {
    auto it = images.find(index);
    if (it == images.end())
      it = images.emplace(index, loadCreativeImage(project, creatives[static_cast<std::size_t>(index)].imagePath)).first;
    return it->second;
  };
  const int totalPairs = result.trainPairs + result.validationPairs;
  int built = 0;
  auto makeExamples = [&](const std::vector<ClickPair>& pairs, const std::vector<char>& local) {
    std::vector<RewardExample> out;
    for (std::size_t pi = 0; pi < pairs.size(); ++pi) {
      const auto& p = pairs[pi];
      if (!local[pi]) {  // another rank's pair: its place only (labels, no embeddings)
        out.resize(out.size() + 2);
        out[out.size() - 1].label = 1;
        continue;
      }
      const auto t = titles.find(p.productKey);
      const std::string title = t == titles.end() || t->second.empty() ? p.productKey : t->second;
      auto ids = idsByTitle.find(title);
      if (ids == idsByTitle.end()) {
        const std::string prompt = rewardModelPrompt(instructions.question(title.empty() ? "product" : title));
        ids = idsByTitle.emplace(title, at::tensor(tokenizeWithImage(tokenizer, prompt, llava.imageTokenIndex()), at::kLong))
                  .first;
      }
      const cv::Mat& w = image(p.winner);
      const cv::Mat& l = image(p.loser);
      const at::Tensor pixels =
          clipPreprocessBatch({sideBySide(w, l, o.pairSide), sideBySide(l, w, o.pairSide)}, pre).to(rt.device);
      const at::Tensor features = llava.encodeImages(pixels);
      const double ctrW = creatives[static_cast<std::size_t>(p.winner)].ctr();
      const double ctrL = creatives[static_cast<std::size_t>(p.loser)].ctr();
      for (int order = 0; order < 2; ++order) {
        RewardExample e;
        // clone() outside inference mode: the splice is an inference tensor, training needs a normal one.
        e.embeds = llava.spliceEmbeddings(ids->second, features[order]).clone();
        e.label = order;  // order 0: winner on the left
        if (pointTargets) {
          e.ctrLeft = order == 0 ? ctrW : ctrL;
          e.ctrRight = order == 0 ? ctrL : ctrW;
        }
        out.push_back(std::move(e));
      }
      ++built;
      if (o.progress) {
        RmProgress pr;
        pr.phase = "features";
        pr.step = built;
        pr.maxSteps = totalPairs;
        pr.elapsed = elapsed();
        o.progress(pr);
      }
      if (images.size() > 64) images.clear();  // bounded cache: pairs come product by product
    }
    return out;
  };
  const std::vector<RewardExample> trainExamples = makeExamples(split.train, localTrain);
  const std::vector<RewardExample> valExamples = makeExamples(split.validation, localValidation);
  result.trainExamples = static_cast<int>(trainExamples.size());

  // Names, folders, run record, log.
  const std::string name = o.name.empty() ? modelFolderName(o.modelDir) + "-ft" : o.name;
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    throw std::invalid_argument("train-rm: the output name must be a plain folder name");
  result.checkpointDir = project.absolute("checkpoints/" + name);
  fs::path resumeFrom;
  if (o.resume && main) {
    const auto latest = latestCheckpoint(result.checkpointDir);
    if (!latest)
      throw std::invalid_argument("train-rm --resume: no checkpoint of '" + name + "' under " +
                                  result.checkpointDir.string());
    resumeFrom = *latest;  // with data parallelism only rank 0 reads it (the others receive it)
  } else if (main) {
    fs::remove_all(result.checkpointDir);  // a fresh run: old checkpoints of this name would confuse --resume
  }
  const std::string prefix = llavaLanguageKeyPrefix(o.modelDir);
  nlohmann::json config{{"model", fs::absolute(o.modelDir).string()},
                        {"name", name},
                        {"device", result.device},
                        {"minImpressions", o.rules.minImpressions},
                        {"ratioMin", o.rules.ratioMin},
                        {"ratioMax", o.rules.ratioMax},
                        {"maxPairsPerProduct", o.rules.maxPairsPerProduct},
                        {"validationFraction", o.validationFraction},
                        {"seed", o.seed},
                        {"pairSide", o.pairSide},
                        {"loraRank", o.lora.rank},
                        {"loraAlpha", o.lora.alpha},
                        {"loraDropout", o.lora.dropout},
                        {"steps", o.steps},
                        {"batchSize", o.batchSize},
                        {"gradientAccumulation", o.gradientAccumulation},
                        {"learningRate", o.learningRate},
                        {"warmupSteps", o.warmupSteps},
                        {"pointHead", pointTargets},
                        {"newHead", result.newHead},
                        {"resume", o.resume},
                        {"processes", result.worldSize}};
  // The run record and the log are rank 0's.
  std::optional<JsonLinesLog> logFile;
  if (main) {
    const StartedTrainingRun started = startTrainingRun(project, "reward-model", config.dump(), o.logFile, "train-rm");
    result.runId = started.runId;
    result.logFile = started.logFile;
    logFile.emplace(result.logFile);
  }
  auto log = [&](const nlohmann::json& line) {
    if (logFile) logFile->write(line);
  };

  try {
    LoraConfig lc;
    lc.rank = o.lora.rank;
    lc.alpha = o.lora.alpha;
    lc.dropout = o.lora.dropout;
    lc.targetModules = o.lora.targetModules;
    lc.baseModel = fs::absolute(o.modelDir).string();
    LoraAdapters lora(lm, lc, o.seed);  // B = 0: the model is still the base model

    const int64_t evalBatch = std::max<int64_t>(o.batchSize, 4);
    result.trainBefore = pairMetrics(lm, heads, trainExamples, evalBatch, dp);
    if (!valExamples.empty()) result.validationBefore = pairMetrics(lm, heads, valExamples, evalBatch, dp);
    log({{"event", "start"},
         {"run", result.runId},
         {"config", config},
         {"pairs", pairSet.stats.pairs},
         {"trainPairs", result.trainPairs},
         {"validationPairs", result.validationPairs},
         {"trainProducts", split.trainProducts},
         {"validationProducts", split.validationProducts},
         {"untrained", result.validationBefore ? metricsJsonOf(*result.validationBefore) : nlohmann::json()},
         {"elapsed", elapsed()}});

    RewardJobOptions jo;
    jo.pointWeight = o.pointWeight;
    jo.checkpointLayers = o.gradientCheckpointing;
    TrainingJob job = rewardModelJob(lm, lora, heads, trainExamples, o.batchSize, jo);
    if (dp)
      job.isLocal = [&localTrain](int64_t example) { return localTrain[static_cast<std::size_t>(example / 2)] != 0; };
    const int64_t perEpoch = trainingSteps(job, o.gradientAccumulation);
    job.epochs = (o.steps + perEpoch - 1) / perEpoch;
    TrainerOptions to;
    to.learningRate = o.learningRate;
    to.weightDecay = o.weightDecay;
    to.warmupSteps = o.warmupSteps;
    to.totalSteps = o.steps;
    to.gradientAccumulation = o.gradientAccumulation;
    to.maxGradNorm = o.maxGradNorm;
    to.seed = o.seed;
    auto parameters = lora.namedParameters(prefix);
    for (const auto& p : heads.namedParameters()) parameters.push_back(p);
    Trainer trainer(parameters, to);

    TrainingRunOptions ro;
    ro.checkpointDir = result.checkpointDir;
    ro.checkpointEvery = o.checkpointEvery;
    ro.cancel = o.cancel;
    ro.stopAfterSteps = o.steps;
    ro.resumeFrom = resumeFrom;
    ro.parallel = dp;
    ro.onStep = [&](const StepReport& r) {
      nlohmann::json line{{"event", "step"},      {"step", r.step},         {"loss", r.loss},
                          {"lr", r.learningRate}, {"gradNorm", r.gradNorm}, {"tokensPerSecond", r.tokensPerSecond}};
      RmProgress pr;
      pr.phase = "train";
      pr.step = static_cast<int>(r.step);
      pr.maxSteps = static_cast<int>(o.steps);
      pr.trainLoss = r.loss;
      if (o.evalEvery > 0 && r.step % o.evalEvery == 0 && !valExamples.empty()) {
        const PairMetrics vm = pairMetrics(lm, heads, valExamples, evalBatch, dp);
        pr.valLoss = vm.logLoss;
        pr.valAccuracy = vm.accuracy;
        line["valLoss"] = vm.logLoss;
        line["valAccuracy"] = vm.accuracy;
      }
      pr.elapsed = elapsed();
      line["elapsed"] = pr.elapsed;
      log(line);
      result.stepLosses.push_back(r.loss);
      if (o.progress) o.progress(pr);
    };
    if (!resumeFrom.empty()) {
      const auto state = io::readJsonFile(resumeFrom / "trainer_state.json");
      result.resumedFromStep = state.value("step", int64_t{0});
      log({{"event", "resume"}, {"checkpoint", resumeFrom.string()}, {"step", result.resumedFromStep}});
    }
    const auto trainStart = std::chrono::steady_clock::now();
    const double commBefore = dp ? dp->communicationSeconds() : 0.0;
    const TrainingRunResult tr = runTraining(trainer, job, ro);
    result.trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - trainStart).count();
    result.communicationSeconds = dp ? dp->communicationSeconds() - commBefore : 0.0;
    result.steps = tr.steps;
    result.cancelled = tr.cancelled;
    result.lastCheckpoint = tr.lastCheckpoint;

    if (result.cancelled) {
      result.seconds = elapsed();
      if (!main) return result;
      log({{"event", "cancelled"},
           {"step", tr.steps},
           {"checkpoint", tr.lastCheckpoint.string()},
           {"elapsed", result.seconds}});
      project.store().finishTrainingRun(result.runId, "cancelled", result.metricsJson());
      return result;
    }
    const std::vector<double> trainWins = pairWinProbabilities(lm, heads, trainExamples, evalBatch, dp);
    result.trainAfter = metricsOf(trainWins);
    // How much CTR one logit is worth on this team's pairs, so the readout's lifts are in CTR terms.
    {
      std::vector<double> logits, logRatios;
      for (std::size_t k = 0; k < trainWins.size() && k < split.train.size(); ++k) {
        const double w = std::clamp(trainWins[k], 1e-9, 1.0 - 1e-9);
        logits.push_back(std::log(w / (1.0 - w)));
        logRatios.push_back(std::log(split.train[k].ratio));
      }
      result.ctrScale = fitCtrScale(logits, logRatios);
    }
    if (!valExamples.empty()) result.validationAfter = pairMetrics(lm, heads, valExamples, evalBatch, dp);
    if (!main) {  // rank 0 writes the models
      result.seconds = elapsed();
      return result;
    }

    // The adapter folder (PEFT files + heads + what it was trained from), then the merged folder.
    const std::string rel = "models/" + name;
    result.adapterDir = project.absolute(rel);
    fs::create_directories(result.adapterDir);
    lora.save(result.adapterDir, prefix);
    heads.save(result.adapterDir / "reward_heads.safetensors");
    result.seconds = elapsed();
    nlohmann::json info{{"format", "caig-reward-adapter"},
                        {"version", 1},
                        {"baseModel", fs::absolute(o.modelDir).string()},
                        {"baseFingerprint", baseFingerprint},
                        {"pairSide", o.pairSide},
                        {"trainingRun", result.runId},
                        {"heldOutSplit", "by product"},
                        {"ctrScale", result.ctrScale ? nlohmann::json(*result.ctrScale) : nlohmann::json()},
                        {"metrics", nlohmann::json::parse(result.metricsJson())}};
    io::writeFileAtomically(result.adapterDir / "reward_model.json", info.dump(2) + "\n");
    std::vector<std::pair<std::string, at::Tensor>> headTensors;
    for (const auto& [n, t] : heads.namedParameters()) headTensors.emplace_back(n, t.detach().to(at::kFloat));
    if (o.merge) {
      result.mergedDir = result.adapterDir / "merged";
      saveMergedLlavaFolder(o.modelDir, lm, lora, result.mergedDir, headTensors, tokenizerDir,
                            llavaVisionTowerFor(o.modelDir, o.visionTowerDir));
      if (result.ctrScale) writeCtrCalibration(result.mergedDir, *result.ctrScale, result.trainPairs, result.runId);
    }
    result.seconds = elapsed();
    project.store().transaction([&] {
      project.store().registerModel({0, "adapter", name, rel, "fp32"});
      if (o.merge) {
        project.store().registerModel({0, "reward", name + "-merged", rel + "/merged", dtypeName(rt.dtype)});
        project.store().setSetting("ranker.neural.active", rel + "/merged");
      }
    });
    project.store().finishTrainingRun(result.runId, "finished", result.metricsJson());
    log({{"event", "end"}, {"metrics", nlohmann::json::parse(result.metricsJson())}, {"elapsed", elapsed()}});
  } catch (const std::exception& e) {
    if (logFile) recordFailedTrainingRun(project, result.runId, *logFile, e.what(), elapsed());
    throw;
  }
  return result;
}

}  // namespace caig
