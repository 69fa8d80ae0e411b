// LLaVA end to end (vision tower + projector + LLaMA, one image placeholder replaced by the patch
// features) against transformers 4.38 in both checkpoint layouts, the separate-CLIP-tower
// loading of original LLaVA folders, the pairwise reward head, and the sampling loop's
// properties (seeding, processors, stop tokens, cancellation, one prefill for N rows).

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/llama.h"
#include "models/llava.h"
#include "models/llava_reward.h"
#include "models/sampling.h"
#include "tests/models/test_util.h"

namespace {

namespace fs = std::filesystem;
using caig::GenerationResult;
using caig::LlamaModel;
using caig::LlavaModel;
using caig::LlavaRewardModel;
using caig::SamplingOptions;
using caig::test::TempDir;

const fs::path kData = CAIG_TEST_DATA;
const fs::path kHf = kData / "tiny-llava-hf";
const fs::path kOriginal = kData / "tiny-llava";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble).to(a.device())).abs().max().item<double>();
}

caig::io::SafetensorsFile goldens() { return caig::io::SafetensorsFile::open(kData / "llava" / "io.safetensors"); }
nlohmann::json meta() { return nlohmann::json::parse(std::ifstream(kData / "llava" / "io.json")); }

// ids_before + [placeholder] + ids_after: the 27-id prompt transformers was given.
std::vector<int64_t> promptVector(int64_t placeholder) {
  const auto m = meta();
  auto ids = m.at("ids_before_image").get<std::vector<int64_t>>();
  ids.push_back(placeholder);
  for (const int64_t id : m.at("ids_after_image").get<std::vector<int64_t>>()) ids.push_back(id);
  return ids;
}
at::Tensor promptIds(int64_t placeholder = 999) { return at::tensor(promptVector(placeholder), at::kLong); }

std::vector<int64_t> goldenTokens() {
  const at::Tensor g = goldens().tensor("generated").contiguous();
  return std::vector<int64_t>(g.data_ptr<int64_t>(), g.data_ptr<int64_t>() + g.numel());
}

nlohmann::json readJson(const fs::path& p) { return nlohmann::json::parse(std::ifstream(p)); }
void writeJson(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(1); }

caig::io::NamedTensors allTensors(const caig::io::Checkpoint& c) {
  caig::io::NamedTensors out;
  for (const auto& name : c.names()) out.emplace_back(name, c.tensor(name));
  return out;
}

// ---- both layouts against the fixture --------------------------------------------------------

class LlavaLayouts : public ::testing::TestWithParam<const char*> {};

TEST_P(LlavaLayouts, LogitsFeaturesHiddenAndGreedyTokensMatchTransformers) {
  const auto io = goldens();
  const LlavaModel model = LlavaModel::load(kData / GetParam());
  EXPECT_EQ(model.imageSize(), 56);
  EXPECT_EQ(model.numImageTokens(), 16);
  EXPECT_EQ(model.imageTokenIndex(), 999);
  const at::Tensor pixels = io.tensor("pixel_values");

  const at::Tensor features = model.encodeImages(pixels);
  const double errFeatures = maxAbsErr(features, io.tensor("image_features"));
  const auto out = model.forward(promptIds().unsqueeze(0), pixels);
  ASSERT_EQ(out.logits.sizes(), (at::IntArrayRef{1, 42, 1000}));
  const double errLogits = maxAbsErr(out.logits, io.tensor("logits"));
  const double errHidden = maxAbsErr(out.hidden.select(1, 41), io.tensor("last_hidden"));
  std::printf("%s: image_features %.3g, logits (42 positions) %.3g, last_hidden %.3g\n", GetParam(), errFeatures,
              errLogits, errHidden);
  EXPECT_LE(errFeatures, 1e-4);
  EXPECT_LE(errLogits, 1e-4);
  EXPECT_LE(errHidden, 1e-4);

  // Greedy through the sampling loop (temperature 0) and through LlavaModel::generate.
  SamplingOptions greedy;
  greedy.temperature = 0.0;
  greedy.maxNewTokens = 12;
  const at::Tensor embeds = model.spliceEmbeddings(promptIds(), features[0]).unsqueeze(0);
  EXPECT_EQ(caig::generate(model.languageModel(), embeds, greedy).tokens.at(0), goldenTokens());
  const GenerationResult one = model.generate(promptIds(), pixels, 1, greedy);
  ASSERT_EQ(one.tokens.size(), 1u);
  EXPECT_EQ(one.tokens[0], goldenTokens());
  EXPECT_FALSE(one.cancelled);
  const GenerationResult three = model.generate(promptIds(), pixels, 3, greedy);
  ASSERT_EQ(three.tokens.size(), 3u);
  for (const auto& row : three.tokens) EXPECT_EQ(row, goldenTokens());
}

