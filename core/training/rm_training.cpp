#include "core/training/rm_training.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/image/image_io.h"
#include "core/project/project.h"
#include "models/io/atomic_file.h"
#include "models/io/json_file.h"
#include "models/io/json_lines_log.h"

namespace fs = std::filesystem;

namespace caig {
namespace {

constexpr const char* kActiveModel = "models/builtin-ranker.json";
constexpr const char* kActiveSetting = "ranker.builtin.active";

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// The creative as the ranker sees it: BGR, transparent areas over white (as in a feed), and
// its product mask when the import found one.
Creative loadCreative(const Project& project, const ClickCreative& c) {
  cv::Mat image = loadImage(project.absolute(c.imagePath));
  if (image.channels() == 4) {
    cv::Mat bgr(image.size(), CV_8UC3, cv::Scalar::all(255)), alpha;
    cv::extractChannel(image, alpha, 3);
    cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
    image.copyTo(bgr, alpha > 127);
    image = bgr;
  }
  Creative out{image, {}};
  if (!c.alphaPath.empty()) {
    cv::Mat alpha = loadImage(project.absolute(c.alphaPath));
    if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
    if (alpha.size() == image.size()) out.productAlpha = alpha;  // else: centred product assumed
  }
  return out;
}

nlohmann::json metricsJsonOf(const PairMetrics& m) {
  return {{"pairs", m.pairs}, {"accuracy", m.accuracy}, {"logLoss", m.logLoss}};
}

// Appends one JSON object per line and flushes, so a reader (the studio) can follow it live.

}  // namespace

PairMetrics evaluatePairs(const BuiltinRanker& ranker, const std::vector<std::pair<FeatureVector, FeatureVector>>& pairs) {
  PairMetrics m;
  m.pairs = static_cast<int>(pairs.size());
  if (pairs.empty()) return m;
  for (const auto& [won, lost] : pairs) {
    const double s = ranker.logit(won, lost);
    m.accuracy += s > 0 ? 1.0 : (s == 0 ? 0.5 : 0.0);
    m.logLoss += softplus(-s);
  }
  m.accuracy /= m.pairs;
  m.logLoss /= m.pairs;
  return m;
}

std::string RmTrainResult::summary() const {
  std::ostringstream s;
  char buf[256];
  s << "pairs: " << pairStats.pairs << " from " << pairStats.productsWithPairs << " of " << pairStats.products
    << " products (" << pairStats.candidatePairs << " same-product candidates; skipped " << pairStats.skippedImpressions
    << " for impressions, " << pairStats.skippedRatioLow << " CTR ratio too low, " << pairStats.skippedRatioHigh
    << " too high";
  if (pairStats.skippedProductCap) s << ", " << pairStats.skippedProductCap << " over the per-product cap";
  s << ")\n";
  s << "split by product: " << trainPairs << " train pairs (" << trainProducts << " products), " << validationPairs
    << " held-out pairs (" << validationProducts << " products)\n";
  std::snprintf(buf, sizeof buf, "train: accuracy %.1f%%, log-loss %.4f (%d Newton steps, %.2f s)\n",
                100 * train.accuracy, train.logLoss, iterations, seconds);
  s << buf;
  if (validation && validationUntrained) {
    std::snprintf(buf, sizeof buf, "held out: accuracy %.1f%% (untrained prior %.1f%%), log-loss %.4f (prior %.4f)\n",
                  100 * validation->accuracy, 100 * validationUntrained->accuracy, validation->logLoss,
                  validationUntrained->logLoss);
    s << buf;
    for (const auto& [cat, m] : perCategory) {
      std::snprintf(buf, sizeof buf, "  %-20s %4d pairs: accuracy %5.1f%% (prior %5.1f%%), log-loss %.4f (prior %.4f)\n",
                    cat.c_str(), m.first.pairs, 100 * m.first.accuracy, 100 * m.second.accuracy, m.first.logLoss,
                    m.second.logLoss);
      s << buf;
    }
  } else {
    s << "held out: none (one product with pairs, or --val-fraction 0): accuracy unknown\n";
  }
  s << "model " << rankerId;
  if (!modelFile.empty()) s << " -> " << modelFile.string();
  s << "\n";
  return s.str();
}

std::string RmTrainResult::metricsJson() const {
  nlohmann::json j;
  j["pairs"] = pairStats.pairs;
  j["skipped"] = {{"impressions", pairStats.skippedImpressions},
                  {"ratioLow", pairStats.skippedRatioLow},
                  {"ratioHigh", pairStats.skippedRatioHigh},
                  {"productCap", pairStats.skippedProductCap}};
  j["trainPairs"] = trainPairs;
  j["validationPairs"] = validationPairs;
  j["trainProducts"] = trainProducts;
  j["validationProducts"] = validationProducts;
  j["train"] = metricsJsonOf(train);
  if (validation) j["validation"] = metricsJsonOf(*validation);
  if (validationUntrained) j["validationUntrained"] = metricsJsonOf(*validationUntrained);
  for (const auto& [cat, m] : perCategory) {
    j["perCategory"][cat] = {{"trained", metricsJsonOf(m.first)}, {"untrained", metricsJsonOf(m.second)}};
  }
  for (int k = 0; k < kBuiltinFeatureCount; ++k) j["weights"][BuiltinRanker::featureNames()[k]] = weights[k];
  j["rankerId"] = rankerId;
  j["modelFile"] = modelFile.string();
  j["iterations"] = iterations;
  j["seconds"] = seconds;
  return j.dump();
}

std::optional<fs::path> activeBuiltinRankerWeights(const Project& project) {
  const auto rel = project.store().setting(kActiveSetting);
  const fs::path p = project.absolute(rel ? *rel : kActiveModel);
  if (fs::is_regular_file(p)) return p;
  return std::nullopt;
}

StartedTrainingRun startTrainingRun(Project& project, const std::string& kind, const std::string& configJson,
                                    const fs::path& logFile, const std::string& logPrefix) {
  TrainingRun run;
  run.kind = kind;
  run.configJson = configJson;
  StartedTrainingRun started;
  started.runId = project.store().startTrainingRun(run);
  std::error_code ec;
  fs::create_directories(project.absolute("logs"), ec);  // a failure shows when the log is opened
  started.logFile = logFile.empty()
                        ? project.absolute("logs/" + logPrefix + "-" + std::to_string(started.runId) + ".jsonl")
                        : logFile;
  return started;
}

void recordFailedTrainingRun(Project& project, std::int64_t runId, JsonLinesLog& log, const std::string& error,
                             double elapsed) {
  nlohmann::json event{{"event", "failed"}, {"error", error}};
  if (elapsed >= 0) event["elapsed"] = elapsed;
  try {
    log.write(event);
  } catch (const std::exception&) {
    // a full disk must not hide the error that stopped the run
  }
  try {
    project.store().finishTrainingRun(runId, "failed", nlohmann::json{{"error", error}}.dump());
  } catch (const std::exception&) {
    // the original error matters more
  }
}

TrainingPairs loadTrainingPairs(const Project& project, const PairRules& rules, double validationFraction,
                                std::uint64_t seed) {
  TrainingPairs t;
  t.creatives = loadClickCreatives(project);
  const auto& creatives = t.creatives;
  if (creatives.empty()) throw RankerError("train-rm: the project has no click data (run import-clicks first)");
  t.pairSet = buildPairs(creatives, rules);
  const PairSet& pairSet = t.pairSet;
  if (pairSet.pairs.empty()) {
    const auto& st = pairSet.stats;
    throw RankerError("train-rm: no training pairs from " + std::to_string(creatives.size()) + " creatives of " +
                      std::to_string(st.products) + " products: " + std::to_string(st.candidatePairs) +
                      " same-product candidates, " + std::to_string(st.skippedImpressions) + " skipped for < " +
                      std::to_string(rules.minImpressions) + " impressions, " + std::to_string(st.skippedRatioLow) +
                      " for a CTR ratio below " + std::to_string(rules.ratioMin) + ", " +
                      std::to_string(st.skippedRatioHigh) + " above " + std::to_string(rules.ratioMax) +
                      " (see --min-impressions, --ratio-min, --ratio-max)");
  }
  t.split = splitByProduct(pairSet.pairs, validationFraction, seed);
  return t;
}

RmTrainResult trainBuiltinRewardModel(Project& project, const RmTrainOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  if (o.maxIterations < 1 || !(o.l2 > 0)) throw RankerError("train-rm: need max iterations >= 1 and l2 > 0");

  RmTrainResult result;
  const TrainingPairs data = loadTrainingPairs(project, o.rules, o.validationFraction, o.seed);
  const auto& creatives = data.creatives;
  const PairSet& pairSet = data.pairSet;
  const PairSplit& split = data.split;
  result.pairStats = pairSet.stats;
  result.trainPairs = static_cast<int>(split.train.size());
  result.validationPairs = static_cast<int>(split.validation.size());
  result.trainProducts = static_cast<int>(split.trainProducts.size());
  result.validationProducts = static_cast<int>(split.validationProducts.size());

  nlohmann::json config{{"model", "builtin"},
                        {"minImpressions", o.rules.minImpressions},
                        {"ratioMin", o.rules.ratioMin},
                        {"ratioMax", o.rules.ratioMax},
                        {"maxPairsPerProduct", o.rules.maxPairsPerProduct},
                        {"validationFraction", o.validationFraction},
                        {"seed", o.seed},
                        {"l2", o.l2},
                        {"maxIterations", o.maxIterations}};
  const StartedTrainingRun started = startTrainingRun(project, "builtin-ranker", config.dump(), o.logFile, "train-rm");
  result.runId = started.runId;
  result.logFile = started.logFile;
  JsonLinesLog log(result.logFile);
  try {
    // Features once per creative that appears in a pair.
    std::set<int> used;
    for (const auto& p : pairSet.pairs) used.insert({p.winner, p.loser});
    std::map<int, FeatureVector> features;
    BuiltinRanker prior;
    int done = 0;
    for (int i : used) {
      features[i] = prior.features(loadCreative(project, creatives[static_cast<std::size_t>(i)]));
      ++done;
      if (o.progress) {
        RmProgress pr;
        pr.phase = "features";
        pr.step = done;
        pr.maxSteps = static_cast<int>(used.size());
        pr.elapsed = elapsed();
        o.progress(pr);
      }
    }
    using FvPairs = std::vector<std::pair<FeatureVector, FeatureVector>>;
    auto toFeatures = [&](const std::vector<ClickPair>& ps) {
      FvPairs out;
      for (const auto& p : ps) out.emplace_back(features[p.winner], features[p.loser]);
      return out;
    };
    const FvPairs trainFv = toFeatures(split.train), valFv = toFeatures(split.validation);
    log.write({{"event", "start"},
               {"run", result.runId},
               {"config", config},
               {"pairs", pairSet.stats.pairs},
               {"trainPairs", result.trainPairs},
               {"validationPairs", result.validationPairs},
               {"trainProducts", split.trainProducts},
               {"validationProducts", split.validationProducts},
               {"untrained", valFv.empty() ? nlohmann::json() : metricsJsonOf(evaluatePairs(prior, valFv))},
               {"elapsed", elapsed()}});

    BuiltinRanker ranker;  // starts at the prior; each call below is one Newton iteration
    TrainOptions t;
    t.l2 = o.l2;
    t.towardCurrent = false;  // a fixed objective across the one-step calls
    t.validationFraction = 0;
    t.seed = static_cast<unsigned>(o.seed);
    t.maxIterations = 1;
    for (int step = 1; step <= o.maxIterations; ++step) {
      const TrainReport rep = ranker.trainOnFeatures(trainFv, t);
      RmProgress pr;
      pr.phase = "train";
      pr.step = step;
      pr.maxSteps = o.maxIterations;
      const PairMetrics tr = evaluatePairs(ranker, trainFv);
      pr.trainLoss = tr.logLoss;
      pr.trainAccuracy = tr.accuracy;
      nlohmann::json line{{"event", "step"}, {"step", step}, {"loss", tr.logLoss}, {"accuracy", tr.accuracy}};
      if (!valFv.empty()) {
        const PairMetrics vm = evaluatePairs(ranker, valFv);
        pr.valLoss = vm.logLoss;
        pr.valAccuracy = vm.accuracy;
        line["valLoss"] = vm.logLoss;
        line["valAccuracy"] = vm.accuracy;
      }
      pr.elapsed = elapsed();
      line["elapsed"] = pr.elapsed;
      log.write(line);
      if (o.progress) o.progress(pr);
      result.iterations = step;
      if (rep.iterations == 0) break;  // Newton step below tolerance: converged
    }

    result.train = evaluatePairs(ranker, trainFv);
    if (!valFv.empty()) {
      result.validation = evaluatePairs(ranker, valFv);
      result.validationUntrained = evaluatePairs(prior, valFv);
      std::map<std::string, std::pair<FvPairs, int>> byCat;
      for (std::size_t i = 0; i < split.validation.size(); ++i) {
        const std::string cat = split.validation[i].category.empty() ? "(none)" : split.validation[i].category;
        byCat[cat].first.push_back(valFv[i]);
      }
      for (const auto& [cat, ps] : byCat) {
        result.perCategory[cat] = {evaluatePairs(ranker, ps.first), evaluatePairs(prior, ps.first)};
      }
    }
    // How much CTR one logit is worth on this team's pairs: the readout's lifts in CTR terms.
    std::vector<double> logRatios;
    for (const auto& p : split.train) logRatios.push_back(std::log(p.ratio));
    ranker.calibrateCtrScale(trainFv, logRatios);
    result.ctrScale = ranker.ctrScale();
    result.weights = ranker.weights();
    result.rankerId = ranker.id();
    result.seconds = elapsed();

    if (o.save) {
      std::error_code ec;
      fs::create_directories(project.absolute("models"), ec);  // a failure shows when the file is written
      const std::string rel = "models/builtin-ranker-" + std::to_string(result.runId) + ".json";
      ranker.save(project.absolute(rel));
      // The ranker does not know about the product split: record its held-out numbers.
      nlohmann::json j = io::readJsonFile(project.absolute(rel));
      j["trainedPairs"] = result.trainPairs;
      j["heldOutPairs"] = result.validationPairs;
      j["heldOutAccuracy"] = result.validation ? nlohmann::json(result.validation->accuracy) : nlohmann::json();
      j["trainingRun"] = result.runId;
      j["heldOutSplit"] = "by product";
      const std::string text = j.dump(2) + "\n";
      for (const std::string& target : {rel, std::string(kActiveModel)}) {
        io::AtomicFile f(project.absolute(target));
        f.write(text.data(), text.size());
        f.commit();
      }
      result.modelFile = project.absolute(rel);
      project.store().transaction([&] {
        project.store().registerModel({0, "reward", result.rankerId, rel, "fp64"});
        project.store().setSetting(kActiveSetting, kActiveModel);
      });
    }
    project.store().finishTrainingRun(result.runId, "finished", result.metricsJson());
    log.write({{"event", "end"}, {"metrics", nlohmann::json::parse(result.metricsJson())}, {"elapsed", elapsed()}});
  } catch (const std::exception& e) {
    recordFailedTrainingRun(project, result.runId, log, e.what(), elapsed());
    throw;
  }
  return result;
}

}  // namespace caig
