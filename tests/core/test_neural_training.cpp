// Neural training on a project's clicks, on the tiny fixture models: LoRA fine-tuning of the
// LLaVA reward model (core/training/neural_rm_training.h) and the PCPO rounds of the LLaVA prompt model
// (core/training/neural_pcpo.h). Tiny models, few steps, small images: seconds on a CPU.

#include <gtest/gtest.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/ranking/builtin_ranker.h"
#include "core/clicks/click_data.h"
#include "core/llava/clip_preprocess.h"
#include "core/ranking/ctr_ranker.h"
#include "core/image/image_io.h"
#include "core/training/neural_pcpo.h"
#include "core/llava/neural_ranker.h"
#include "core/training/neural_rm_training.h"
#include "core/project/project.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/llava.h"
#include "models/llava_reward.h"
#include "models/lora.h"
#include "models/preference_training.h"
#include "tiny_reward_model_file.h"

namespace fs = std::filesystem;

namespace {

const fs::path kData = CAIG_TEST_DATA;
const fs::path kTokenizer = kData / "tiny-llava-tok";
constexpr int64_t kImageToken = 999;  // tiny-llava-hf's image_token_index

fs::path tempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("caig_neuraltrain_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

fs::path rewardModelFolder() {
  static const fs::path dir = caig::test::writeTinyRewardModelFile(kData, tempDir("rm") / "tiny-rm");
  return dir;
}

// A learnable toy rule: within each product, the brighter creative has the higher CTR (each
// step of brightness is a CTR ratio of 1.1, inside CAIG's [1.05, 1.20] for neighbours only).
// Four products of four creatives: 3 pairs each.
fs::path toyClicksCsv() {
  static const fs::path csv = [] {
    const fs::path d = tempDir("toy-clicks");
    std::ostringstream rows;
    rows << "creative_id,image_path,product_id,product_name,impressions,clicks\n";
    const char* titles[] = {"Teal Mug", "Amber Perfume", "Cream Jar", "Green Bottle"};
    for (int p = 0; p < 4; ++p) {
      for (int v = 0; v < 4; ++v) {
        const int level = 30 + 60 * v;
        cv::Mat img(48, 48, CV_8UC3, cv::Scalar(level, level + 10 * p % 25, level));
        cv::circle(img, {24, 24}, 10, cv::Scalar(40 * p, 200 - 40 * p, 90), cv::FILLED);  // "the product"
        const std::string file = "P" + std::to_string(p) + "-V" + std::to_string(v) + ".png";
        caig::saveImage(d / file, img);
        const double ctr = 0.02 * std::pow(1.1, v);
        rows << "c" << p << v << "," << file << ",P" << p << "," << titles[p] << ",20000,"
             << static_cast<int>(std::lround(20000 * ctr)) << "\n";
      }
    }
    std::ofstream(d / "clicks.csv") << rows.str();
    return d / "clicks.csv";
  }();
  return csv;
}

caig::Project toyProject(const std::string& name) {
  auto project = caig::Project::create(tempDir(name) / "project");
  caig::importClicks(project, toyClicksCsv());
  return project;
}

caig::NeuralRmOptions tinyRmOptions() {
  caig::NeuralRmOptions o;
  o.modelDir = rewardModelFolder();
  o.tokenizerDir = kTokenizer;
  o.device = "cpu";
  o.pairSide = 32;  // small pair images keep it fast (CAIG: 512)
  o.validationFraction = 0.25;
  o.lora.rank = 4;
  o.lora.alpha = 8;
  o.batchSize = 6;
  o.learningRate = 3e-3;
  o.steps = 4;
  return o;
}

std::vector<nlohmann::json> readLog(const fs::path& file) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));  // throws on a bad line
  return lines;
}

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

std::string fileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

// ---- reward model -----------------------------------------------------------------------------