INSTANTIATE_TEST_SUITE_P(Fixture, LlavaLayouts, ::testing::Values("tiny-llava-hf", "tiny-llava"));

TEST(LlavaModel, SpliceRejectsPlaceholderMistakesAndTakesNegativeIds) {
  const auto io = goldens();
  const LlavaModel model = LlavaModel::load(kHf);
  const at::Tensor features = model.encodeImages(io.tensor("pixel_values"))[0];
  EXPECT_EQ(model.spliceEmbeddings(promptIds(), features).sizes(), (at::IntArrayRef{42, 32}));
  auto ids = promptVector(999);
  ids.erase(ids.begin() + 15);  // no placeholder
  EXPECT_THROW(model.spliceEmbeddings(at::tensor(ids, at::kLong), features), std::invalid_argument);
  ids = promptVector(999);
  ids[3] = 999;  // two placeholders
  EXPECT_THROW(model.spliceEmbeddings(at::tensor(ids, at::kLong), features), std::invalid_argument);
  ids = promptVector(999);
  ids[3] = 1000;  // outside the vocabulary
  EXPECT_THROW(model.spliceEmbeddings(at::tensor(ids, at::kLong), features), std::invalid_argument);
  EXPECT_THROW(model.spliceEmbeddings(promptIds(), features.narrow(1, 0, 31)), std::invalid_argument);
  EXPECT_THROW(model.forward(promptIds().unsqueeze(0), at::cat({io.tensor("pixel_values")}, 0).repeat({2, 1, 1, 1})),
               std::invalid_argument);

  // The original code's placeholder -200 is never embedded: same logits.
  const LlavaModel negative(caig::LlavaVisionModel::load(kHf), LlamaModel::load(kHf), -200);
  EXPECT_EQ(negative.imageTokenIndex(), -200);
  const auto out = negative.forward(promptIds(-200).unsqueeze(0), io.tensor("pixel_values"));
  EXPECT_LE(maxAbsErr(out.logits, io.tensor("logits")), 1e-4);
}

// A model dtype other than fp32 (fp16/bf16 on CUDA; float64 here on the CPU): the vision tower
// runs in it too, features are converted when spliced and the results stay on the fixture.
TEST(LlavaModel, LanguageModelDtypeFromOptions) {
  const auto io = goldens();
  caig::LlavaLoadOptions opts;
  opts.dtype = at::kDouble;
  const LlavaModel model = LlavaModel::load(kOriginal, opts);
  EXPECT_EQ(model.languageModel().dtype(), at::kDouble);
  EXPECT_EQ(model.visionModel().dtype(), at::kDouble);  // the tower follows the model's dtype
  EXPECT_EQ(model.encodeImages(io.tensor("pixel_values")).scalar_type(), at::kDouble);
  const auto out = model.forward(promptIds().unsqueeze(0), io.tensor("pixel_values"));
  EXPECT_LE(maxAbsErr(out.logits, io.tensor("logits")), 1e-4);
  SamplingOptions greedy;
  greedy.temperature = 0.0;
  greedy.maxNewTokens = 12;
  EXPECT_EQ(model.generate(promptIds(), io.tensor("pixel_values"), 2, greedy).tokens.at(1), goldenTokens());
}

// ---- an original-layout checkpoint whose CLIP tower lives in its own folder --------------------

// tiny-llava without its tower, in two shards, plus the tower as a CLIP vision folder.
struct SplitLlava {
  TempDir tmp;
  fs::path model = tmp / "llava";
  fs::path clipName = "clip-vit-tiny-patch14-56";  // the config's mm_vision_tower

