// LLaVA's CLIP vision tower and projector against transformers 4.38 (fp32 CPU): the tiny
// LLaVA of tests/data/tiny-llava-hf (transformers layout) and, when the shared fixtures are
// present, ../shared/fixtures/tiny-llava (original LLaVA layout); golden tensors in
// tests/data/llava/io.safetensors.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/clip_vision.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/llama.h"

namespace {

using caig::LlavaLayout;
using caig::LlavaProjectorType;
using caig::LlavaVisionModel;

const std::filesystem::path kData = CAIG_TEST_DATA;
const std::filesystem::path kHf = kData / "tiny-llava-hf";
const std::filesystem::path kOriginal = std::filesystem::path(CAIG_SHARED_FIXTURES) / "tiny-llava";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

caig::io::SafetensorsFile goldens() { return caig::io::SafetensorsFile::open(kData / "llava" / "io.safetensors"); }

TEST(LlavaVisionConfig, TransformersConfigWithOmittedDefaults) {
  const auto c = caig::readLlavaVisionConfig(kHf);
  EXPECT_EQ(c.vision.hiddenSize, 32);
  EXPECT_EQ(c.vision.intermediateSize, 37);
  EXPECT_EQ(c.vision.numHiddenLayers, 3);
  EXPECT_EQ(c.vision.numAttentionHeads, 4);
  EXPECT_EQ(c.vision.imageSize, 56);
  EXPECT_EQ(c.vision.patchSize, 14);
  EXPECT_EQ(c.vision.numPatches(), 16);
  // Omitted in the file: CLIPVisionConfig's defaults.
  EXPECT_EQ(c.vision.hiddenAct, "quick_gelu");
  EXPECT_DOUBLE_EQ(c.vision.layerNormEps, 1e-5);
  EXPECT_EQ(c.vision.numChannels, 3);
  EXPECT_EQ(c.projector, LlavaProjectorType::Mlp2xGelu);
  EXPECT_EQ(c.textHiddenSize, 32);
  EXPECT_EQ(c.featureLayer, -2);
  EXPECT_FALSE(c.keepCls);
}

TEST(LlavaVisionConfig, OriginalStyleAndRejections) {
  nlohmann::json j = {{"model_type", "llava_llama"},
                      {"hidden_size", 64},
                      {"mm_projector_type", "linear"},
                      {"mm_vision_select_layer", -1},
                      {"mm_vision_select_feature", "cls_patch"},
                      {"vision_config", {{"hidden_size", 32}, {"num_attention_heads", 4}, {"num_hidden_layers", 2}}}};
  const auto c = caig::llavaVisionConfigFromJson(j);
  EXPECT_EQ(c.projector, LlavaProjectorType::Linear);
  EXPECT_EQ(c.textHiddenSize, 64);
  EXPECT_EQ(c.featureLayer, -1);
  EXPECT_TRUE(c.keepCls);
  EXPECT_EQ(c.vision.imageSize, 224);
  EXPECT_EQ(c.vision.patchSize, 32);

  auto bad = j;
  bad["mm_projector_type"] = "mlp3x_relu";
  EXPECT_THROW(caig::llavaVisionConfigFromJson(bad), caig::io::FormatError);
  bad = j;
  bad["vision_config"]["hidden_act"] = "swish";
  EXPECT_THROW(caig::llavaVisionConfigFromJson(bad), caig::io::FormatError);
  bad = j;
  bad["mm_vision_select_layer"] = -4;  // 2 layers: hidden_states has 3 entries
  EXPECT_THROW(caig::llavaVisionConfigFromJson(bad), caig::io::FormatError);
  bad = j;
  bad.erase("vision_config");
  EXPECT_THROW(caig::llavaVisionConfigFromJson(bad), caig::io::FormatError);
  bad = {{"model_type", "llava"}, {"projector_hidden_act", "relu"}, {"vision_config", j["vision_config"]}};
  EXPECT_THROW(caig::llavaVisionConfigFromJson(bad), caig::io::FormatError);
}

TEST(LlavaVisionNaming, OneMappingPerLayout) {
  const auto hf = caig::llavaVisionWeightNaming(LlavaLayout::Transformers);
  EXPECT_EQ(hf.checkpointKey("vision_model.pre_layrnorm.weight"), "vision_tower.vision_model.pre_layrnorm.weight");
  EXPECT_EQ(hf.checkpointKey("projector.linear_2.bias"), "multi_modal_projector.linear_2.bias");
  EXPECT_TRUE(hf.ignore("language_model.model.embed_tokens.weight"));
  EXPECT_TRUE(hf.ignore("vision_tower.vision_model.post_layernorm.weight"));
  EXPECT_FALSE(hf.ignore("vision_tower.vision_model.encoder.layers.9.mlp.fc1.weight"));
  EXPECT_FALSE(hf.ignore("multi_modal_projector.linear_3.weight"));
  const auto orig = caig::llavaVisionWeightNaming(LlavaLayout::Original);
  EXPECT_EQ(orig.checkpointKey("vision_model.embeddings.class_embedding"),
            "model.vision_tower.vision_tower.vision_model.embeddings.class_embedding");
  EXPECT_EQ(orig.checkpointKey("projector.linear_1.weight"), "model.mm_projector.0.weight");
  EXPECT_EQ(orig.checkpointKey("projector.linear_2.weight"), "model.mm_projector.2.weight");
  EXPECT_TRUE(orig.ignore("model.layers.0.mlp.up_proj.weight"));
  EXPECT_TRUE(orig.ignore("lm_head.weight"));
  EXPECT_FALSE(orig.ignore("model.mm_projector.4.weight"));
  const auto origLinear = caig::llavaVisionWeightNaming(LlavaLayout::Original, LlavaProjectorType::Linear);
  EXPECT_EQ(origLinear.checkpointKey("projector.linear_1.weight"), "model.mm_projector.weight");
}

TEST(LlavaVision, PenultimateHiddenAndImageFeaturesMatchTransformers) {
  const auto io = goldens();
  const LlavaVisionModel model = LlavaVisionModel::load(kHf);
  const at::Tensor pixels = io.tensor("pixel_values");
  const at::Tensor hidden = model.visionHiddenStates(pixels);
  ASSERT_EQ(hidden.sizes(), (at::IntArrayRef{1, 17, 32}));
  const double errHidden = maxAbsErr(hidden, io.tensor("vision_penultimate"));
  const at::Tensor features = model.imageFeatures(pixels);
  ASSERT_EQ(features.sizes(), (at::IntArrayRef{1, 16, 32}));
  const double errFeatures = maxAbsErr(features, io.tensor("image_features"));
  std::printf("vision_penultimate max abs err %.3g, image_features %.3g\n", errHidden, errFeatures);
  EXPECT_LE(errHidden, 1e-4);
  EXPECT_LE(errFeatures, 1e-4);
  // The comparison can fail: a model with its last layer's output instead is far off.
  auto config = model.config();
  config.featureLayer = -1;
  LlavaVisionModel last(config);
  last.loadWeights(caig::io::Checkpoint::open(kHf));
  EXPECT_GT(maxAbsErr(last.visionHiddenStates(pixels), io.tensor("vision_penultimate")), 1e-2);
  // Batches are independent.
  const at::Tensor two = model.imageFeatures(at::cat({pixels, pixels.flip(-1)}, 0));
  EXPECT_LE(maxAbsErr(two.narrow(0, 0, 1), io.tensor("image_features")), 1e-4);
}

TEST(LlavaVision, RejectsBadInputsAndKeys) {
  const LlavaVisionModel model = LlavaVisionModel::load(kHf);
  EXPECT_THROW(model.visionHiddenStates(at::zeros({1, 3, 28, 28})), std::invalid_argument);
  EXPECT_THROW(model.visionHiddenStates(at::zeros({3, 56, 56})), std::invalid_argument);
  EXPECT_THROW(model.project(at::zeros({1, 16, 31})), std::invalid_argument);
  // Read with the wrong layout, every vision key is missing.
  LlavaVisionModel wrong(model.config());
  EXPECT_THROW(wrong.loadWeights(caig::io::Checkpoint::open(kHf), LlavaLayout::Original), caig::io::FormatError);
  // A tower deeper than the checkpoint: missing layer keys.
  auto deeper = model.config();
  deeper.vision.numHiddenLayers = 4;
  LlavaVisionModel d(deeper);
  EXPECT_THROW(d.loadWeights(caig::io::Checkpoint::open(kHf)), caig::io::FormatError);
}

TEST(LlavaVision, OriginalLayoutGivesTheSameFeatures) {
  if (!std::filesystem::exists(kOriginal / "model.safetensors")) GTEST_SKIP() << "no shared fixtures at " << kOriginal;
  const auto io = goldens();
  const LlavaVisionModel model = LlavaVisionModel::load(kOriginal);
  EXPECT_EQ(model.config().projector, LlavaProjectorType::Mlp2xGelu);
  EXPECT_EQ(model.config().featureLayer, -2);
  EXPECT_FALSE(model.config().keepCls);
  const at::Tensor pixels = io.tensor("pixel_values");
  const double errHidden = maxAbsErr(model.visionHiddenStates(pixels), io.tensor("vision_penultimate"));
  const double errFeatures = maxAbsErr(model.imageFeatures(pixels), io.tensor("image_features"));
  std::printf("original layout: vision_penultimate max abs err %.3g, image_features %.3g\n", errHidden, errFeatures);
  EXPECT_LE(errHidden, 1e-4);
  EXPECT_LE(errFeatures, 1e-4);
  EXPECT_EQ(caig::detectLlavaLayout(caig::io::Checkpoint::open(kOriginal)), LlavaLayout::Original);
}

// End to end: the features computed here, spliced in place of the image token, give the
// fixture's logits through the language model.
TEST(LlavaVision, SplicedFeaturesReproduceLlavaLogits) {
  const auto io = goldens();
  const LlavaVisionModel vision = LlavaVisionModel::load(kHf);
  const caig::LlamaModel lm = caig::LlamaModel::load(kHf);
  const auto meta = nlohmann::json::parse(std::ifstream(kData / "llava" / "io.json"));
  const auto before = meta.at("ids_before_image").get<std::vector<int64_t>>();
  const auto after = meta.at("ids_after_image").get<std::vector<int64_t>>();
  const at::Tensor features = vision.imageFeatures(io.tensor("pixel_values"));
  const at::Tensor embeds = at::cat({lm.embed(at::tensor(before, at::kLong).unsqueeze(0)), features,
                                     lm.embed(at::tensor(after, at::kLong).unsqueeze(0))},
                                    1);
  ASSERT_EQ(embeds.sizes(), (at::IntArrayRef{1, 42, 32}));
  const auto out = lm.forwardEmbeddings(embeds);
  const double err = maxAbsErr(out.logits, io.tensor("logits"));
  std::printf("end-to-end llava logits max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-4);
}

}  // namespace
