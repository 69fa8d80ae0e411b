#include "core/training/style_preferences.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/backdrop/backdrop_renderer.h"
#include "core/generation/composition.h"
#include "core/ranking/ctr_ranker.h"
#include "core/project/demo_products.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/prompts/prompt_writer.h"
#include "core/training/rm_training.h"
#include "core/base/splitmix.h"

namespace fs = std::filesystem;

namespace caig {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct LoopProduct {
  std::string title, category;
  cv::Mat shot, alpha;
};

double logWeight(const std::map<std::string, double>& w, const std::string& id) {
  const auto it = w.find(id);
  const double v = it == w.end() ? 1.0 : it->second;
  return std::log(std::max(v, 1e-12));
}

}  // namespace

void stylePreferenceUpdate(std::map<std::string, double>& weights, const std::string& a, const std::string& b,
                           double p, double lr, double maxLog) {
  if (!(p >= 0 && p <= 1) || !(lr >= 0) || !(maxLog > 0)) {
    throw std::invalid_argument("style preference update: need p in [0, 1], lr >= 0, maxLogWeight > 0");
  }
  if (a == b) return;  // no information about the styles
  double ta = logWeight(weights, a), tb = logWeight(weights, b);
  const double g = p - sigmoid(ta - tb);
  ta = std::clamp(ta + lr * g, -maxLog, maxLog);
  tb = std::clamp(tb - lr * g, -maxLog, maxLog);
  weights[a] = std::exp(ta);
  weights[b] = std::exp(tb);
}

StylePreferenceResult runStylePreferenceLoop(Project& project, CtrRanker& ranker, const StylePreferenceOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  if (o.rounds < 1 || o.productsPerRound < 1) throw std::invalid_argument("pcpo: need rounds >= 1 and products >= 1");
  TemplatePromptWriter writer;
  loadProjectStyleWeights(project, writer);
  StylePreferenceResult result;
  for (const auto& id : writer.styleIds()) {
    const auto it = writer.styleWeights.find(id);
    result.before[id] = it == writer.styleWeights.end() ? 1.0 : it->second;
  }

  std::vector<LoopProduct> products;
  for (const auto& p : project.store().products()) {
    cv::Mat alpha = project.cutout(p.id);
    if (alpha.empty()) continue;
    products.push_back({p.title, p.category, loadImage(project.absolute(p.imagePath)), alpha});
  }
  result.productSource = "project";
  if (products.empty()) {
    for (auto& d : renderDemoProducts(384)) products.push_back({d.title, d.category, d.shot, d.alpha});
    result.productSource = "demo products (the project has none with a cutout)";
  }
  // Layouts once per product: the renders differ only in the backdrop.
  const cv::Size canvas = adPreset(o.preset).size;
  std::vector<ProductShot> shots;
  std::vector<Layout> layouts;
  for (const auto& p : products) {
    shots.push_back(prepareProduct(p.shot, p.alpha));
    layouts.push_back(layoutProduct(shots.back(), canvas));
  }

  const nlohmann::json config{{"engine", "builtin"},
                              {"rounds", o.rounds},
                              {"productsPerRound", o.productsPerRound},
                              {"seed", o.seed},
                              {"learningRate", o.learningRate},
                              {"maxLogWeight", o.maxLogWeight},
                              {"preset", o.preset},
                              {"ranker", ranker.id()}};
  const StartedTrainingRun started = startTrainingRun(project, "pcpo", config.dump(), o.logFile, "pcpo");
  result.runId = started.runId;
  result.logFile = started.logFile;
  std::ofstream log(result.logFile, std::ios::app);
  if (!log) throw StoreError("cannot write the log '" + result.logFile.string() + "'");
  auto writeLog = [&](const nlohmann::json& j) {
    log << j.dump() << "\n";
    log.flush();
  };
  writeLog({{"event", "start"}, {"run", result.runId}, {"config", config},
            {"products", products.size()}, {"productSource", result.productSource}, {"weights", result.before}});

  SplitMix64 rng{o.seed * 0xD1B54A32D192ED03ull + 3};
  const int perRound = std::min<int>(o.productsPerRound, static_cast<int>(products.size()));
  const int total = o.rounds * perRound;
  int done = 0;
  try {
    for (int round = 1; round <= o.rounds; ++round) {
      std::vector<std::size_t> order(products.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.index(i)]);
      double agreement = 0;
      for (int k = 0; k < perRound; ++k) {
        const std::size_t pi = order[static_cast<std::size_t>(k)];
        const auto& shot = shots[pi];
        const auto& layout = layouts[pi];
        const auto descriptions = writer.write(products[pi].title, products[pi].category, shot.bgr, shot.alpha, 2,
                                               rng.next() & 0xFFFFFFFFFFull);
        if (descriptions.size() < 2) continue;
        const Creative a{renderAd(descriptions[0].spec, layout.product, layout.alpha), layout.alpha};
        const Creative b{renderAd(descriptions[1].spec, layout.product, layout.alpha), layout.alpha};
        const double p = ranker.winProbability(a, b, {products[pi].title, products[pi].category});
        const std::string& sa = descriptions[0].styleId;
        const std::string& sb = descriptions[1].styleId;
        agreement += (p >= 0.5) == (logWeight(writer.styleWeights, sa) >= logWeight(writer.styleWeights, sb));
        stylePreferenceUpdate(writer.styleWeights, sa, sb, p, o.learningRate, o.maxLogWeight);
        result.comparisons.push_back({round, products[pi].title, sa, sb, p});
        writeLog({{"event", "comparison"}, {"round", round}, {"product", products[pi].title}, {"styleA", sa},
                  {"styleB", sb}, {"pAWins", p}});
        ++done;
        if (o.progress) o.progress(done, total);
      }
      writeLog({{"event", "round"},
                {"round", round},
                {"plannerAgreement", perRound ? agreement / perRound : 0.0},
                {"weights", writer.styleWeights},
                {"elapsed", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
    }
    for (const auto& id : writer.styleIds()) {
      const auto it = writer.styleWeights.find(id);
      result.after[id] = it == writer.styleWeights.end() ? 1.0 : it->second;
    }
    result.weightsFile = styleWeightsFile(project);
    writer.saveStyleWeights(result.weightsFile);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const nlohmann::json metrics{{"comparisons", result.comparisons.size()}, {"weights", result.after},
                                 {"seconds", result.seconds}};
    project.store().finishTrainingRun(result.runId, "finished", metrics.dump());
    writeLog({{"event", "end"}, {"metrics", metrics}});
  } catch (const std::exception& e) {
    writeLog({{"event", "failed"}, {"error", e.what()}});
    try {
      project.store().finishTrainingRun(result.runId, "failed", nlohmann::json{{"error", e.what()}}.dump());
    } catch (const std::exception&) {
    }
    throw;
  }
  return result;
}

}  // namespace caig
