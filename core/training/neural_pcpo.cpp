#include "core/training/neural_pcpo.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/base/splitmix.h"
#include "core/generation/composition.h"
#include "core/generation/generation_job.h"
#include "core/generation/generator_registry.h"
#include "core/image/image_io.h"
#include "core/llava/clip_preprocess.h"
#include "core/llava/llava_conversation.h"
#include "core/llava/llava_engine_common.h"
#include "core/llava/llava_prompt_writer.h"
#include "core/project/demo_products.h"
#include "core/project/project.h"
#include "core/prompts/prompt_writer.h"
#include "core/ranking/ctr_ranker.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "core/training/distributed.h"
#include "models/data_parallel.h"
#include "models/io/errors.h"
#include "models/llava.h"
#include "models/lora.h"
#include "models/preference_losses.h"
#include "models/preference_training.h"
#include "models/trainer.h"

namespace fs = std::filesystem;

namespace caig {
namespace {


// The prompt model's view of a shot: BGR, transparent pixels over white (as the prompt writer).
cv::Mat overWhite(const cv::Mat& image) {
  if (image.channels() == 3) return image;
  cv::Mat bgr;
  if (image.channels() == 1) {
    cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
    return bgr;
  }
  cv::Mat out(image.size(), CV_8UC3, cv::Scalar::all(255)), alpha;
  cv::extractChannel(image, alpha, 3);
  cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  cv::Mat a, a3, b, w;
  alpha.convertTo(a, CV_32F, 1.0 / 255.0);
  cv::merge(std::vector<cv::Mat>{a, a, a}, a3);
  bgr.convertTo(b, CV_32FC3);
  out.convertTo(w, CV_32FC3);
  cv::Mat blended = b.mul(a3) + w.mul(cv::Scalar::all(1.0) - a3);
  blended.convertTo(out, CV_8UC3);
  return out;
}

LlavaRuntime trainingRuntime(const std::string& device, const std::string& dtype) {
  LlavaRuntime rt = resolveLlavaRuntime(device, dtype);
  if (rt.int8Weights)
    throw std::invalid_argument("dtype int8 is for running a model, not training it: use auto, fp32 or bf16");
  if (dtype == "auto" && rt.device.is_cuda()) rt.dtype = c10::kBFloat16;
  return rt;
}

double meanOf(const at::Tensor& t) { return t.numel() ? t.to(at::kDouble).mean().item<double>() : 0.0; }

// One product's two sampled answers and the ranker's verdict, as its rank hands it to the others.
struct SampledPair {
  int k = 0;             // position in the round's product order
  bool skipped = false;  // the two answers were the same
  std::vector<int64_t> promptIds, chosen, rejected;
  std::string chosenText, rejectedText;
  double pChosen = 0.5;
};

nlohmann::json toJson(const SampledPair& s) {
  return {{"k", s.k},
          {"skipped", s.skipped},
          {"prompt", s.promptIds},
          {"chosen", s.chosen},
          {"rejected", s.rejected},
          {"chosenText", s.chosenText},
          {"rejectedText", s.rejectedText},
          {"p", s.pChosen}};
}

SampledPair sampledFromJson(const nlohmann::json& j) {
  SampledPair s;
  s.k = j.at("k").get<int>();
  s.skipped = j.at("skipped").get<bool>();
  s.promptIds = j.at("prompt").get<std::vector<int64_t>>();
  s.chosen = j.at("chosen").get<std::vector<int64_t>>();
  s.rejected = j.at("rejected").get<std::vector<int64_t>>();
  s.chosenText = j.at("chosenText").get<std::string>();
  s.rejectedText = j.at("rejectedText").get<std::string>();
  s.pChosen = j.at("p").get<double>();
  return s;
}

}  // namespace

cv::Mat maskProductPatches(const cv::Mat& bgr, std::uint64_t seed, double fraction, int patch) {
  if (bgr.empty() || bgr.depth() != CV_8U) throw std::invalid_argument("maskProductPatches: need an 8-bit image");
  cv::Mat src = bgr.isContinuous() ? bgr : bgr.clone();
  const at::Tensor hwc = at::from_blob(src.data, {src.rows, src.cols, src.channels()}, at::kByte);
  const at::Tensor masked =
      maskImagePatches(hwc.permute({2, 0, 1}), seed, fraction, patch).permute({1, 2, 0}).contiguous();
  cv::Mat out(src.rows, src.cols, src.type());
  std::memcpy(out.data, masked.data_ptr(), out.total() * out.elemSize());
  return out;
}

std::string NeuralPcpoResult::summary() const {
  std::ostringstream s;
  char buf[256];
  s << "PCPO on " << productSource << " with ranker " << rankerId << " (" << device << ")\n";
  for (const auto& r : rounds) {
    std::snprintf(buf, sizeof buf,
                  "round %d: %zu records (%d skipped: same answer twice; x~ %d masked image, %d other question), "
                  "loss %.4f, reward margin %.4f -> %.4f, agreement %.0f%%, ranker P(chosen) %.3f\n",
                  r.round, r.records.size(), r.skipped, r.maskedImage, r.otherText, r.loss, r.marginBefore,
                  r.marginAfter, 100 * r.agreement, r.meanPChosen);
    s << buf;
    if (!r.modelDir.empty()) s << "  adapter " << r.adapterDir.string() << "\n  model " << r.modelDir.string() << "\n";
  }
  if (cancelled) s << "cancelled (finished rounds are kept)\n";
  std::snprintf(buf, sizeof buf, "%zu comparisons in %.1f s\n", comparisons.size(), seconds);
  s << buf;
  return s.str();
}

NeuralPcpoResult runNeuralPcpo(Project& project, CtrRanker& ranker, const NeuralPcpoOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (o.rounds < 1 || o.productsPerRound < 1 || o.maxNewTokens < 1 || o.batchSize < 1 || o.gradientAccumulation < 1 ||
      !(o.learningRate > 0) || !(o.temperature >= 0))
    throw std::invalid_argument("pcpo: need rounds, products, max new tokens, batch >= 1 and lr > 0");
  if (o.modelDir.empty()) throw std::invalid_argument("pcpo: no prompt model folder given (--model)");
  std::error_code ec;
  if (!fs::is_directory(o.modelDir, ec)) throw io::FileError(o.modelDir.string() + ": no such model folder");

  NeuralPcpoResult result;
  const auto instructions =
      LlavaInstructions::load(o.instructionsFile.empty() ? defaultLlavaInstructionsFile() : o.instructionsFile);
  // The tokenizer first: it is the file most often missing from a downloaded folder.
  const fs::path tokenizerDir = o.tokenizerDir.empty() ? o.modelDir : o.tokenizerDir;
  const auto tokenizer = SentencePieceTokenizer::load(tokenizerDir);
  const LlavaRuntime rt = trainingRuntime(o.device, o.dtype);
  result.device = rt.device.str();
  LlavaLoadOptions lo;
  lo.device = rt.device;
  lo.dtype = rt.dtype;
  lo.visionTowerDir = llavaVisionTowerFor(o.modelDir, o.visionTowerDir);
  LlavaModel llava = LlavaModel::load(o.modelDir, lo);
  LlamaModel& lm = llava.mutableLanguageModel();
  checkTokenizerFitsModel(tokenizer, lm.config().vocabSize, llava.imageTokenIndex(), o.modelDir);
  const std::string prefix = llavaLanguageKeyPrefix(o.modelDir);

  // Products: the project's with a cutout, else the bundled demo products (as the built-in loop).
  const cv::Size canvas = adPreset(o.preset).size;
  std::vector<PcpoProduct> products;
  auto addProduct = [&](const std::string& title, const std::string& category, const cv::Mat& shot,
                        const cv::Mat& alpha) {
    const ProductShot prepared = prepareProduct(shot, alpha);
    const Layout layout = layoutProduct(prepared, canvas);
    products.push_back({title, category, overWhite(shot), alpha, layout.product, layout.alpha});
  };
  for (const auto& p : project.store().products()) {
    cv::Mat alpha = project.cutout(p.id);
    if (alpha.empty()) continue;
    addProduct(p.title, p.category, loadImage(project.absolute(p.imagePath)), alpha);
  }
  result.productSource = "project";
  if (products.empty()) {
    for (auto& d : renderDemoProducts(o.demoShotSize)) addProduct(d.title, d.category, d.shot, d.alpha);
    result.productSource = "demo products (the project has none with a cutout)";
  }
  result.rankerId = ranker.id();
  GeneratorCache ownCache;
  GenerationEngines renderers;
  renderers.generators = o.renderCache ? o.renderCache : &ownCache;
  auto render = [&](const std::string& prompt, const PcpoProduct& p, std::uint64_t seed) {
    return renderPromptAd(renderers, o.renderEngine, o.renderSettings, p.shot, p.alpha,
                          p.title.empty() ? "product" : p.title, p.category, prompt, seed, o.preset);
  };
  const std::string generator = o.renderEngine == "builtin"
                                    ? o.renderEngine
                                    : o.renderEngine + ":" +
                                          renderers.generators->get(generatorKind(o.renderEngine),
                                                                    completeSettings(generatorKind(o.renderEngine),
                                                                                     o.renderSettings))
                                              .modelId();

  DataParallel* dp = o.parallel && o.parallel->worldSize() > 1 ? o.parallel : nullptr;
  const bool main = !dp || dp->isMain();
  const int world = dp ? dp->worldSize() : 1;
  const int me = dp ? dp->rank() : 0;
  const int perRound = std::min<int>(o.productsPerRound, static_cast<int>(products.size()));
  if (dp && perRound < world)
    throw std::invalid_argument("pcpo: " + std::to_string(world) + " workers but " + std::to_string(perRound) +
                                " product(s) per round: every worker needs a product of its own, so use at most " +
                                std::to_string(perRound) + " worker(s) or more --products");
  const std::string name = o.name;  // resolved below, once the run id is known
  const nlohmann::json config{{"engine", "llava"},
                              {"model", fs::absolute(o.modelDir).string()},
                              {"rounds", o.rounds},
                              {"productsPerRound", o.productsPerRound},
                              {"temperature", o.temperature},
                              {"topP", o.topP},
                              {"maxNewTokens", o.maxNewTokens},
                              {"beta", o.beta},
                              {"betaPc", o.betaPc},
                              {"pcpoWeight", o.pcpoWeight},
                              {"maskedShare", o.maskedShare},
                              {"maskedFraction", o.maskedFraction},
                              {"loraRank", o.lora.rank},
                              {"loraAlpha", o.lora.alpha},
                              {"loraDropout", o.lora.dropout},
                              {"learningRate", o.learningRate},
                              {"batchSize", o.batchSize},
                              {"seed", o.seed},
                              {"preset", o.preset},
                              {"generator", generator},
                              {"device", result.device},
                              {"ranker", result.rankerId},
                              {"processes", world}};
  if (dp) {
    // Same options, models and products everywhere, or no rank starts.
    RunFingerprint fp;
    nlohmann::json same = config;
    same["device"] = rt.device.is_cuda() ? "cuda" : "cpu";  // each rank has its own GPU
    fp.add(same.dump());
    fp.add(nlohmann::json{{"lora", o.lora.targetModules},
                          {"accumulation", o.gradientAccumulation},
                          {"warmup", o.warmupSteps},
                          {"mask", {o.maskPatch, o.maskedFraction, o.maskedShare}},
                          {"render", o.renderSettings},
                          {"name", o.name}}
               .dump());
    fp.addModelFolder(o.modelDir);
    if (tokenizerDir != o.modelDir) fp.addModelFolder(tokenizerDir);
    for (const auto& p : products)
      fp.add(p.title + "|" + p.category + "|" + std::to_string(p.shot.cols) + "x" + std::to_string(p.shot.rows) + "|" +
             std::to_string(cv::sum(p.shot)[0]) + "|" + std::to_string(cv::sum(p.alpha)[0]));
    dp->requireSame(fp.hex(), "options, models or products");
  }
  // The run record, its name and the log are rank 0's (the others learn the run id).
  if (main) {
    const StartedTrainingRun started = startTrainingRun(project, "pcpo", config.dump(), o.logFile, "pcpo");
    result.runId = started.runId;
    result.logFile = started.logFile;
  }
  if (dp) result.runId = std::stoll(dp->allGather(std::to_string(result.runId)).front());
  const std::string outName =
      name.empty() ? modelFolderName(o.modelDir) + "-pcpo-" + std::to_string(result.runId) : name;
  if (outName.find('/') != std::string::npos || outName == "." || outName == "..")
    throw std::invalid_argument("pcpo: the output name must be a plain folder name");
  result.outputDir = project.absolute("models/" + outName);
  std::optional<JsonLinesLog> logFile;
  if (main) logFile.emplace(result.logFile);
  auto log = [&](const nlohmann::json& line) {
    if (logFile) logFile->write(line);
  };
  log({{"event", "start"},
       {"run", result.runId},
       {"config", config},
       {"products", products.size()},
       {"productSource", result.productSource},
       {"output", result.outputDir.string()}});

  try {
    LoraConfig lc;
    lc.rank = o.lora.rank;
    lc.alpha = o.lora.alpha;
    lc.dropout = o.lora.dropout;
    lc.targetModules = o.lora.targetModules;
    lc.baseModel = fs::absolute(o.modelDir).string();
    LoraAdapters lora(lm, lc, o.seed);  // one adapter for all rounds (see the header)

    ClipPreprocessOptions pre;
    pre.size = static_cast<int>(llava.imageSize());
    SamplingOptions so;
    so.maxNewTokens = o.maxNewTokens;
    so.temperature = o.temperature;
    so.topP = o.topP;
    if (tokenizer.eosId() >= 0) so.stopTokenIds.push_back(tokenizer.eosId());
    if (lm.config().eosTokenId >= 0 && lm.config().eosTokenId != tokenizer.eosId())
      so.stopTokenIds.push_back(lm.config().eosTokenId);
    const int64_t fallbackEnd = so.stopTokenIds.empty() ? 0 : so.stopTokenIds.front();
    auto isStop = [&so](int64_t t) { return std::find(so.stopTokenIds.begin(), so.stopTokenIds.end(), t) != so.stopTokenIds.end(); };

    SplitMix64 rng{o.seed * 0xD1B54A32D192ED03ull + 5};
    int done = 0;
    for (int round = 1; round <= o.rounds && !result.cancelled; ++round) {
      PcpoRound info;
      info.round = round;
      std::vector<std::size_t> order(products.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.index(i)]);

      // 1. Two answers per product by the current policy, both rendered, the ranker picks. With
      // data parallelism, product k of the round is rank k % world's (its images, renders and
      // records stay there); every rank draws every product's instruction and seed, so the
      // generator stays in step and a product's answers do not depend on the world size.
      std::vector<SampledPair> mine;
      std::map<int, at::Tensor> localFeatures;  // k -> the product image's features
      for (int k = 0; k < perRound; ++k) {
        const PcpoProduct& product = products[order[static_cast<std::size_t>(k)]];
        const std::string title = product.title.empty() ? "product" : product.title;
        const std::string instruction =
            instructions.instruction(rng.index(instructions.instructions.size()), title);
        const std::uint64_t sampleSeed = rng.next();
        if (k % world != me) continue;
        if (o.cancel && o.cancel->load()) {
          result.cancelled = true;
          break;
        }
        SampledPair sp;
        sp.k = k;
        sp.promptIds =
            tokenizeWithImage(tokenizer, llavaV1ImagePrompt(instruction, instructions.system), llava.imageTokenIndex());
        const at::Tensor idTensor = at::tensor(sp.promptIds, at::kLong);
        const at::Tensor pixels = clipPreprocess(product.shot, pre).to(rt.device);
        so.seed = sampleSeed;
        const GenerationResult g = llava.generate(idTensor, pixels, 2, so, {}, o.cancel);
        if (g.cancelled) {
          result.cancelled = true;
          break;
        }
        std::vector<std::vector<int64_t>> answers = g.tokens;
        std::vector<std::string> texts;
        for (auto& a : answers) {
          std::vector<int64_t> text = a;
          if (!text.empty() && isStop(text.back())) text.pop_back();
          texts.push_back(cleanGeneratedPrompt(tokenizer.decode(text)));
          if (a.empty()) a.push_back(fallbackEnd);  // an empty answer is the end token alone
        }
        ++done;
        if (o.progress) o.progress(done, o.rounds * ((perRound - me + world - 1) / world));
        if (answers[0] == answers[1]) {
          sp.skipped = true;
          mine.push_back(std::move(sp));
          continue;
        }
        // Render j of product k in round r has seed seed + 2 ((r - 1) perRound + k) + j.
        const std::uint64_t renderSeed =
            o.seed + 2 * (static_cast<std::uint64_t>(round - 1) * static_cast<std::uint64_t>(perRound) +
                          static_cast<std::uint64_t>(k));
        auto creative = [&](const std::string& text, std::uint64_t seed) {
          cv::Mat image = render(text, product, seed);
          return Creative{image, image.size() == product.canvasAlpha.size() ? product.canvasAlpha : cv::Mat()};
        };
        const Creative a = creative(texts[0], renderSeed), b = creative(texts[1], renderSeed + 1);
        const double pA = ranker.winProbability(a, b, {product.title, product.category});
        const int c = pA >= 0.5 ? 0 : 1;
        sp.pChosen = c == 0 ? pA : 1.0 - pA;
        sp.chosen = answers[static_cast<std::size_t>(c)];
        sp.rejected = answers[static_cast<std::size_t>(1 - c)];
        sp.chosenText = texts[static_cast<std::size_t>(c)];
        sp.rejectedText = texts[static_cast<std::size_t>(1 - c)];
        localFeatures[k] = llava.encodeImages(pixels)[0];
        mine.push_back(std::move(sp));
      }
      if (dp) result.cancelled = dp->anyTrue(result.cancelled);  // every rank stops at the same place
      if (result.cancelled) break;
      std::vector<SampledPair> sampled = mine;
      if (dp) {  // every rank learns every product's answers (ids and texts: small)
        nlohmann::json list = nlohmann::json::array();
        for (const auto& sp : mine) list.push_back(toJson(sp));
        sampled.clear();
        for (const auto& text : dp->allGather(list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)))
          for (const auto& j : nlohmann::json::parse(text)) sampled.push_back(sampledFromJson(j));
        std::sort(sampled.begin(), sampled.end(), [](const SampledPair& x, const SampledPair& y) { return x.k < y.k; });
      }

      // The round's records in product order; a rank holds the tensors of its own only.
      std::vector<PreferenceRecord> records;
      std::vector<at::Tensor> features;  // per record: this product's image features (here only)
      std::vector<char> local;
      std::vector<const PcpoProduct*> recordProducts;
      double pSum = 0;
      for (const auto& sp : sampled) {
        const PcpoProduct& product = products[order[static_cast<std::size_t>(sp.k)]];
        if (sp.skipped) {
          ++info.skipped;
          log({{"event", "comparison"}, {"round", round}, {"product", product.title}, {"skipped", "same answer"}});
          continue;
        }
        const bool here = sp.k % world == me;
        PreferenceRecord r;
        at::Tensor f;
        if (here) {
          f = localFeatures.at(sp.k);
          // clone(): a normal tensor (the splice is an inference one)
          r.prompt = llava.spliceEmbeddings(at::tensor(sp.promptIds, at::kLong), f).clone();
          r.chosen = at::tensor(sp.chosen, at::kLong).to(rt.device);
          r.rejected = at::tensor(sp.rejected, at::kLong).to(rt.device);
        }
        records.push_back(r);
        features.push_back(f);
        local.push_back(here ? 1 : 0);
        recordProducts.push_back(&product);
        pSum += sp.pChosen;
        PcpoRecordInfo ri;
        ri.product = product.title;
        ri.promptIds = sp.promptIds;
        ri.chosen = sp.chosen;
        ri.rejected = sp.rejected;
        info.records.push_back(std::move(ri));
        result.comparisons.push_back({round, product.title, sp.chosenText, sp.rejectedText, sp.pChosen});
        log({{"event", "comparison"},
             {"round", round},
             {"product", product.title},
             {"chosen", sp.chosenText},
             {"rejected", sp.rejectedText},
             {"pChosenWins", sp.pChosen}});
      }
      if (records.empty()) {
        log({{"event", "round"}, {"round", round}, {"records", 0}, {"skipped", info.skipped}, {"elapsed", elapsed()}});
        result.rounds.push_back(std::move(info));
        continue;
      }

      // 2. The corrupted inputs x~ of PCPO (chosen alike on every rank; embedded where the record is).
      const auto n = static_cast<int64_t>(records.size());
      const std::uint64_t cseed = rng.next();
      const auto kinds = chooseCorruptions(n, cseed, o.maskedShare);
      const auto others = n >= 2 ? otherRecordIndices(n, cseed + 1) : std::vector<int64_t>{};
      for (int64_t i = 0; i < n; ++i) {
        auto& ri = info.records[static_cast<std::size_t>(i)];
        const bool here = local[static_cast<std::size_t>(i)] != 0;
        if (kinds[static_cast<std::size_t>(i)] == Corruption::MaskedImage || n < 2) {
          ri.maskedImage = true;
          ri.corruptedImage = maskProductPatches(recordProducts[static_cast<std::size_t>(i)]->shot,
                                                 cseed + 2 + static_cast<std::uint64_t>(i), o.maskedFraction,
                                                 o.maskPatch);
          ri.corruptedPromptIds = ri.promptIds;
          if (here) {
            const at::Tensor px = clipPreprocess(ri.corruptedImage, pre).to(rt.device);
            records[static_cast<std::size_t>(i)].corruptedPrompt =
                llava.spliceEmbeddings(at::tensor(ri.promptIds, at::kLong), llava.encodeImages(px)[0]).clone();
          }
          ++info.maskedImage;
        } else {
          const auto j = static_cast<std::size_t>(others[static_cast<std::size_t>(i)]);
          ri.corruptedPromptIds = info.records[j].promptIds;
          if (here)
            records[static_cast<std::size_t>(i)].corruptedPrompt =
                llava
                    .spliceEmbeddings(at::tensor(ri.corruptedPromptIds, at::kLong),
                                      features[static_cast<std::size_t>(i)])
                    .clone();
          ++info.otherText;
        }
      }

      // Implicit reward margins of all records: each rank computes its own, the others' arrive.
      auto margins = [&]() -> at::Tensor {
        if (!dp) return preferenceMargins(lm, records).to(at::kCPU, at::kDouble);
        std::vector<PreferenceRecord> mineOnly;
        std::vector<std::size_t> where;
        for (std::size_t i = 0; i < records.size(); ++i)
          if (local[i]) mineOnly.push_back(records[i]), where.push_back(i);
        std::vector<double> all(records.size(), 0.0);
        if (!mineOnly.empty()) {
          const at::Tensor m = preferenceMargins(lm, mineOnly).to(at::kCPU, at::kDouble).contiguous();
          for (std::size_t i = 0; i < where.size(); ++i) all[where[i]] = m.data_ptr<double>()[i];
        }
        return at::tensor(dp->sum(all), at::TensorOptions().dtype(at::kDouble));
      };

      // 3. One epoch of DPO + PCPO against the starting model.
      info.marginBefore = meanOf(margins());
      PreferenceJobOptions po;
      po.beta = o.beta;
      po.betaPc = o.betaPc;
      po.pcpoWeight = o.pcpoWeight;
      po.checkpointLayers = o.gradientCheckpointing;
      TrainingJob job = preferenceJob(lm, lora, records, o.batchSize, po);
      job.epochs = 1;
      // Every record has an x~, so the loss is a mean over the micro-batch's records and the
      // ranks' weighted shares add up to one process's.
      if (dp) job.isLocal = [&local](int64_t i) { return local[static_cast<std::size_t>(i)] != 0; };
      TrainerOptions to;
      to.learningRate = o.learningRate;
      to.warmupSteps = o.warmupSteps;
      to.totalSteps = trainingSteps(job, o.gradientAccumulation);
      to.gradientAccumulation = o.gradientAccumulation;
      to.seed = o.seed + static_cast<std::uint64_t>(round);
      Trainer trainer(lora.namedParameters(prefix), to);  // fresh optimiser per round, as CAIG's rounds
      TrainingRunOptions ro;
      ro.cancel = o.cancel;
      ro.parallel = dp;
      double lossSum = 0;
      int steps = 0;
      ro.onStep = [&](const StepReport& r) {
        lossSum += r.loss;
        ++steps;
        log({{"event", "step"},
             {"round", round},
             {"step", r.step},
             {"loss", r.loss},
             {"lr", r.learningRate},
             {"gradNorm", r.gradNorm},
             {"elapsed", elapsed()}});
      };
      const TrainingRunResult tr = runTraining(trainer, job, ro);
      if (tr.cancelled) {
        result.cancelled = true;
        break;
      }
      info.loss = steps ? lossSum / steps : 0.0;
      const at::Tensor after = margins();
      info.marginAfter = meanOf(after);
      info.agreement = (after > 0).to(at::kDouble).mean().item<double>();
      info.meanPChosen = pSum / static_cast<double>(n);

      // 4. This round's adapter (delta from the starting model) and merged model.
      const std::string rel = "models/" + outName + "/round-" + std::to_string(round);
      info.adapterDir = project.absolute(rel + "/adapter");
      info.modelDir = project.absolute(rel + "/model");
      if (main) {  // the ranks hold the same weights: rank 0 writes them
        lora.save(info.adapterDir, prefix);
        saveMergedLlavaFolder(o.modelDir, lm, lora, info.modelDir, {}, tokenizerDir,
                              llavaVisionTowerFor(o.modelDir, o.visionTowerDir));
        project.store().transaction([&] {
          project.store().registerModel(
              {0, "adapter", outName + "-round-" + std::to_string(round), rel + "/adapter", "fp32"});
          project.store().registerModel(
              {0, "llava", outName + "-round-" + std::to_string(round), rel + "/model",
               lm.dtype() == c10::kFloat ? "fp32" : (lm.dtype() == c10::kHalf ? "fp16" : "bf16")});
        });
      }
      log({{"event", "round"},
           {"round", round},
           {"records", n},
           {"skipped", info.skipped},
           {"maskedImage", info.maskedImage},
           {"otherText", info.otherText},
           {"loss", info.loss},
           {"marginBefore", info.marginBefore},
           {"rewardMargin", info.marginAfter},
           {"agreement", info.agreement},
           {"meanPChosen", info.meanPChosen},
           {"adapter", info.adapterDir.string()},
           {"model", info.modelDir.string()},
           {"elapsed", elapsed()}});
      if (o.note) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "round %d: %lld records, loss %.4f, reward margin %.4f, agreement %.0f%%", round,
                      static_cast<long long>(n), info.loss, info.marginAfter, 100 * info.agreement);
        o.note(buf);
      }
      result.rounds.push_back(std::move(info));
    }
    lora.detach();
    result.seconds = elapsed();
    nlohmann::json rounds = nlohmann::json::array();
    for (const auto& r : result.rounds)
      rounds.push_back({{"round", r.round},
                        {"records", r.records.size()},
                        {"loss", r.loss},
                        {"rewardMargin", r.marginAfter},
                        {"agreement", r.agreement},
                        {"model", r.modelDir.string()}});
    const nlohmann::json metrics{{"comparisons", result.comparisons.size()},
                                 {"rounds", rounds},
                                 {"cancelled", result.cancelled},
                                 {"output", result.outputDir.string()},
                                 {"seconds", result.seconds}};
    if (main)
      project.store().finishTrainingRun(result.runId, result.cancelled ? "cancelled" : "finished", metrics.dump());
    log({{"event", result.cancelled ? "cancelled" : "end"}, {"metrics", metrics}});
  } catch (const std::exception& e) {
    if (logFile) recordFailedTrainingRun(project, result.runId, *logFile, e.what());
    throw;
  }
  return result;
}

}  // namespace caig