  SplitLlava() {
    fs::create_directories(model);
    const auto source = caig::io::Checkpoint::open(kOriginal);
    caig::io::NamedTensors first, second, tower;
    nlohmann::json weightMap = nlohmann::json::object();
    const std::string towerPrefix = "model.vision_tower.vision_tower.";
    for (const auto& name : source.names()) {
      if (name.rfind(towerPrefix, 0) == 0) {
        tower.emplace_back(name.substr(towerPrefix.size()), source.tensor(name));
        continue;
      }
      auto& shard = name.rfind("model.layers.1.", 0) == 0 || name == "lm_head.weight" ? second : first;
      shard.emplace_back(name, source.tensor(name));
      weightMap[name] = &shard == &first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    caig::io::saveSafetensors(model / "model-00001-of-00002.safetensors", first);
    caig::io::saveSafetensors(model / "model-00002-of-00002.safetensors", second);
    writeJson(model / "model.safetensors.index.json", {{"metadata", nlohmann::json::object()}, {"weight_map", weightMap}});
    writeJson(model / "config.json", readJson(kOriginal / "config.json"));
    EXPECT_FALSE(tower.empty());
    writeTower(tmp / "clip-out-of-the-way", tower);
  }
  void writeTower(const fs::path& dir, const caig::io::NamedTensors& tower) {
    fs::create_directories(dir);
    caig::io::saveSafetensors(dir / "model.safetensors", tower);
    writeJson(dir / "config.json", readJson(kOriginal / "config.json").at("vision_config"));
  }
  fs::path towerDir() const { return tmp / "clip-out-of-the-way"; }
};

TEST(LlavaSeparateTower, MissingTowerNamesWhatWasLookedFor) {
  SplitLlava split;
  try {
    LlavaModel::load(split.model);
    FAIL() << "loaded without a vision tower";
  } catch (const caig::io::FileError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("clip-vit-tiny-patch14-56"), std::string::npos) << what;
    EXPECT_NE(what.find((split.model / "vision_tower").string()), std::string::npos) << what;
    EXPECT_NE(what.find("visionTowerDir"), std::string::npos) << what;
  }
  caig::LlavaLoadOptions wrong;
  wrong.visionTowerDir = split.tmp / "nowhere";
  EXPECT_THROW(LlavaModel::load(split.model, wrong), caig::io::FileError);
}

TEST(LlavaSeparateTower, TowerFromOptionsOrBesideTheModelReproducesTheLogits) {
  SplitLlava split;
  const auto io = goldens();
  const at::Tensor pixels = io.tensor("pixel_values");
  caig::LlavaLoadOptions opts;
  opts.visionTowerDir = split.towerDir();
  {
    const LlavaModel model = LlavaModel::load(split.model, opts);
    EXPECT_LE(maxAbsErr(model.forward(promptIds().unsqueeze(0), pixels).logits, io.tensor("logits")), 1e-4);
  }
  // <model>/<last component of mm_vision_tower>, with the vision config taken from the tower's
  // own config.json when the LLaVA config has none (as real LLaVA-1.5 configs).
  fs::rename(split.towerDir(), split.model / split.clipName);
  auto config = readJson(split.model / "config.json");
  config.erase("vision_config");
  writeJson(split.model / "config.json", config);
  const LlavaModel model = LlavaModel::load(split.model);
  EXPECT_EQ(model.numImageTokens(), 16);
  EXPECT_LE(maxAbsErr(model.encodeImages(pixels), io.tensor("image_features")), 1e-4);
  EXPECT_LE(maxAbsErr(model.forward(promptIds().unsqueeze(0), pixels).logits, io.tensor("logits")), 1e-4);
}

// ---- reward model ----------------------------------------------------------------------------

// A copy of `source` with extra tensors (and optionally some removed) in one safetensors file.
fs::path rewardFolder(const TempDir& tmp, const fs::path& source, const caig::io::NamedTensors& extra,
                      const std::string& drop = "") {
  const fs::path dir = tmp / "rm";
  fs::create_directories(dir);
  auto tensors = allTensors(caig::io::Checkpoint::open(source));
  if (!drop.empty())
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.first == drop; }),
                  tensors.end());
  for (const auto& t : extra) tensors.push_back(t);
  caig::io::saveSafetensors(dir / "model.safetensors", tensors);
  fs::copy_file(source / "config.json", dir / "config.json");
  return dir;
}

