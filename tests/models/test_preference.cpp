// Preference losses (checked by hand), their gradients (finite differences in double), the
// corrupted inputs of PCPO, and the trainer: schedule, resume, cancellation, the reward-model and
// DPO/PCPO jobs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/io/safetensors.h"
#include "models/llama.h"
#include "models/lora.h"
#include "models/preference_losses.h"
#include "models/preference_training.h"
#include "models/trainer.h"
#include "test_util.h"
#include "training_test_util.h"

namespace caig {
namespace {

using test::maxAbsDiff;
using test::randomIds;
using test::randomModel;

double softplus(double x) { return std::log1p(std::exp(x)); }  // -log sigma(-x)

TEST(PreferenceLosses, AnswerLogProbsByHand) {
  // Row 0: prompt token 0, answer tokens 1 and 2.
  const at::Tensor logits = at::tensor({0.5, -1.0, 2.0, 1.0, 0.0, 3.0, 0.3, 0.2, 0.1}, at::kDouble).view({1, 3, 3});
  const at::Tensor tokens = at::tensor({0, 1, 2}, at::kLong).view({1, 3});
  const at::Tensor mask = at::tensor({0, 1, 1}, at::kLong).view({1, 3});
  auto logSoftmax = [](std::vector<double> v, int k) {
    double z = 0;
    for (double x : v) z += std::exp(x);
    return v[static_cast<std::size_t>(k)] - std::log(z);
  };
  const double expected = logSoftmax({0.5, -1.0, 2.0}, 1) + logSoftmax({1.0, 0.0, 3.0}, 2);
  EXPECT_NEAR(answerLogProbs(logits, tokens, mask).item<double>(), expected, 1e-12);
  EXPECT_THROW(answerLogProbs(logits, tokens, at::ones({1, 2})), std::invalid_argument);
}

TEST(PreferenceLosses, PromptAndPaddingLogitsDoNotMatter) {
  auto gen = at::detail::createCPUGenerator(3);
  at::Tensor logits = at::randn({2, 6, 10}, gen);
  const at::Tensor tokens = at::randint(10, {2, 6}, gen, at::TensorOptions().dtype(at::kLong));
  // Row 0: prompt 0..2, answer 3..5. Row 1: prompt 0..1, answer 2..3, padding 4..5.
  const at::Tensor mask = at::tensor({0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0}, at::kLong).view({2, 6});
  const at::Tensor before = answerLogProbs(logits, tokens, mask);
  // Logits that predict prompt tokens, or come after the answer, or sit on padding.
  at::Tensor changed = logits.clone();
  for (int64_t t : {0, 1, 5}) changed[0][t] = at::randn({10}, gen) * 5;
  for (int64_t t : {0, 3, 4, 5}) changed[1][t] = at::randn({10}, gen) * 5;
  changed[1][5][0] = -std::numeric_limits<float>::infinity();
  EXPECT_TRUE(at::equal(answerLogProbs(changed, tokens, mask), before));
  // An answer-predicting position does matter.
  changed[1][2] += at::randn({10}, gen);
  EXPECT_FALSE(at::equal(answerLogProbs(changed, tokens, mask), before));
}

TEST(PreferenceLosses, DpoAndPcpoByHand) {
  const auto t = [](std::vector<double> v) { return at::tensor(v, at::kDouble); };
  // chosen: -1 - (-2) = 1, rejected: -3 - (-2.5) = -0.5, margin 1.5; second pair margin -1.
  const DpoLoss dpo = dpoLoss(t({-1.0, -2.0}), t({-3.0, -1.0}), t({-2.0, -2.0}), t({-2.5, -2.0}), 0.5);
  EXPECT_NEAR(dpo.loss.item<double>(), (softplus(-0.75) + softplus(0.5)) / 2, 1e-12);
  EXPECT_NEAR(dpo.chosenRewards[0].item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(dpo.rejectedRewards[0].item<double>(), -0.25, 1e-12);
  // (-1 - -4) - (-2 - -3) = 2.
  EXPECT_NEAR(pcpoLoss(t({-1.0}), t({-4.0}), t({-2.0}), t({-3.0}), 0.5).item<double>(), softplus(-1.0), 1e-12);
  EXPECT_NEAR(pcpoLoss(t({-1.0}), t({-4.0}), t({-2.0}), t({-3.0}), 2.0).item<double>(), softplus(-4.0), 1e-12);
}

TEST(PreferenceLosses, PairwiseRewardLossByHand) {
  const at::Tensor logits = at::tensor({2.0, 0.0, 0.0, 1.0}, at::kDouble).view({2, 2});
  const at::Tensor labels = at::tensor({0, 1}, at::kLong);
  const double ce = (softplus(-2.0) + softplus(-1.0)) / 2;
  EXPECT_NEAR(pairwiseRewardLoss(logits, labels).item<double>(), ce, 1e-12);
  const at::Tensor points = at::tensor({0.1, 0.2, 0.3, 0.4}, at::kDouble).view({2, 2});
  const at::Tensor ctrs = at::tensor({0.0, 0.2, 0.3, 0.2}, at::kDouble).view({2, 2});
  EXPECT_NEAR(pairwiseRewardLoss(logits, labels, points, ctrs).item<double>(), ce + 0.5 * (0.01 + 0.04) / 4, 1e-12);
  EXPECT_NEAR(pairwiseRewardLoss(logits, at::tensor({1, 0}, at::kLong)).item<double>(),
              (softplus(2.0) + softplus(1.0)) / 2, 1e-12);
}

TEST(PreferenceLosses, LastTokenOfLeftAndRightPaddedRows) {
  const at::Tensor mask = at::tensor({1, 1, 0, 0, 1, 1, 1, 1, 1}, at::kLong).view({3, 3});
  EXPECT_TRUE(at::equal(lastTokenIndices(mask), at::tensor({1, 2, 2}, at::kLong)));
  const at::Tensor hidden = at::arange(18, at::kFloat).view({3, 3, 2});
  EXPECT_TRUE(at::equal(lastTokenHidden(hidden, mask), at::tensor({2.f, 3.f, 10.f, 11.f, 16.f, 17.f}).view({3, 2})));
  EXPECT_THROW(lastTokenIndices(at::zeros({1, 3}, at::kLong)), std::invalid_argument);
}

TEST(CorruptedInputs, MasksThreeQuartersOfThePatches) {
  const at::Tensor image = at::rand({3, 100, 70}) + 0.5;  // no zero pixels
  const at::Tensor masked = maskImagePatches(image, 7);
  // 4 x 3 cells of 32 px (the last row and column partial): round(0.75 * 12) = 9 zeroed.
  int zeroed = 0;
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 3; ++c) {
      const at::Tensor cell = masked.narrow(1, r * 32, std::min<int64_t>(32, 100 - r * 32))
                                  .narrow(2, c * 32, std::min<int64_t>(32, 70 - c * 32));
      const bool allZero = cell.abs().sum().item<double>() == 0.0;
      const bool untouched = at::equal(cell, image.narrow(1, r * 32, cell.size(1)).narrow(2, c * 32, cell.size(2)));
      EXPECT_TRUE(allZero || untouched);
      zeroed += allZero ? 1 : 0;
    }
  EXPECT_EQ(zeroed, 9);
  EXPECT_TRUE(at::equal(maskImagePatches(image, 7), masked));
  bool anyDiffers = false;
  for (uint64_t seed = 8; seed < 12; ++seed) anyDiffers |= !at::equal(maskImagePatches(image, seed), masked);
  EXPECT_TRUE(anyDiffers);
  EXPECT_THROW(maskImagePatches(at::zeros({1, 8, 8}), 1), std::invalid_argument);
}

TEST(CorruptedInputs, OtherRecordsAreNeverTheRecordItself) {
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const auto other = otherRecordIndices(6, seed);
    ASSERT_EQ(other.size(), 6u);
    for (int64_t i = 0; i < 6; ++i) {
      EXPECT_NE(other[static_cast<std::size_t>(i)], i);
      EXPECT_GE(other[static_cast<std::size_t>(i)], 0);
      EXPECT_LT(other[static_cast<std::size_t>(i)], 6);
    }
  }
  EXPECT_THROW(otherRecordIndices(1, 0), std::invalid_argument);
  const auto kinds = chooseCorruptions(400, 3);
  const auto masked = std::count(kinds.begin(), kinds.end(), Corruption::MaskedImage);
  EXPECT_GT(masked, 150);
  EXPECT_LT(masked, 250);
}

// ---- a small preference dataset on a tiny random model -----------------------------------------

std::vector<PreferenceRecord> preferenceRecords(const LlamaModel& model, int64_t n, uint64_t seed) {
  std::vector<PreferenceRecord> records;
  for (int64_t i = 0; i < n; ++i) {
    PreferenceRecord r;
    const uint64_t s = seed * 100 + static_cast<uint64_t>(i) * 4;
    r.prompt = model.embedForTraining(randomIds(1, 3 + i % 3, s)).squeeze(0).detach();
    r.chosen = randomIds(1, 2 + i % 2, s + 1).squeeze(0);
    r.rejected = randomIds(1, 3 - i % 2, s + 2).squeeze(0);
    records.push_back(r);
  }
  const auto other = otherRecordIndices(n, seed);
  for (int64_t i = 0; i < n; ++i)  // another record's prompt stands in for x~
    records[static_cast<std::size_t>(i)].corruptedPrompt = records[static_cast<std::size_t>(other[static_cast<std::size_t>(i)])].prompt;
  return records;
}

LoraConfig smallLora(double dropout = 0.0) {
  LoraConfig c;
  c.rank = 4;
  c.alpha = 8;
  c.dropout = dropout;
  c.targetModules = {"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"};
  return c;
}

TEST(PreferenceGradients, DpoPlusPcpoMatchesFiniteDifferences) {
  for (const bool checkpoint : {false, true}) {
    LlamaModel model = randomModel(5, at::kDouble);
    LoraAdapters lora(model, smallLora(), 6);
    {
      torch::NoGradGuard noGrad;
      auto gen = at::detail::createCPUGenerator(9);
      for (auto& p : lora.parameters()) p.add_(0.2 * at::randn(p.sizes(), gen).to(at::kDouble));
    }
    const auto records = preferenceRecords(model, 3, 4);
    PreferenceJobOptions options;
    options.checkpointLayers = checkpoint;
    const TrainingJob job = preferenceJob(model, lora, records, 3, options);
    const std::vector<int64_t> all = {0, 1, 2};
    auto params = lora.namedParameters();
    for (auto& [n, p] : params) p.mutable_grad() = at::Tensor();
    job.lossOn(all).loss.backward();
    int checked = 0;
    for (const std::size_t which : {std::size_t{0}, std::size_t{3}, std::size_t{9}}) {
      at::Tensor p = params[which].second;
      const at::Tensor grad = p.grad().clone();
      ASSERT_GT(grad.abs().max().item<double>(), 0.0) << params[which].first;
      for (int64_t k : {int64_t{0}, p.numel() / 2, p.numel() - 1}) {
        const double eps = 1e-6;
        at::Tensor flat = p.detach().view({-1});
        const double orig = flat[k].item<double>();
        flat[k] = orig + eps;
        const double up = job.lossOn(all).loss.item<double>();
        flat[k] = orig - eps;
        const double down = job.lossOn(all).loss.item<double>();
        flat[k] = orig;
        const double numeric = (up - down) / (2 * eps);
        const double analytic = grad.view({-1})[k].item<double>();
        EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-5 * std::abs(numeric)) << params[which].first << "[" << k << "]";
        ++checked;
      }
    }
    EXPECT_EQ(checked, 9);
  }
}

