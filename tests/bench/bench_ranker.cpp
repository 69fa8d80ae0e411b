// The built-in CTR ranker: features of one 1024x1024 creative, a whole ranking of 8 creatives,
// and the Bradley-Terry fit alone for N = 8, 32, 128 (all pairs), next to a plain OpenCV
// baseline measured in the same process.

#include <benchmark/benchmark.h>

#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "baseline.h"
#include "core/ranking/builtin_ranker.h"
#include "core/generation/composition.h"
#include "core/project/demo_products.h"

namespace {

using namespace caig;

// The perfume bottle laid out on a 1024 canvas over a noisy backdrop, pasted back.
Creative creative1024(int seed) {
  static const DemoProduct p = renderDemoProducts(1024).at(0);
  const Layout l = layoutProduct(prepareProduct(p.shot, p.alpha), {1024, 1024});
  cv::Mat bg(1024, 1024, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(bg, cv::RNG::UNIFORM, 0, 256);
  cv::GaussianBlur(bg, bg, cv::Size(0, 0), 1 + seed % 5);
  return {pasteBack(bg, l), l.alpha};
}

void BM_Features1024(benchmark::State& state) {
  const Creative c = creative1024(1);
  BuiltinRanker r;
  for (auto _ : state) {
    FeatureVector f = r.features(c);
    benchmark::DoNotOptimize(f.data());
  }
}
BENCHMARK(BM_Features1024)->Unit(benchmark::kMillisecond);

// rankCreatives on 8 creatives: 8 feature extractions, 28 pairs, one fit.
void BM_RankEight1024(benchmark::State& state) {
  std::vector<Creative> cs;
  for (int k = 0; k < 8; ++k) cs.push_back(creative1024(k));
  BuiltinRanker r;
  for (auto _ : state) {
    RankingResult res = rankCreatives(r, cs, {"Amber Eau de Parfum", "fragrance"});
    benchmark::DoNotOptimize(res.score.data());
  }
}
BENCHMARK(BM_RankEight1024)->Unit(benchmark::kMillisecond);

void BM_BradleyTerryAllPairs(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<PairOutcome> outcomes;
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) outcomes.push_back({i, j, 1 / (1 + std::exp(0.05 * (j - i))), 1.0});
  }
  BradleyTerryFit fit;
  for (auto _ : state) {
    fit = fitBradleyTerry(n, outcomes);
    benchmark::DoNotOptimize(fit.score.data());
  }
  state.counters["pairs"] = double(outcomes.size());
  state.counters["newton_steps"] = fit.iterations;
  state.counters["converged"] = fit.converged;
}
BENCHMARK(BM_BradleyTerryAllPairs)->Arg(8)->Arg(32)->Arg(128)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
