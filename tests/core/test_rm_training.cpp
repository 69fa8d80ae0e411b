// Training the built-in reward model on synthetic clicks with a known click model: it must
// recover the ranking (held out by product) far better than the untrained prior and close to
// the ground truth's own accuracy; the model, the run and the log land in the project.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "../models/test_util.h"
#include "core/clicks/click_data.h"
#include "core/clicks/click_pairs.h"
#include "core/clicks/synthetic_clicks.h"
#include "core/project/project.h"
#include "core/ranking/active_ranker.h"
#include "core/training/rm_training.h"

namespace caig {
namespace {

namespace fs = std::filesystem;

TEST(RmTraining, RecoversTheHiddenClickModel) {
  test::TempDir dir;
  SyntheticClickOptions synth;
  synth.products = 15;
  synth.variantsPerProduct = 8;
  synth.seed = 11;
  const auto data = writeSyntheticClicks(dir / "demo", synth);
  auto project = Project::create(dir / "p");
  ASSERT_EQ(importClicks(project, data.csvFile).rowsImported, 120);
  // Before training the studio ranks with the prior and says it is uncalibrated.
  const ActiveRanker prior = describeActiveRanker(project);
  EXPECT_EQ(prior.kind, ActiveRanker::Kind::BuiltinPrior);
  EXPECT_EQ(prior.id, BuiltinRanker().id());
  EXPECT_FALSE(prior.calibrated);
  EXPECT_TRUE(prior.trainedAt.empty());
  EXPECT_NE(prior.status.find("uncalibrated"), std::string::npos) << prior.status;

  RmTrainOptions o;
  o.validationFraction = 0.34;
  o.seed = 5;
  std::vector<RmProgress> steps;
  o.progress = [&](const RmProgress& p) {
    if (p.phase == "train") steps.push_back(p);
  };
  const RmTrainResult r = trainBuiltinRewardModel(project, o);
  ASSERT_TRUE(r.validation && r.validationUntrained);
  ASSERT_GE(r.validationPairs, 30) << r.summary();

  // The ground truth's own accuracy on the same held-out pairs: the winner has the higher true
  // (noise-free) logit. Recomputed here from the store with the same rules and seed.
  std::map<std::string, double> trueLogit;
  for (const auto& c : data.creatives) trueLogit[c.creativeId] = c.trueLogit;
  const auto creatives = loadClickCreatives(project);
  const PairSplit split = splitByProduct(buildPairs(creatives, o.rules).pairs, o.validationFraction, o.seed);
  ASSERT_EQ(static_cast<int>(split.validation.size()), r.validationPairs);
  double truthAccuracy = 0;
  for (const auto& p : split.validation) {
    truthAccuracy += trueLogit.at(creatives[p.winner].creativeId) > trueLogit.at(creatives[p.loser].creativeId);
  }
  truthAccuracy /= split.validation.size();

  std::printf("held-out accuracy: trained %.3f, untrained prior %.3f, ground truth %.3f (%d pairs)\n",
              r.validation->accuracy, r.validationUntrained->accuracy, truthAccuracy, r.validationPairs);
  EXPECT_GT(r.validation->accuracy, r.validationUntrained->accuracy + 0.10) << r.summary();
  EXPECT_GT(r.validation->accuracy, truthAccuracy - 0.10) << r.summary();
  EXPECT_LT(r.validation->logLoss, r.validationUntrained->logLoss) << r.summary();
  // The learned direction matches the hidden one.
  double dot = 0, nw = 0, nt = 0;
  for (int k = 0; k < kBuiltinFeatureCount; ++k) {
    dot += r.weights[k] * synth.trueWeights[k];
    nw += r.weights[k] * r.weights[k];
    nt += synth.trueWeights[k] * synth.trueWeights[k];
  }
  EXPECT_GT(dot / std::sqrt(nw * nt), 0.6) << r.summary();

  // Per category: the held-out pairs are all accounted for.
  int perCategory = 0;
  for (const auto& [cat, m] : r.perCategory) perCategory += m.first.pairs;
  EXPECT_EQ(perCategory, r.validationPairs);

  // Training loss never goes up across the Newton steps.
  ASSERT_FALSE(steps.empty());
  for (std::size_t i = 1; i < steps.size(); ++i) EXPECT_LE(steps[i].trainLoss, steps[i - 1].trainLoss + 1e-12);

  // The model is saved, active, loadable and says how it was validated.
  ASSERT_TRUE(fs::exists(r.modelFile));
  const auto active = activeBuiltinRankerWeights(project);
  ASSERT_TRUE(active.has_value());
  BuiltinRanker loaded;
  loaded.load(*active);
  EXPECT_EQ(loaded.id(), r.rankerId);
  EXPECT_NE(loaded.status().find("held-out pairwise accuracy"), std::string::npos) << loaded.status();
  // One logit is worth a fraction of a log CTR ratio on these pairs (CAIG keeps CTR ratios of
  // 1.05-1.20, log 0.05-0.18), and the saved ranker keeps that scale.
  ASSERT_TRUE(r.ctrScale.has_value());
  std::printf("CTR scale: %.3f log CTR ratio per logit\n", *r.ctrScale);
  EXPECT_GT(*r.ctrScale, 0.0);
  EXPECT_LT(*r.ctrScale, 0.5);
  EXPECT_EQ(loaded.ctrScale(), r.ctrScale);
  // ... and the studio names it, with when it was trained; variants the prior ranked are stale.
  const ActiveRanker trained = describeActiveRanker(project);
  EXPECT_EQ(trained.kind, ActiveRanker::Kind::BuiltinTrained);
  EXPECT_EQ(trained.id, r.rankerId);
  EXPECT_TRUE(trained.calibrated);
  EXPECT_EQ(trained.trainedAt.size(), 16u) << trained.trainedAt;  // "YYYY-MM-DD HH:MM"
  EXPECT_EQ(trained.status, loaded.status());
  EXPECT_TRUE(rankedBy(r.rankerId, trained));
  EXPECT_FALSE(rankedBy(prior.id, trained));
  // A reward model folder inside the project was trained on its clicks; one outside was not.
  const ActiveRanker own = describeActiveRanker(project, project.dir() / "models/rm-1");
  EXPECT_TRUE(own.calibrated);
  EXPECT_EQ(own.id, "llava-rm:rm-1@");
  EXPECT_TRUE(rankedBy("llava-rm:rm-1@3f2a", own));
  EXPECT_FALSE(rankedBy("llava-rm:rm-10@3f2a", own));
  // Its lifts are in CTR terms when its training run saved the scale beside it.
  EXPECT_NE(own.status.find("no CTR scale saved"), std::string::npos) << own.status;
  fs::create_directories(project.dir() / "models/rm-1");
  writeCtrCalibration(project.dir() / "models/rm-1", 0.052, 30, 7);
  const ActiveRanker scaled = describeActiveRanker(project, project.dir() / "models/rm-1");
  EXPECT_NE(scaled.status.find("CTR scale 0.052 per logit"), std::string::npos) << scaled.status;
  EXPECT_FALSE(describeActiveRanker(project, dir / "installed/rm").calibrated);
  bool registered = false;
  for (const auto& m : project.store().models()) registered |= m.kind == "reward" && m.name == r.rankerId;
  EXPECT_TRUE(registered);
  const auto runs = project.store().trainingRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "finished");
  EXPECT_EQ(nlohmann::json::parse(runs[0].metricsJson)["validation"]["pairs"], r.validationPairs);