TEST(Trainer, CosineScheduleWithWarmup) {
  EXPECT_DOUBLE_EQ(cosineWarmupFactor(0, 2, 10), 0.0);
  EXPECT_DOUBLE_EQ(cosineWarmupFactor(1, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(cosineWarmupFactor(2, 2, 10), 1.0);
  EXPECT_NEAR(cosineWarmupFactor(6, 2, 10), 0.5, 1e-12);
  EXPECT_NEAR(cosineWarmupFactor(10, 2, 10), 0.0, 1e-12);
}

// The reward-model toy task: sequence [left, 1, right]; the left one is better when its token
// is below 32. Both orders of every pair.
std::vector<RewardExample> toyRewardExamples(const LlamaModel& model, int64_t pairs, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const at::Tensor good = at::randint(2, 32, {pairs}, gen, at::TensorOptions().dtype(at::kLong));
  const at::Tensor bad = at::randint(32, 64, {pairs}, gen, at::TensorOptions().dtype(at::kLong));
  std::vector<RewardExample> out;
  for (int64_t i = 0; i < pairs; ++i) {
    for (int order = 0; order < 2; ++order) {
      const int64_t left = order == 0 ? good[i].item<int64_t>() : bad[i].item<int64_t>();
      const int64_t right = order == 0 ? bad[i].item<int64_t>() : good[i].item<int64_t>();
      RewardExample e;
      e.embeds = model.embedForTraining(at::tensor({left, int64_t{1}, right}, at::kLong).view({1, 3})).squeeze(0).detach();
      e.label = order;
      e.ctrLeft = order == 0 ? 0.04 : 0.01;
      e.ctrRight = order == 0 ? 0.01 : 0.04;
      out.push_back(e);
    }
  }
  return out;
}

struct RewardSetup {
  LlamaModel model;
  LoraAdapters lora;
  RewardHeads heads;
  RewardSetup(uint64_t loraSeed, uint64_t headSeed, double dropout)
      : model(randomModel(21)),
        lora(model, smallLora(dropout), loraSeed),
        heads(RewardHeads::create(32, true, headSeed, at::kCPU)) {}
  std::vector<std::pair<std::string, at::Tensor>> trainable() const {
    auto p = lora.namedParameters();
    for (const auto& h : heads.namedParameters()) p.push_back(h);
    return p;
  }
};

TEST(Trainer, RewardModelLearnsAToyRule) {
  RewardSetup s(1, 2, 0.0);
  const auto train = toyRewardExamples(s.model, 96, 3), heldOut = toyRewardExamples(s.model, 24, 4);
  const double before = pairwiseAccuracy(s.model, s.heads, heldOut);
  TrainerOptions o;
  o.learningRate = 2e-2;
  o.warmupSteps = 4;
  const TrainingJob job = rewardModelJob(s.model, s.lora, s.heads, train, 8);
  TrainingJob longer = job;
  longer.epochs = 20;
  o.totalSteps = trainingSteps(longer, 1);
  Trainer trainer(s.trainable(), o);
  const auto result = runTraining(trainer, longer, {});
  ASSERT_EQ(result.steps, o.totalSteps);
  EXPECT_TRUE(result.finished);
  double first = 0, last = 0;
  const auto perEpoch = static_cast<std::size_t>(trainingSteps(job, 1));
  for (std::size_t i = 0; i < perEpoch; ++i) {
    first += result.reports[i].loss;
    last += result.reports[result.reports.size() - 1 - i].loss;
  }
  EXPECT_LT(last, 0.7 * first);
  const double after = pairwiseAccuracy(s.model, s.heads, heldOut);
  EXPECT_GT(after, before);
  EXPECT_GE(after, 0.75) << "before " << before;
}

TEST(Trainer, ResumedRunMatchesAnUninterruptedOneBitForBit) {
  test::TempDir dir;
  TrainerOptions o;
  o.learningRate = 5e-3;
  o.warmupSteps = 2;
  o.gradientAccumulation = 2;
  o.seed = 17;
  auto makeJob = [](RewardSetup& s, const std::vector<RewardExample>& data) {
    TrainingJob job = rewardModelJob(s.model, s.lora, s.heads, data, 4);
    job.epochs = 2;
    return job;
  };
  // Straight through: 20 examples, 5 micro-batches, 3 steps an epoch, 6 in all.
  RewardSetup straight(1, 2, 0.1);
  const auto data = toyRewardExamples(straight.model, 10, 3);
  TrainingJob job = makeJob(straight, data);
  o.totalSteps = trainingSteps(job, o.gradientAccumulation);
  ASSERT_EQ(o.totalSteps, 6);
  Trainer t1(straight.trainable(), o);
  EXPECT_EQ(runTraining(t1, job, {}).steps, 6);

  // Three steps, a checkpoint, then a new process's worth of objects (other init seeds).
  TrainingRunOptions first;
  first.checkpointDir = dir.path() / "ckpt";
  first.stopAfterSteps = 3;
  first.logFile = dir.path() / "log.jsonl";
  {
    RewardSetup s(1, 2, 0.1);
    TrainingJob j = makeJob(s, data);
    Trainer t(s.trainable(), o);
    const auto r = runTraining(t, j, first);
    EXPECT_EQ(r.steps, 3);
    EXPECT_FALSE(r.finished);
  }
  const auto latest = latestCheckpoint(dir.path() / "ckpt");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->filename(), "checkpoint-3");
  for (const char* f : {"adapter_model.safetensors", "adapter_config.json", "reward_heads.safetensors",
                        "optimizer.safetensors", "trainer_state.json"})
    EXPECT_TRUE(std::filesystem::exists(*latest / f)) << f;
  const auto state = nlohmann::json::parse(std::ifstream(*latest / "trainer_state.json"));
  EXPECT_EQ(state.at("step"), 3);
  EXPECT_EQ(state.at("cursor"), 20);  // steps of 8, 8 and 4 records: the first epoch
  const auto opt = io::SafetensorsFile::open(*latest / "optimizer.safetensors");
  EXPECT_TRUE(opt.contains("score.weight.exp_avg_sq"));
  EXPECT_TRUE(opt.contains("base_model.model.model.layers.1.mlp.up_proj.lora_B.weight.step"));

  RewardSetup resumed(5, 6, 0.1);
  TrainingJob j = makeJob(resumed, data);
  Trainer t2(resumed.trainable(), o);
  TrainingRunOptions second;
  second.resumeFrom = *latest;
  second.logFile = dir.path() / "log.jsonl";
  const auto r = runTraining(t2, j, second);
  EXPECT_EQ(r.steps, 6);
  EXPECT_TRUE(r.finished);
  const auto a = straight.trainable(), b = resumed.trainable();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  // The log has one line per step of both runs.
  std::ifstream log(dir.path() / "log.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    const auto rec = nlohmann::json::parse(line);
    EXPECT_EQ(rec.at("step"), ++lines);
    EXPECT_GT(rec.at("tokens_per_s").get<double>(), 0.0);
  }
  EXPECT_EQ(lines, 6);
}

TEST(Trainer, CancellationStopsBetweenStepsWithACheckpoint) {
  test::TempDir dir;
  RewardSetup s(1, 2, 0.0);
  const auto data = toyRewardExamples(s.model, 8, 3);
  TrainingJob job = rewardModelJob(s.model, s.lora, s.heads, data, 2);
  TrainerOptions o;
  o.totalSteps = trainingSteps(job, 1);
  Trainer trainer(s.trainable(), o);
  std::atomic<bool> cancel{false};
  TrainingRunOptions ro;
  ro.cancel = &cancel;
  ro.checkpointDir = dir.path();
  std::vector<double> lrs;
  ro.onStep = [&](const StepReport& r) {
    lrs.push_back(r.learningRate);
    if (r.step == 2) cancel = true;
  };
  const auto r = runTraining(trainer, job, ro);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(r.cursor, 4);
  EXPECT_EQ(lrs.size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "checkpoint-2" / "trainer_state.json"));
}