TEST(NeuralRewardModel, TrainsOnClickPairsAndSavesALoadableAdapter) {
  auto project = toyProject("rm-train");
  auto o = tinyRmOptions();
  o.merge = true;
  o.evalEvery = 10;
  // Full-batch steps on the 18 training examples. The tiny random model hears the image only
  // faintly at its last token (near-uniform attention over the image positions), so the
  // log-loss moves by thousandths while the ranking becomes right.
  o.batchSize = 18;
  o.lora.rank = 16;
  o.lora.alpha = 32;
  o.learningRate = 1e-3;
  o.steps = 40;
  const auto r = caig::trainNeuralRewardModel(project, o);

  EXPECT_EQ(r.pairStats.pairs, 12);
  EXPECT_EQ(r.trainPairs + r.validationPairs, 12);
  EXPECT_EQ(r.validationProducts, 1);
  EXPECT_EQ(r.trainExamples, 2 * r.trainPairs);  // both orders
  EXPECT_EQ(r.steps, 40);
  ASSERT_EQ(r.stepLosses.size(), 40u);

  EXPECT_FALSE(r.cancelled);
  // The toy rule is learnable: the training pairs' log-loss goes down.
  EXPECT_LT(r.trainAfter.logLoss, r.trainBefore.logLoss - 1e-3) << r.summary();
  EXPECT_GE(r.trainAfter.accuracy, 0.75) << r.summary();
  EXPECT_GT(r.trainAfter.accuracy, r.trainBefore.accuracy) << r.summary();
  ASSERT_TRUE(r.validationBefore && r.validationAfter);
  EXPECT_EQ(r.validationAfter->pairs, r.validationPairs);

  // The log has the built-in trainer's events, every line JSON.
  const auto log = readLog(r.logFile);
  ASSERT_GE(log.size(), 42u);
  EXPECT_EQ(log.front().at("event"), "start");
  EXPECT_TRUE(log.front().contains("untrained"));
  int steps = 0, withVal = 0;
  for (const auto& l : log)
    if (l.at("event") == "step") {
      ++steps;
      EXPECT_TRUE(l.at("loss").is_number());
      EXPECT_TRUE(l.at("elapsed").is_number());
      withVal += l.contains("valAccuracy") ? 1 : 0;
    }
  EXPECT_EQ(steps, 40);
  EXPECT_EQ(withVal, 4);  // every 10 steps
  EXPECT_EQ(log.back().at("event"), "end");
  EXPECT_TRUE(log.back().at("metrics").contains("validation"));

  // The adapter folder and the merged folder; both registered; the run recorded.
  EXPECT_TRUE(fs::is_regular_file(r.adapterDir / "adapter_model.safetensors"));
  EXPECT_TRUE(fs::is_regular_file(r.adapterDir / "adapter_config.json"));
  EXPECT_TRUE(fs::is_regular_file(r.adapterDir / "reward_heads.safetensors"));
  EXPECT_TRUE(caig::isRewardModelFolder(r.mergedDir));
  EXPECT_TRUE(fs::is_regular_file(r.mergedDir / "tokenizer.model"));
  std::set<std::string> kinds;
  for (const auto& m : project.store().models()) kinds.insert(m.kind);
  EXPECT_TRUE(kinds.count("adapter") && kinds.count("reward"));
  const auto runs = project.store().trainingRuns();
  ASSERT_FALSE(runs.empty());
  EXPECT_EQ(runs.back().kind, "reward-model");
  EXPECT_EQ(runs.back().status, "finished");

  // Ranking with the adapter: the base + adapter + trained head, the merged folder agrees, and
  // both differ from the base model.
  const auto adapted = caig::loadAdaptedRewardModel(r.adapterDir);
  const auto merged = caig::LlavaRewardModel::load(r.mergedDir);
  const auto base = caig::LlavaRewardModel::load(rewardModelFolder());
  const at::Tensor ids =
      at::tensor(std::vector<int64_t>{1, 5, kImageToken, 17, 42, 9}, at::kLong).unsqueeze(0).repeat({2, 1});
  caig::ClipPreprocessOptions pre;
  pre.size = 56;
  const cv::Mat a(40, 40, CV_8UC3, cv::Scalar(30, 30, 30)), b(40, 40, CV_8UC3, cv::Scalar(210, 210, 210));
  const at::Tensor pixels = caig::clipPreprocessBatch({caig::sideBySide(a, b, 32), caig::sideBySide(b, a, 32)}, pre);
  const at::Tensor la = adapted.pairLogits(ids, pixels), lm = merged.pairLogits(ids, pixels),
                   lb = base.pairLogits(ids, pixels);
  EXPECT_LT(maxAbsDiff(la, lm), 1e-4);
  EXPECT_GT(maxAbsDiff(la, lb), 1e-3);

  // The CTR scale fitted on the training pairs (the trained model orders most of them right, so
  // it is positive) travels with the merged folder, and the neural ranker reads it; a damaged
  // file costs the lifts their CTR terms, not the ranking.
  ASSERT_TRUE(r.ctrScale.has_value()) << r.summary();
  EXPECT_GT(*r.ctrScale, 0.0);
  EXPECT_NE(r.summary().find("CTR scale"), std::string::npos) << r.summary();
  EXPECT_EQ(caig::readCtrCalibration(r.mergedDir), r.ctrScale);
  caig::NeuralRankerOptions ro;
  ro.engine.modelDir = r.mergedDir;
  ro.engine.device = "cpu";
  ro.pairSide = 32;
  {
    caig::NeuralRanker ranker(ro);
    EXPECT_EQ(ranker.ctrScale(), r.ctrScale);
    EXPECT_NE(ranker.status().find("CTR scale"), std::string::npos) << ranker.status();
  }
  std::ofstream(r.mergedDir / caig::kCtrCalibrationFile) << "{\"format\": \"caig-ctr-calibration\", \"ctrScale\": -1}";
  EXPECT_THROW(caig::readCtrCalibration(r.mergedDir), caig::io::FormatError);
  {
    caig::NeuralRanker ranker(ro);
    EXPECT_FALSE(ranker.ctrScale().has_value());
    EXPECT_NE(ranker.status().find("ctr_calibration.json"), std::string::npos) << ranker.status();
  }
  fs::remove(r.mergedDir / caig::kCtrCalibrationFile);
  EXPECT_FALSE(caig::readCtrCalibration(r.mergedDir).has_value());
}