  // The JSON-lines log: start, one line per step, end.
  std::ifstream log(r.logFile);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(log, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), steps.size() + 2);
  EXPECT_EQ(lines.front()["event"], "start");
  EXPECT_EQ(lines[1]["event"], "step");
  EXPECT_EQ(lines[1]["step"], 1);
  for (const char* key : {"loss", "accuracy", "valLoss", "valAccuracy", "elapsed"}) EXPECT_TRUE(lines[1].contains(key)) << key;
  EXPECT_EQ(lines.back()["event"], "end");
}

TEST(RmTraining, SaysWhyThereAreNoPairs) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  EXPECT_THROW(trainBuiltinRewardModel(project), RankerError);  // no click data at all
  SyntheticClickOptions synth;
  synth.products = 2;
  synth.variantsPerProduct = 2;
  synth.minImpressions = 100;
  synth.maxImpressions = 500;
  const auto data = writeSyntheticClicks(dir / "demo", synth);
  importClicks(project, data.csvFile);
  try {
    trainBuiltinRewardModel(project);
    FAIL();
  } catch (const RankerError& e) {
    EXPECT_NE(std::string(e.what()).find("2 skipped for < 1000 impressions"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(activeBuiltinRankerWeights(project).has_value());
}

}  // namespace
}  // namespace caig