TEST(LlavaReward, ScoreHeadReproducesRmLogits) {
  const auto io = goldens();
  TempDir tmp;
  const at::Tensor w = io.tensor("rm_head_weight"), b = io.tensor("rm_head_bias");
  const at::Tensor pointW = at::randn({2, 32}, at::TensorOptions().dtype(at::kFloat));
  const fs::path dir = rewardFolder(tmp, kHf, {{"score.weight", w}, {"score.bias", b}, {"point_head.weight", pointW}});
  const LlavaRewardModel rm = LlavaRewardModel::load(dir);
  EXPECT_TRUE(rm.hasPointHead());
  const at::Tensor pixels = io.tensor("pixel_values");
  const auto out = rm.forward(promptIds().unsqueeze(0), pixels);
  const double err = maxAbsErr(out.logits, io.tensor("rm_logits"));
  std::printf("rm_logits max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-4);
  EXPECT_LE(maxAbsErr(out.points, at::matmul(io.tensor("last_hidden"), pointW.t())), 1e-4);
  EXPECT_LE(maxAbsErr(rm.pairLogits(promptIds().unsqueeze(0), pixels), io.tensor("rm_logits")), 1e-4);

  // Both orders: the average and the disagreement follow from the two softmaxes.
  const at::Tensor flipped = pixels.flip(-1);
  const auto pref = rm.scorePair(promptIds(), pixels, flipped);
  const double pAB = rm.pairLogits(promptIds().unsqueeze(0), pixels).softmax(-1)[0][0].item<double>();
  const double pBA = rm.pairLogits(promptIds().unsqueeze(0), flipped).softmax(-1)[0][0].item<double>();
  EXPECT_NEAR(pref.probAB, pAB, 1e-5);
  EXPECT_NEAR(pref.probBA, pBA, 1e-5);
  EXPECT_NEAR(pref.probAWins, 0.5 * (pAB + 1.0 - pBA), 1e-5);
  EXPECT_NEAR(pref.disagreement, std::abs(pAB - (1.0 - pBA)), 1e-5);
  // Swapping the pair mirrors the answer.
  const auto swapped = rm.scorePair(promptIds(), flipped, pixels);
  EXPECT_NEAR(swapped.probAWins, 1.0 - pref.probAWins, 1e-5);
  EXPECT_NEAR(swapped.disagreement, pref.disagreement, 1e-5);
}

TEST(LlavaReward, SequenceClassifierWithoutLmHeadInOriginalLayout) {
  const auto io = goldens();
  TempDir tmp;
  const fs::path dir =
      rewardFolder(tmp, kOriginal, {{"score.weight", io.tensor("rm_head_weight")}, {"score.bias", io.tensor("rm_head_bias")}},
                   "lm_head.weight");
  const LlavaRewardModel rm = LlavaRewardModel::load(dir);
  EXPECT_FALSE(rm.hasPointHead());
  EXPECT_LE(maxAbsErr(rm.pairLogits(promptIds().unsqueeze(0), io.tensor("pixel_values")), io.tensor("rm_logits")),
            1e-4);
  // A causal LM loader still refuses it.
  EXPECT_THROW(LlavaModel::load(dir), caig::io::FormatError);
}

TEST(LlavaReward, MissingOrMisshapenHeadIsAClearError) {
  try {
    LlavaRewardModel::load(kHf);
    FAIL() << "loaded a reward model without a head";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("score.weight missing"), std::string::npos) << e.what();
  }
  TempDir tmp;
  const fs::path dir = rewardFolder(tmp, kHf, {{"score.weight", at::zeros({3, 32})}});
  EXPECT_THROW(LlavaRewardModel::load(dir), caig::io::FormatError);
}

// ---- sampling ---------------------------------------------------------------------------------

struct Qwen {
  LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  at::Tensor ids = caig::io::SafetensorsFile::open(kData / "qwen2" / "io.safetensors").tensor("input_ids");
  at::Tensor embeds() const { return model.embed(ids); }
  // Two different prompts of the same length.
  at::Tensor embeds2() const { return model.embed(at::cat({ids, ids.flip(1)}, 0)); }
};

SamplingOptions sampled(uint64_t seed, int64_t n = 20) {
  SamplingOptions o;
  o.maxNewTokens = n;
  o.temperature = 1.5;
  o.seed = seed;
  return o;
}

TEST(Sampling, SeedDecidesTheOutput) {
  const Qwen q;
  const auto a = caig::generate(q.model, q.embeds(), sampled(1));
  const auto b = caig::generate(q.model, q.embeds(), sampled(1));
  const auto c = caig::generate(q.model, q.embeds(), sampled(2));
  ASSERT_EQ(a.tokens.at(0).size(), 20u);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_NE(a.tokens, c.tokens);
}