TEST(NeuralRewardModel, CancelsWithACheckpointAndResumesToTheSameWeights) {
  // Uninterrupted reference run.
  auto project = toyProject("rm-resume");
  auto o = tinyRmOptions();
  o.steps = 4;
  o.name = "straight";
  const auto straight = caig::trainNeuralRewardModel(project, o);
  ASSERT_EQ(straight.steps, 4);

  // Cancelled after step 2: a checkpoint, no model, the run marked cancelled.
  std::atomic<bool> cancel{false};
  o.name = "interrupted";
  o.cancel = &cancel;
  o.progress = [&cancel](const caig::RmProgress& p) {
    if (p.phase == "train" && p.step == 2) cancel = true;
  };
  const auto first = caig::trainNeuralRewardModel(project, o);
  EXPECT_TRUE(first.cancelled);
  EXPECT_EQ(first.steps, 2);
  EXPECT_EQ(first.lastCheckpoint.filename(), "checkpoint-2");
  EXPECT_TRUE(fs::is_regular_file(first.lastCheckpoint / "trainer_state.json"));
  EXPECT_TRUE(first.adapterDir.empty());
  EXPECT_FALSE(fs::exists(project.absolute("models/interrupted")));
  EXPECT_EQ(readLog(first.logFile).back().at("event"), "cancelled");
  EXPECT_EQ(project.store().trainingRuns().back().status, "cancelled");

  // Resumed: two more steps, the same weights as the uninterrupted run.
  cancel = false;
  o.progress = {};
  o.resume = true;
  const auto second = caig::trainNeuralRewardModel(project, o);
  EXPECT_FALSE(second.cancelled);
  EXPECT_EQ(second.resumedFromStep, 2);
  EXPECT_EQ(second.steps, 4);
  EXPECT_EQ(second.stepLosses.size(), 2u);
  const auto x = caig::io::SafetensorsFile::open(straight.adapterDir / "adapter_model.safetensors");
  const auto y = caig::io::SafetensorsFile::open(second.adapterDir / "adapter_model.safetensors");
  ASSERT_EQ(x.tensors().size(), y.tensors().size());
  for (const auto& info : x.tensors())
    EXPECT_LT(maxAbsDiff(x.tensor(info.name), y.tensor(info.name)), 1e-5) << info.name;
  const auto hx = caig::io::SafetensorsFile::open(straight.adapterDir / "reward_heads.safetensors");
  const auto hy = caig::io::SafetensorsFile::open(second.adapterDir / "reward_heads.safetensors");
  EXPECT_LT(maxAbsDiff(hx.tensor("score.weight"), hy.tensor("score.weight")), 1e-5);

  // Nothing to resume from: a clear error.
  o.name = "never-trained";
  try {
    caig::trainNeuralRewardModel(project, o);
    FAIL() << "resume without a checkpoint must fail";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint"), std::string::npos) << e.what();
  }
}