TEST(Trainer, DpoPcpoRoundRaisesTheMarginAndKeepsTheReference) {
  LlamaModel model = randomModel(31);
  LoraAdapters lora(model, smallLora(), 32);
  const auto records = preferenceRecords(model, 8, 5);
  std::vector<at::Tensor> prompts, chosen;
  for (const auto& r : records) prompts.push_back(r.prompt), chosen.push_back(r.chosen);
  const at::Tensor refBefore = referenceLogProbs(model, prompts, chosen);
  const at::Tensor marginBefore = preferenceMargins(model, records);
  EXPECT_EQ(marginBefore.abs().max().item<double>(), 0.0);  // B = 0: policy == reference
  const at::Tensor baseWeight = model.parameter("model.layers.0.self_attn.q_proj.weight").clone();

  TrainingJob job = preferenceJob(model, lora, records, 4);
  job.epochs = 4;
  TrainerOptions o;
  o.learningRate = 1e-2;
  o.totalSteps = trainingSteps(job, 1);
  Trainer trainer(lora.namedParameters(), o);
  const auto result = runTraining(trainer, job, {});
  EXPECT_EQ(result.steps, 8);
  EXPECT_LT(result.reports.back().loss, result.reports.front().loss);
  const at::Tensor marginAfter = preferenceMargins(model, records);
  EXPECT_GT(marginAfter.mean().item<double>(), 0.5);
  EXPECT_TRUE(at::equal(referenceLogProbs(model, prompts, chosen), refBefore));
  EXPECT_TRUE(at::equal(model.parameter("model.layers.0.self_attn.q_proj.weight"), baseWeight));
  EXPECT_TRUE(model.adaptersEnabled());
}

}  // namespace
}  // namespace caig