TEST(Sampling, TopKOneAndTinyTopPAreGreedy) {
  const Qwen q;
  caig::GreedyOptions g;
  g.maxNewTokens = 10;
  const at::Tensor greedy = q.model.generateGreedy(q.ids, g).tokens[0].contiguous();
  const std::vector<int64_t> want(greedy.data_ptr<int64_t>(), greedy.data_ptr<int64_t>() + greedy.numel());
  SamplingOptions k = sampled(3, 10);
  k.topK = 1;
  EXPECT_EQ(caig::generate(q.model, q.embeds(), k).tokens.at(0), want);
  SamplingOptions p = sampled(4, 10);
  p.topP = 1e-6;
  EXPECT_EQ(caig::generate(q.model, q.embeds(), p).tokens.at(0), want);
  SamplingOptions zero = sampled(5, 10);
  zero.temperature = 0.0;
  EXPECT_EQ(caig::generate(q.model, q.embeds(), zero).tokens.at(0), want);
}

TEST(Sampling, ProcessorsFollowTransformersFormulas) {
  const at::Tensor logits = at::tensor({2.0f, -1.0f, 0.5f, -3.0f, 1.0f}).view({1, 5});
  SamplingOptions o;
  o.repetitionPenalty = 2.0;
  // Seen: 0 (positive: divided), 1 (negative: multiplied), 1 again, 7 (outside the vocabulary).
  const at::Tensor p = caig::processLogits(logits, {{0, 1, 1, 7}}, o);
  const at::Tensor want = at::tensor({1.0f, -2.0f, 0.5f, -3.0f, 1.0f}).view({1, 5});
  EXPECT_TRUE(at::equal(p, want)) << p;
  // Temperature divides; top-k keeps the k largest.
  SamplingOptions t;
  t.temperature = 0.5;
  t.topK = 2;
  const at::Tensor tk = caig::processLogits(logits, {}, t);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(at::equal(tk, at::tensor({4.0f, -inf, -inf, -inf, 2.0f}).view({1, 5}))) << tk;
  // top-p 0.7 over probabilities (0.5, 0.3, 0.15, 0.05): the two most likely survive.
  const at::Tensor probs = at::tensor({0.15f, 0.5f, 0.05f, 0.3f}).view({1, 4});
  SamplingOptions nucleus;
  nucleus.topP = 0.7;
  const at::Tensor kept = caig::processLogits(probs.log(), {}, nucleus).isfinite();
  EXPECT_TRUE(at::equal(kept, at::tensor({0, 1, 0, 1}).to(at::kBool).view({1, 4}))) << kept;
  EXPECT_THROW(caig::processLogits(logits, {}, [] {
                 SamplingOptions bad;
                 bad.topP = 0.0;
                 return bad;
               }()),
               std::invalid_argument);
}

TEST(Sampling, RepetitionPenaltyInTheLoopMatchesAFullRecomputation) {
  const Qwen q;
  SamplingOptions o;
  o.temperature = 0.0;
  o.repetitionPenalty = 3.0;
  o.maxNewTokens = 16;
  const at::Tensor ids = q.ids.contiguous();
  std::vector<int64_t> history(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel());
  const auto got = caig::generate(q.model, q.embeds(), {history}, o).tokens.at(0);
  // Reference: no cache, the whole sequence each step, penalty over prompt + generated.
  std::vector<int64_t> want;
  for (int i = 0; i < 16; ++i) {
    const at::Tensor last = q.model.forward(at::tensor(history, at::kLong).unsqueeze(0)).logits.select(1, -1);
    const int64_t next = caig::processLogits(last, {history}, o).argmax(-1).item<int64_t>();
    want.push_back(next);
    history.push_back(next);
  }
  EXPECT_EQ(got, want);
  o.repetitionPenalty = 1.0;
  // The penalty matters here (otherwise the comparison proves little).
  EXPECT_NE(caig::generate(q.model, q.embeds(), o).tokens.at(0), want);
}

