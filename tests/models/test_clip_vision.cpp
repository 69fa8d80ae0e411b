// LLaVA's CLIP vision tower and projector against transformers 4.38 (fp32 CPU): the tiny
// LLaVA of tests/data/tiny-llava-hf (transformers layout) and, when the shared fixtures are
// present, ../shared/fixtures/tiny-llava (original LLaVA layout); golden tensors in
// tests/data/llava/io.safetensors.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

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

// A CLIP tower of its own (an original LLaVA folder's mm_vision_tower) + the model's projector.
TEST(LlavaVision, TowerAndProjectorFromSeparateCheckpoints) {
  const auto io = goldens();
  const at::Tensor pixels = io.tensor("pixel_values");
  const auto hf = caig::io::Checkpoint::open(kHf);
  caig::io::NamedTensors tower, broken;
  const std::string prefix = "vision_tower.";
  for (const auto& name : hf.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    tower.emplace_back(name.substr(prefix.size()), hf.tensor(name));
    if (name.find("encoder.layers.1.mlp.fc1.weight") == std::string::npos) broken.push_back(tower.back());
  }
  // A full CLIP model also holds its text side: ignored.
  tower.emplace_back("text_model.embeddings.token_embedding.weight", at::zeros({4, 8}));
  tower.emplace_back("logit_scale", at::zeros({}));
  const auto dir = std::filesystem::temp_directory_path() / ("caig_clip_tower_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  caig::io::saveSafetensors(dir / "tower.safetensors", tower);
  caig::io::saveSafetensors(dir / "broken.safetensors", broken);

  LlavaVisionModel model(caig::readLlavaVisionConfig(kHf));
  const at::Tensor untrained = model.imageFeatures(pixels);
  // A tower key missing: an error naming it, and the model (projector included) untouched.
  try {
    model.loadWeights(caig::io::Checkpoint::open(dir / "broken.safetensors"), hf, LlavaLayout::Transformers);
    ADD_FAILURE() << "loaded a tower without encoder.layers.1.mlp.fc1.weight";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("fc1.weight"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(at::equal(model.imageFeatures(pixels), untrained));
  // The projector looked for in the wrong layout: nothing loaded either.
  EXPECT_THROW(model.loadWeights(caig::io::Checkpoint::open(dir / "tower.safetensors"), hf, LlavaLayout::Original),
               caig::io::FormatError);
  EXPECT_TRUE(at::equal(model.imageFeatures(pixels), untrained));

  model.loadWeights(caig::io::Checkpoint::open(dir / "tower.safetensors"), hf, LlavaLayout::Transformers);
  EXPECT_LE(maxAbsErr(model.imageFeatures(pixels), io.tensor("image_features")), 1e-4);
  std::filesystem::remove_all(dir);
}

// to(device, dtype): the tower runs in the language model's dtype (float64 stands in for
// fp16/bf16 here on the CPU) and its outputs come in that dtype.
TEST(LlavaVision, DeviceAndDtype) {
  const auto io = goldens();
  LlavaVisionModel model = LlavaVisionModel::load(kHf);
  EXPECT_EQ(model.dtype(), at::kFloat);
  model.to(c10::Device("cpu"), at::kDouble);
  EXPECT_EQ(model.dtype(), at::kDouble);
  EXPECT_EQ(model.device(), c10::Device("cpu"));
  const at::Tensor features = model.imageFeatures(io.tensor("pixel_values"));
  EXPECT_EQ(features.scalar_type(), at::kDouble);
  EXPECT_LE(maxAbsErr(features, io.tensor("image_features")), 1e-4);
  model.to(c10::Device("cpu"));  // keeps the dtype
  EXPECT_EQ(model.dtype(), at::kDouble);
  EXPECT_THROW(model.to(c10::Device("cpu"), at::kLong), std::invalid_argument);
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
