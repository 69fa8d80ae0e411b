// The built-in preference loop: the documented Bradley-Terry update on style logits, and the
// loop moving the planner's style weights toward what the ranker prefers.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core/ranking/ctr_ranker.h"
#include "core/project/project.h"
#include "core/prompts/prompt_writer.h"
#include "core/training/style_preferences.h"

namespace caig {
namespace {

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST(StylePreferenceUpdate, IsTheBradleyTerryGradientStep) {
  std::map<std::string, double> w;
  stylePreferenceUpdate(w, "a", "b", 0.5, 1.0);
  EXPECT_DOUBLE_EQ(w["a"], 1.0);  // already agrees: no change
  EXPECT_DOUBLE_EQ(w["b"], 1.0);
  stylePreferenceUpdate(w, "a", "b", 0.9, 0.5);
  EXPECT_NEAR(std::log(w["a"]), 0.5 * 0.4, 1e-12);
  EXPECT_NEAR(std::log(w["b"]), -0.5 * 0.4, 1e-12);
  EXPECT_NEAR(std::log(w["a"]) + std::log(w["b"]), 0, 1e-12);  // antisymmetric
  // Repeated: the logit gap converges to logit(p).
  for (int i = 0; i < 2000; ++i) stylePreferenceUpdate(w, "a", "b", 0.8, 0.2);
  EXPECT_NEAR(sigmoid(std::log(w["a"]) - std::log(w["b"])), 0.8, 1e-6);
  // Clipped.
  for (int i = 0; i < 200; ++i) stylePreferenceUpdate(w, "c", "d", 1.0, 5.0, 2.0);
  EXPECT_NEAR(std::log(w["c"]), 2.0, 1e-12);
  EXPECT_NEAR(std::log(w["d"]), -2.0, 1e-12);
  EXPECT_THROW(stylePreferenceUpdate(w, "a", "b", 1.5, 0.1), std::invalid_argument);
}

// Prefers brighter ads: P = sigmoid(8 * (mean L(left) - mean L(right))), L in 0..1.
class BrightnessRanker : public CtrRanker {
 public:
  std::string id() const override { return "test-brightness"; }
  double winProbability(const Creative& l, const Creative& r, const RankContext&) override {
    return sigmoid(8 * (brightness(l.image) - brightness(r.image)));
  }
  static double brightness(const cv::Mat& bgr) {
    cv::Mat grey;
    cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
    return cv::mean(grey)[0] / 255.0;
  }
};

TEST(StylePreferenceLoop, MovesStyleWeightsTowardTheRankersPreference) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  BrightnessRanker ranker;
  StylePreferenceOptions o;
  o.rounds = 8;
  o.productsPerRound = 3;
  o.seed = 4;
  o.learningRate = 1.0;
  const auto r = runStylePreferenceLoop(project, ranker, o);
  ASSERT_EQ(r.comparisons.size(), 24u);
  EXPECT_NE(r.productSource.find("demo products"), std::string::npos);  // the project has none

  // Each style's net preference from the ranker (sum of p - 1/2 over its comparisons) and its
  // final log weight must agree in sign wherever the ranker was clear about it.
  std::map<std::string, double> net;
  for (const auto& c : r.comparisons) {
    net[c.styleA] += c.pAWins - 0.5;
    net[c.styleB] -= c.pAWins - 0.5;
  }
  int agree = 0, clear = 0;
  std::string best;
  for (const auto& [id, n] : net) {
    if (best.empty() || n > net[best]) best = id;
    if (std::abs(n) < 0.2) continue;
    ++clear;
    agree += (n > 0) == (std::log(r.after.at(id)) > 0);
  }
  ASSERT_GE(clear, 3);
  EXPECT_GE(agree, clear - 1) << "style weights moved against the ranker";
  EXPECT_GT(r.after.at(best), r.before.at(best)) << best;
  double sumLog = 0;
  for (const auto& [id, w] : r.after) sumLog += std::log(w);
  EXPECT_NEAR(sumLog, 0, 1e-9);  // the update only moves weight between styles

  // Saved in the project, and the planner reads them.
  TemplatePromptWriter writer;
  ASSERT_TRUE(loadProjectStyleWeights(project, writer));
  EXPECT_NEAR(writer.styleWeights.at(best), r.after.at(best), 1e-12);
  // A second run starts where the first ended.
  o.rounds = 1;
  const auto second = runStylePreferenceLoop(project, ranker, o);
  EXPECT_NEAR(second.before.at(best), r.after.at(best), 1e-12);
  EXPECT_EQ(project.store().trainingRuns().size(), 2u);
}

}  // namespace
}  // namespace caig
