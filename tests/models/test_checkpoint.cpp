// Sharded checkpoints and Hugging Face model folders.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/model_folder.h"
#include "test_util.h"

namespace caig::io {
namespace {

const std::filesystem::path kData = CAIG_TEST_DATA;

void writeIndex(const std::filesystem::path& path, const std::string& weightMap) {
  test::writeFile(path, R"({"metadata":{"total_size":0},"weight_map":)" + weightMap + "}");
}

TEST(Checkpoint, OpensAShardedIndex) {
  test::TempDir dir;
  const at::Tensor a = at::randn({3, 2}), b = at::randn({4}), c = at::arange(0, 5, at::kLong);
  saveSafetensors(dir / "model-00001-of-00002.safetensors", {{"layer.0.w", a}, {"layer.0.b", b}});
  saveSafetensors(dir / "model-00002-of-00002.safetensors", {{"head.ids", c}});
  writeIndex(dir / "model.safetensors.index.json",
             R"({"layer.0.w":"model-00001-of-00002.safetensors","layer.0.b":"model-00001-of-00002.safetensors",)"
             R"("head.ids":"model-00002-of-00002.safetensors"})");

  for (const auto& path : {dir / "model.safetensors.index.json", dir.path()}) {  // index or its folder
    const auto ckpt = Checkpoint::open(path);
    EXPECT_EQ(ckpt.size(), 3u);
    EXPECT_EQ(ckpt.shards().size(), 2u);
    EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"head.ids", "layer.0.b", "layer.0.w"}));
    EXPECT_TRUE(at::equal(ckpt.tensor("layer.0.w"), a));
    EXPECT_TRUE(at::equal(ckpt.tensor("head.ids"), c));
    EXPECT_EQ(ckpt.info("layer.0.b").shape, std::vector<int64_t>{4});
    EXPECT_THROW(ckpt.tensor("absent"), std::out_of_range);
  }
}

TEST(Checkpoint, RejectsInconsistentIndexes) {
  test::TempDir dir;
  saveSafetensors(dir / "s1.safetensors", {{"a", at::zeros({1})}});
  saveSafetensors(dir / "s2.safetensors", {{"a", at::zeros({1})}, {"b", at::zeros({1})}});

  writeIndex(dir / "missing.safetensors.index.json", R"({"a":"s1.safetensors","z":"s1.safetensors"})");
  EXPECT_THROW(Checkpoint::open(dir / "missing.safetensors.index.json"), FormatError);

  writeIndex(dir / "twice.safetensors.index.json", R"({"a":"s1.safetensors","b":"s2.safetensors"})");
  EXPECT_THROW(Checkpoint::open(dir / "twice.safetensors.index.json"), FormatError);

  writeIndex(dir / "escape.safetensors.index.json", R"({"a":"../elsewhere.safetensors"})");
  EXPECT_THROW(Checkpoint::open(dir / "escape.safetensors.index.json"), FormatError);

  writeIndex(dir / "absent.safetensors.index.json", R"({"a":"nowhere.safetensors"})");
  EXPECT_THROW(Checkpoint::open(dir / "absent.safetensors.index.json"), FileError);

  test::writeFile(dir / "notjson.safetensors.index.json", "{ weight_map: ");
  EXPECT_THROW(Checkpoint::open(dir / "notjson.safetensors.index.json"), FormatError);
}

TEST(ModelFolder, ReadsATransformersModel) {
  const auto folder = ModelFolder::open(kData / "tiny-qwen2");
  EXPECT_EQ(folder.kind(), FolderKind::TransformersModel);
  EXPECT_EQ(folder.className(), "Qwen2ForCausalLM");
  EXPECT_EQ(folder.config().at("model_type"), "qwen2");
  const auto ckpt = Checkpoint::open(folder.weights());
  EXPECT_TRUE(ckpt.contains("model.embed_tokens.weight"));
  EXPECT_FALSE(ckpt.contains("lm_head.weight"));  // tied embeddings
}

TEST(ModelFolder, ReadsADiffusersPipeline) {
  const auto pipe = ModelFolder::open(kData / "tiny-sd-configs");
  EXPECT_EQ(pipe.kind(), FolderKind::DiffusersPipeline);
  EXPECT_EQ(pipe.className(), "StableDiffusionControlNetInpaintPipeline");
  // Null entries (safety_checker, feature_extractor) are not components.
  EXPECT_EQ(pipe.components(),
            (std::vector<std::string>{"controlnet", "scheduler", "text_encoder", "tokenizer", "unet", "vae"}));
  const auto unet = pipe.component("unet");
  EXPECT_EQ(unet.kind(), FolderKind::DiffusersModel);
  EXPECT_EQ(unet.className(), "UNet2DConditionModel");
  EXPECT_EQ(unet.config().at("in_channels"), 4);
  EXPECT_EQ(pipe.component("scheduler").className(), "EulerDiscreteScheduler");
  EXPECT_EQ(pipe.component("text_encoder").className(), "CLIPTextModel");
  EXPECT_TRUE(Checkpoint::open(pipe.component("text_encoder").weights()).contains(
      "text_model.embeddings.token_embedding.weight"));
  // This copy ships the UNet config without weights: a clear error, not a crash.
  try {
    unet.weights();
    FAIL() << "found weights that are not there";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("no safetensors weights"), std::string::npos);
  }
  EXPECT_THROW(pipe.component("safety_checker"), FileError);
}

TEST(ModelFolder, PrefersFullPrecisionAndFindsVariants) {
  test::TempDir dir;
  saveSafetensors(dir / "diffusion_pytorch_model.fp16.safetensors", {{"w", at::zeros({1}, at::kHalf)}});
  EXPECT_THROW(findWeights(dir.path()), FileError);  // only a variant: ask for it
  EXPECT_EQ(findWeights(dir.path(), "fp16").filename(), "diffusion_pytorch_model.fp16.safetensors");
  saveSafetensors(dir / "diffusion_pytorch_model.safetensors", {{"w", at::zeros({1})}});
  EXPECT_EQ(findWeights(dir.path()).filename(), "diffusion_pytorch_model.safetensors");
}

TEST(ModelFolder, RefusesPickleWeightsByName) {
  test::TempDir dir;
  test::writeFile(dir / "config.json", R"({"architectures":["LlamaForCausalLM"]})");
  test::writeFile(dir / "pytorch_model.bin", "PK\x03\x04 pickle");
  try {
    ModelFolder::open(dir.path()).weights();
    FAIL() << "pickle accepted";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("pickle files are never loaded"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pytorch_model.bin"), std::string::npos);
  }
}

TEST(ModelFolder, MalformedConfigsGetClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(ModelFolder::open(dir / "absent"), FileError);
  EXPECT_THROW(ModelFolder::open(dir.path()), FileError);  // no config at all
  test::writeFile(dir / "config.json", "{\"hidden_size\": 32,");
  try {
    ModelFolder::open(dir.path());
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos);
  }
  test::writeFile(dir / "config.json", "[1, 2]");
  EXPECT_THROW(ModelFolder::open(dir.path()), FormatError);
}

}  // namespace
}  // namespace caig::io