TEST(NeuralRewardModel, RejectsBadInput) {
  // No click data at all.
  {
    auto empty = caig::Project::create(tempDir("rm-empty") / "project");
    try {
      caig::trainNeuralRewardModel(empty, tinyRmOptions());
      FAIL();
    } catch (const caig::RankerError& e) {
      EXPECT_NE(std::string(e.what()).find("no click data"), std::string::npos) << e.what();
    }
  }
  auto project = toyProject("rm-bad");
  // Clicks but no pair within the rules.
  {
    auto o = tinyRmOptions();
    o.rules.minImpressions = 1000000;
    try {
      caig::trainNeuralRewardModel(project, o);
      FAIL();
    } catch (const caig::RankerError& e) {
      EXPECT_NE(std::string(e.what()).find("no training pairs"), std::string::npos) << e.what();
    }
  }
  // A LLaVA folder without a score head.
  {
    auto o = tinyRmOptions();
    o.modelDir = kData / "tiny-llava-hf";
    try {
      caig::trainNeuralRewardModel(project, o);
      FAIL();
    } catch (const caig::io::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("not a reward-model folder"), std::string::npos) << e.what();
    }
  }
  // No tokenizer (the RM folder has none and none is named).
  {
    auto o = tinyRmOptions();
    o.tokenizerDir.clear();
    try {
      caig::trainNeuralRewardModel(project, o);
      FAIL();
    } catch (const caig::io::FileError& e) {
      EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
    }
  }
  // Each was refused before anything was recorded or written.
  EXPECT_TRUE(project.store().trainingRuns().empty());
  EXPECT_FALSE(fs::exists(project.absolute("models")));
}

// ---- PCPO -----------------------------------------------------------------------------------

TEST(NeuralPcpo, MasksThreeQuartersOfThe32PixelPatches) {
  cv::Mat shot(256, 320, CV_8UC3, cv::Scalar(200, 150, 100));
  const cv::Mat masked = caig::maskProductPatches(shot, 7);
  int zeroed = 0, kept = 0;
  for (int y = 0; y < 256; y += 32)
    for (int x = 0; x < 320; x += 32) {
      const cv::Mat cell = masked(cv::Rect(x, y, 32, 32));
      if (cv::countNonZero(cell.reshape(1)) == 0)
        ++zeroed;
      else if (cv::norm(cell, shot(cv::Rect(x, y, 32, 32)), cv::NORM_INF) == 0)
        ++kept;  // untouched, not partly masked
    }
  EXPECT_EQ(zeroed, 60);  // 75% of 10 x 8
  EXPECT_EQ(kept, 20);
  EXPECT_FALSE(cv::norm(caig::maskProductPatches(shot, 8), masked, cv::NORM_INF) == 0);  // seeded
}