TEST(Sampling, StopTokensEndRowsIndependently) {
  const Qwen q;
  SamplingOptions o = sampled(11, 16);
  const auto free = caig::generate(q.model, q.embeds2(), o);
  ASSERT_EQ(free.tokens.size(), 2u);
  // Stop on row 0's fourth token: row 0 ends there, row 1 wherever (if) it produces it.
  const int64_t stop = free.tokens[0][3];
  o.stopTokenIds = {stop, 123456};
  const auto stopped = caig::generate(q.model, q.embeds2(), o);
  for (std::size_t r = 0; r < 2; ++r) {
    const auto& full = free.tokens[r];
    const auto it = std::find(full.begin(), full.end(), stop);
    const std::vector<int64_t> want(full.begin(), it == full.end() ? it : it + 1);
    EXPECT_EQ(stopped.tokens[r], want) << "row " << r;
  }
  EXPECT_LE(stopped.tokens[0].size(), 4u);
  EXPECT_FALSE(stopped.cancelled);
}

TEST(Sampling, CancelByCallbackOrFlagKeepsTheTokensSoFar) {
  const Qwen q;
  const SamplingOptions o = sampled(21, 12);
  const auto full = caig::generate(q.model, q.embeds2(), o);
  int calls = 0;
  const auto byCallback = caig::generate(q.model, q.embeds2(), o, [&](int64_t, int64_t) { return ++calls < 5; });
  EXPECT_TRUE(byCallback.cancelled);
  EXPECT_EQ(calls, 5);
  // Step 0 gave rows 0 and 1, step 1 likewise, step 2 row 0 only.
  EXPECT_EQ(byCallback.tokens[0], std::vector<int64_t>(full.tokens[0].begin(), full.tokens[0].begin() + 3));
  EXPECT_EQ(byCallback.tokens[1], std::vector<int64_t>(full.tokens[1].begin(), full.tokens[1].begin() + 2));

  std::atomic<bool> cancel{false};
  int steps = 0;
  const auto byFlag = caig::generate(
      q.model, q.embeds2(), o,
      [&](int64_t row, int64_t) {
        if (row == 1 && ++steps == 2) cancel = true;  // raised during step 1: step 2 never runs
        return true;
      },
      &cancel);
  EXPECT_TRUE(byFlag.cancelled);
  for (std::size_t r = 0; r < 2; ++r)
    EXPECT_EQ(byFlag.tokens[r], std::vector<int64_t>(full.tokens[r].begin(), full.tokens[r].begin() + 2));
  std::atomic<bool> already{true};
  const auto none = caig::generate(q.model, q.embeds(), o, {}, &already);
  EXPECT_TRUE(none.cancelled);
  EXPECT_TRUE(none.tokens.at(0).empty());
}

TEST(Sampling, OnePrefillForNRowsEqualsSeparateRunsWithTheirSeeds) {
  const auto io = goldens();
  const LlavaModel model = LlavaModel::load(kHf);
  const at::Tensor pixels = io.tensor("pixel_values");
  SamplingOptions o = sampled(40, 10);
  o.topK = 50;
  o.topP = 0.9;
  o.repetitionPenalty = 1.1;
  o.stopTokenIds = {2};
  const auto batch = model.generate(promptIds(), pixels, 4, o);
  ASSERT_EQ(batch.tokens.size(), 4u);
  for (uint64_t r = 0; r < 4; ++r) {
    SamplingOptions single = o;
    single.seed = o.seed + r;
    EXPECT_EQ(model.generate(promptIds(), pixels, 1, single).tokens.at(0), batch.tokens[r]) << "row " << r;
  }
  EXPECT_NE(batch.tokens[0], batch.tokens[1]);  // diverse rows from one prefill
  // The repeated cache equals prefilling the rows.
  const LlamaModel& lm = model.languageModel();
  const at::Tensor embeds = model.spliceEmbeddings(promptIds(), model.encodeImages(pixels)[0]).unsqueeze(0);
  auto one = lm.newCache(1, 50);
  lm.forwardEmbeddings(embeds, &one, false);
  auto many = lm.newCache(3, 50);
  lm.forwardEmbeddings(embeds.expand({3, -1, -1}), &many, false);
  const auto repeated = caig::repeatCacheRows(one, 3);
  EXPECT_EQ(repeated.length, many.length);
  EXPECT_LE(maxAbsErr(repeated.keys[1], many.keys[1]), 1e-5);
  EXPECT_LE(maxAbsErr(repeated.values[0], many.values[0]), 1e-5);
}

}  // namespace
