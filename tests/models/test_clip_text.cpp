// CLIPTextModel against transformers 4.38 on the tiny SD text encoder:
// tests/data/tiny-sd-configs/text_encoder (weights) and tests/data/safetensors/clip_text_io.*
// (inputs and outputs transformers computed, copied from ../shared/fixtures/clip_text).

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/clip_text.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "test_util.h"

namespace {

const std::filesystem::path kData = CAIG_TEST_DATA;
const std::filesystem::path kModel = kData / "tiny-sd-configs" / "text_encoder";

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST(ClipText, ReadsConfigWithTransformersDefaults) {
  const auto c = caig::readClipTextConfig(kModel);
  EXPECT_EQ(c.vocabSize, 1000);
  EXPECT_EQ(c.hiddenSize, 32);
  EXPECT_EQ(c.intermediateSize, 37);
  EXPECT_EQ(c.numHiddenLayers, 3);
  EXPECT_EQ(c.numAttentionHeads, 4);
  EXPECT_EQ(c.maxPositionEmbeddings, 77);
  EXPECT_EQ(c.hiddenAct, "quick_gelu");
  EXPECT_EQ(c.eosTokenId, 999);

  caig::test::TempDir dir;
  caig::test::writeFile(dir / "config.json", R"({"model_type": "clip_text_model", "hidden_size": 64})");
  const auto d = caig::readClipTextConfig(dir.path());
  EXPECT_EQ(d.hiddenSize, 64);
  EXPECT_EQ(d.vocabSize, 49408);
  EXPECT_EQ(d.numHiddenLayers, 12);
  EXPECT_EQ(d.numAttentionHeads, 8);
  EXPECT_EQ(d.intermediateSize, 2048);
  EXPECT_EQ(d.hiddenAct, "quick_gelu");
  EXPECT_DOUBLE_EQ(d.layerNormEps, 1e-5);
  EXPECT_EQ(d.eosTokenId, 49407);

  caig::test::writeFile(dir / "config.json", R"({"model_type": "clip_text_model", "hidden_act": "swish"})");
  EXPECT_THROW(caig::readClipTextConfig(dir.path()), caig::io::FormatError);
  caig::test::writeFile(dir / "config.json", R"({"model_type": "llama"})");
  EXPECT_THROW(caig::readClipTextConfig(dir.path()), caig::io::FormatError);
}

TEST(ClipText, ExpectsTransformersKeyNames) {
  const caig::ClipTextModel model(caig::readClipTextConfig(kModel));
  const auto expected = model.expectedTensors();
  const auto ckpt = caig::io::Checkpoint::open(kModel);
  EXPECT_EQ(expected.size(), ckpt.size());
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(ckpt.contains(name)) << name;
    EXPECT_EQ(ckpt.info(name).shape, shape) << name;
  }
}

TEST(ClipText, MatchesTransformers) {
  const auto model = caig::ClipTextModel::load(kModel);
  const auto io = caig::io::Checkpoint::open(kData / "safetensors" / "clip_text_io.safetensors");
  const at::Tensor ids = io.tensor("input_ids");
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{3, 77}));
  const auto out = model.forward(ids);
  const double last = maxAbsDiff(out.lastHiddenState, io.tensor("last_hidden_state"));
  const double penultimate = maxAbsDiff(out.penultimateHiddenState, io.tensor("penultimate_hidden_state"));
  const double pooled = maxAbsDiff(out.pooled, io.tensor("pooled"));
  std::printf("[clip text] max abs error: last_hidden_state %.3g, penultimate %.3g, pooled %.3g\n", last, penultimate,
              pooled);
  EXPECT_LE(last, 1e-4);
  EXPECT_LE(penultimate, 1e-4);
  EXPECT_LE(pooled, 1e-4);
  // Not trivially equal: the final norm changes the penultimate state, and causality holds
  // (position 0 does not depend on later tokens).
  EXPECT_GT(maxAbsDiff(out.lastHiddenState, out.penultimateHiddenState), 1e-2);
  at::Tensor changed = ids.clone();
  changed.index_put_({0, 5}, (ids[0][5].item<int64_t>() + 1) % 998);
  const auto out2 = model.forward(changed);
  EXPECT_EQ(maxAbsDiff(out2.lastHiddenState.slice(1, 0, 5), out.lastHiddenState.slice(1, 0, 5)), 0.0);
  EXPECT_GT(maxAbsDiff(out2.lastHiddenState.slice(1, 5), out.lastHiddenState.slice(1, 5)), 1e-4);
}

TEST(ClipText, RefusesBadInputAndMismatchedWeights) {
  const auto model = caig::ClipTextModel::load(kModel);
  EXPECT_THROW(model.forward(at::zeros({1, 78}, at::kLong)), std::invalid_argument);
  EXPECT_THROW(model.forward(at::full({1, 4}, 1000, at::kLong)), std::invalid_argument);
  EXPECT_THROW(model.forward(at::zeros({4}, at::kLong)), std::invalid_argument);
  caig::ClipTextConfig other = model.config();
  other.numHiddenLayers = 4;
  caig::ClipTextModel bigger(other);
  try {
    bigger.loadWeights(caig::io::Checkpoint::open(kModel));
    FAIL() << "a 4-layer model loaded 3-layer weights";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("text_model.encoder.layers.3.self_attn.q_proj.weight"), std::string::npos)
        << e.what();
  }
}

// Older exports (transformers < 4.31, e.g. SD1.5's text_encoder) also saved the int64
// position_ids buffer: accepted and ignored. Any other extra key is still refused.
TEST(ClipText, AcceptsLegacyPositionIdsOnly) {
  const auto ckpt = caig::io::Checkpoint::open(kModel);
  caig::io::NamedTensors tensors;
  for (const auto& name : ckpt.names()) tensors.emplace_back(name, ckpt.tensor(name));
  tensors.emplace_back("text_model.embeddings.position_ids", at::arange(77, at::kLong).unsqueeze(0));
  caig::test::TempDir dir;
  caig::test::writeFile(dir / "config.json", caig::test::readFile(kModel / "config.json"));
  caig::io::saveSafetensors(dir / "model.safetensors", tensors);
  const auto legacy = caig::ClipTextModel::load(dir.path());
  const auto reference = caig::ClipTextModel::load(kModel);
  const at::Tensor ids = at::arange(10, at::kLong).unsqueeze(0);
  EXPECT_EQ(maxAbsDiff(legacy.forward(ids).lastHiddenState, reference.forward(ids).lastHiddenState), 0.0);

  tensors.emplace_back("text_model.something_else", at::zeros({2}));
  caig::io::saveSafetensors(dir / "model.safetensors", tensors);
  EXPECT_THROW(caig::ClipTextModel::load(dir.path()), caig::io::FormatError);
}

}  // namespace