TEST(NeuralPcpo, OneRoundOnTwoProductsTrainsSavesAndKeepsTheReference) {
  auto project = caig::Project::create(tempDir("pcpo") / "project");
  const fs::path baseDir = kData / "tiny-llava-hf";
  const std::string baseBytes = fileBytes(baseDir / "model.safetensors");
  caig::BuiltinRanker ranker;
  caig::NeuralPcpoOptions o;
  o.modelDir = baseDir;
  o.tokenizerDir = kTokenizer;
  o.device = "cpu";
  o.rounds = 1;
  o.productsPerRound = 2;
  o.maxNewTokens = 6;
  o.lora.rank = 4;
  o.lora.alpha = 8;
  o.learningRate = 1e-3;
  o.demoShotSize = 128;
  o.preset = "1:1-512";
  o.seed = 3;
  const auto r = caig::runNeuralPcpo(project, ranker, o);

  ASSERT_EQ(r.rounds.size(), 1u) << r.summary();
  const auto& round = r.rounds.front();
  ASSERT_EQ(round.records.size() + static_cast<std::size_t>(round.skipped), 2u);
  ASSERT_GE(round.records.size(), 1u);
  EXPECT_EQ(round.maskedImage + round.otherText, static_cast<int>(round.records.size()));
  EXPECT_TRUE(std::isfinite(round.loss));
  EXPECT_TRUE(std::isfinite(round.marginAfter));

  // Well-formed records.
  std::set<std::string> products;
  for (const auto& rec : round.records) {
    products.insert(rec.product);
    EXPECT_EQ(std::count(rec.promptIds.begin(), rec.promptIds.end(), kImageToken), 1);
    EXPECT_FALSE(rec.chosen.empty());
    EXPECT_FALSE(rec.rejected.empty());
    EXPECT_NE(rec.chosen, rec.rejected);
    EXPECT_EQ(std::count(rec.chosen.begin(), rec.chosen.end(), kImageToken), 0);
    if (rec.maskedImage) {
      EXPECT_EQ(rec.corruptedPromptIds, rec.promptIds);
      ASSERT_FALSE(rec.corruptedImage.empty());
      int zeroed = 0, cells = 0;
      for (int y = 0; y < rec.corruptedImage.rows; y += 32)
        for (int x = 0; x < rec.corruptedImage.cols; x += 32, ++cells) {
          const cv::Rect cell(x, y, std::min(32, rec.corruptedImage.cols - x), std::min(32, rec.corruptedImage.rows - y));
          zeroed += cv::countNonZero(rec.corruptedImage(cell).reshape(1)) == 0 ? 1 : 0;
        }
      EXPECT_EQ(zeroed, static_cast<int>(std::lround(0.75 * cells)));  // 128 px: 16 cells, 12 black
    } else {
      EXPECT_NE(rec.corruptedPromptIds, rec.promptIds);  // the other product's question
      EXPECT_EQ(std::count(rec.corruptedPromptIds.begin(), rec.corruptedPromptIds.end(), kImageToken), 1);
    }
  }
  EXPECT_EQ(products.size(), round.records.size());  // two different products

  // The log-probability DPO uses covers the answer tokens only: the same sum by hand over the
  // full sequence's logits at the answer positions.
  {
    auto base = caig::LlavaModel::load(baseDir);
    const auto& rec = round.records.front();
    caig::ClipPreprocessOptions pre;
    pre.size = static_cast<int>(base.imageSize());
    const at::Tensor px = caig::clipPreprocess(cv::Mat(64, 64, CV_8UC3, cv::Scalar(90, 140, 200)), pre);
    const at::Tensor prompt = base.spliceEmbeddings(at::tensor(rec.promptIds, at::kLong), base.encodeImages(px)[0]).clone();
    const at::Tensor answer = at::tensor(rec.chosen, at::kLong);
    caig::LlamaForwardOptions fo;
    fo.grad = false;
    const double viaJob =
        caig::promptAnswerLogProbs(base.languageModel(), {prompt}, {answer}, fo).item<double>();
    at::InferenceMode guard;
    const at::Tensor full = at::cat({prompt, base.languageModel().embed(answer.unsqueeze(0))[0]}, 0).unsqueeze(0);
    const at::Tensor logp = base.languageModel().forwardEmbeddings(full).logits[0].to(at::kDouble).log_softmax(-1);
    double byHand = 0;
    const int64_t tp = prompt.size(0);
    for (int64_t t = 0; t < answer.size(0); ++t) byHand += logp[tp - 1 + t][answer[t].item<int64_t>()].item<double>();
    EXPECT_NEAR(viaJob, byHand, 1e-4);
  }

  // The round's adapter and merged model exist and load; merged = base + adapter; the
  // reference (the base folder) is untouched and differs from the policy.
  ASSERT_FALSE(round.modelDir.empty());
  EXPECT_TRUE(fs::is_regular_file(round.adapterDir / "adapter_model.safetensors"));
  EXPECT_TRUE(fs::is_regular_file(round.modelDir / "tokenizer.model"));
  EXPECT_EQ(fileBytes(baseDir / "model.safetensors"), baseBytes);
  auto merged = caig::LlavaModel::load(round.modelDir);
  auto base = caig::LlavaModel::load(baseDir);
  auto adapted = caig::LlavaModel::load(baseDir);
  auto lora = caig::LoraAdapters::load(adapted.mutableLanguageModel(), round.adapterDir, "language_model.");
  const at::Tensor ids = at::tensor(round.records.front().promptIds, at::kLong).unsqueeze(0);
  caig::ClipPreprocessOptions pre;
  pre.size = 56;
  const at::Tensor px = caig::clipPreprocess(cv::Mat(64, 64, CV_8UC3, cv::Scalar(90, 140, 200)), pre);
  const at::Tensor lm = merged.forward(ids, px).logits, la = adapted.forward(ids, px).logits,
                   lb = base.forward(ids, px).logits;
  EXPECT_LT(maxAbsDiff(lm, la), 1e-4);
  EXPECT_GT(maxAbsDiff(lm, lb), 1e-6);
  adapted.mutableLanguageModel().setAdaptersEnabled(false);  // adapters off = the reference again
  EXPECT_LT(maxAbsDiff(adapted.forward(ids, px).logits, lb), 1e-6);

  // Log and store.
  const auto log = readLog(r.logFile);
  ASSERT_GE(log.size(), 4u);
  EXPECT_EQ(log.front().at("event"), "start");
  bool sawRound = false;
  for (const auto& l : log)
    if (l.at("event") == "round") {
      sawRound = true;
      EXPECT_TRUE(l.at("loss").is_number());
      EXPECT_TRUE(l.at("rewardMargin").is_number());
      EXPECT_TRUE(l.at("agreement").is_number());
    }
  EXPECT_TRUE(sawRound);
  EXPECT_EQ(log.back().at("event"), "end");
  std::set<std::string> kinds;
  for (const auto& m : project.store().models()) kinds.insert(m.kind);
  EXPECT_TRUE(kinds.count("llava") && kinds.count("adapter"));
  EXPECT_EQ(project.store().trainingRuns().back().status, "finished");
}

TEST(NeuralPcpo, RejectsAMissingTokenizerAndABadModel) {
  auto project = caig::Project::create(tempDir("pcpo-bad") / "project");
  caig::BuiltinRanker ranker;
  caig::NeuralPcpoOptions o;
  o.modelDir = kData / "tiny-llava-hf";  // has no tokenizer.model
  o.device = "cpu";
  try {
    caig::runNeuralPcpo(project, ranker, o);
    FAIL();
  } catch (const caig::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  o.modelDir = kData / "no-such-model";
  o.tokenizerDir = kTokenizer;
  EXPECT_THROW(caig::runNeuralPcpo(project, ranker, o), caig::io::FileError);
  EXPECT_TRUE(project.store().trainingRuns().empty());  // nothing recorded before the model loads
}
