// Hostile and broken model files: the one JSON reader's limits, config sizes checked against the
// weights before anything is allocated, and models whose outputs are not finite. Every case must
// end in one clear error naming the file and the field, never a crash or a multi-gigabyte allocation.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/user_message.h"
#include "models/autoencoder_kl.h"
#include "models/clip_text.h"
#include "models/controlnet.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "models/llama.h"
#include "models/llava.h"
#include "models/sampling.h"
#include "models/sd_inpaint_pipeline.h"
#include "models/unet2d.h"
#include "test_util.h"

namespace caig {
namespace {

namespace fs = std::filesystem;
const fs::path kData = CAIG_TEST_DATA;

// The message of what `f` throws; fails when it returns.
template <class F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return "";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)

TEST(JsonReader, DeepNestingIsRefusedNotAStackOverflow) {
  const int n = 1'000'000;
  const std::string arrays = std::string(n, '[') + std::string(n, ']');
  EXPECT_HAS(errorOf([&] { io::parseJson(arrays, "arrays.json"); }), "nests deeper than 64");
  std::string objects;
  for (int i = 0; i < 200'000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(200'000, '}');
  const std::string why = errorOf([&] { io::parseJson(objects, "objects.json"); });
  EXPECT_HAS(why, "objects.json");
  EXPECT_HAS(why, "nests deeper");
  // 64 levels are accepted, and the limit is the caller's to choose.
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_NO_THROW(io::parseJson(ok, "ok"));
  io::JsonLimits three;
  three.maxDepth = 3;
  EXPECT_THROW(io::parseJson("[[[[]]]]", "x", three), io::FormatError);
}

TEST(JsonReader, ErrorsAreTheReadersNotTheLibrarys) {
  EXPECT_HAS(errorOf([] { io::parseJson(R"({"impressions": 1e400})", "clicks.json"); }), "clicks.json");
  EXPECT_HAS(errorOf([] { io::parseJson(R"({"a": 1e400})", "c"); }), "number overflow");
  EXPECT_HAS(errorOf([] { io::parseJson("{\"a\": 1,", "c"); }), "byte");
  io::JsonLimits strict;
  strict.rejectDuplicateKeys = true;
  EXPECT_HAS(errorOf([&] { io::parseJson(R"({"a": 1, "a": 2})", "c", strict); }), "duplicate key 'a'");
  EXPECT_EQ(io::parseJson(R"({"a": 1, "a": 2})", "c").at("a"), 2);  // JSON's usual rule otherwise
  EXPECT_TRUE(io::parseJsonOrDiscarded("[[[").is_discarded());
  EXPECT_EQ(io::parseJsonOrDiscarded(R"({"x":[1,{"y":null}]})").dump(), R"({"x":[1,{"y":null}]})");
}

TEST(JsonReader, ManyKeysParse) {
  // nlohmann's callback parser rescans the enclosing object per member: 200k keys would run past
  // CTest's timeout (the speed itself is in bench_safetensors, not asserted here).
  std::string big = "{";
  for (int i = 0; i < 200'000; ++i) big += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":{\"v\":[1,2]}";
  big += "}";
  io::JsonLimits strict;
  strict.rejectDuplicateKeys = true;
  const auto j = io::parseJson(big, "big", strict);
  EXPECT_EQ(j.size(), 200'000u);
  EXPECT_EQ(j.at("k199999").at("v").at(1), 2);
}

TEST(JsonReader, OnlyRegularFilesAreOpened) {
  test::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "config.json").c_str(), 0600), 0);
  EXPECT_HAS(errorOf([&] { io::readJsonFile(dir / "config.json"); }), "not a regular file");  // not a hang
  EXPECT_HAS(errorOf([] { io::readJsonFile("/dev/zero"); }), "not a regular file");
  EXPECT_HAS(errorOf([&] { io::readJsonFile(dir.path()); }), "is a folder");
  EXPECT_HAS(errorOf([&] { io::readJsonFile(dir / "missing.json"); }), "does not exist");
  EXPECT_HAS(errorOf([&] { io::SafetensorsFile::open(dir / "config.json"); }), "not a regular file");
}

// A copy of a fixture folder whose config.json the test rewrites.
struct ModelCopy {
  test::TempDir dir;
  fs::path root;
  explicit ModelCopy(const fs::path& fixture) : root(dir / fixture.filename()) {
    fs::copy(fixture, root, fs::copy_options::recursive);
  }
  nlohmann::json config(const std::string& sub = "") const { return io::readJsonFile(root / sub / "config.json"); }
  void setConfig(const nlohmann::json& j, const std::string& sub = "") const {
    test::writeFile(root / sub / "config.json", j.dump(1));
  }
};

TEST(ConfigAgainstWeights, LlavaSizesAreCheckedBeforeAllocating) {
  ModelCopy m(kData / "tiny-llava");
  const auto original = m.config();
  struct Case {
    const char* field;
    nlohmann::json value;
    const char* expected;
  };
  for (const Case& c : {Case{"num_hidden_layers", 1'000'000, "num_hidden_layers is 1000000 but the weights hold 2"},
                        Case{"hidden_size", 1'000'000'000, "vocab_size and hidden_size"},
                        Case{"vocab_size", 4'000'000'000LL, "vocab_size and hidden_size"},
                        Case{"intermediate_size", 1 << 30, "intermediate_size"},
                        Case{"num_key_value_heads", 4, "num_key_value_heads"}}) {
    auto j = original;
    j[c.field] = c.value;
    m.setConfig(j);
    // The message comes from the check that runs before any module is built.
    const std::string why = errorOf([&] { LlavaModel::load(m.root); });
    EXPECT_HAS(why, c.expected);
    EXPECT_HAS(why, "config.json");
  }
  auto tower = original;
  tower["vision_config"]["num_hidden_layers"] = 100000;
  m.setConfig(tower);
  EXPECT_HAS(errorOf([&] { LlavaModel::load(m.root); }), "vision_config num_hidden_layers");
  tower = original;
  tower["vision_config"]["image_size"] = 560000;
  m.setConfig(tower);
  EXPECT_HAS(errorOf([&] { LlavaModel::load(m.root); }), "vision_config image_size");
  // transformers' LlavaConfig defaults (a 7B Vicuna) beside tiny weights: refused, not built.
  m.setConfig({{"model_type", "llava"}});
  EXPECT_HAS(errorOf([&] { LlavaModel::load(m.root); }), "vocab_size and hidden_size give");
  m.setConfig(original);
  EXPECT_NO_THROW(LlavaModel::load(m.root));
}

TEST(ConfigAgainstWeights, StableDiffusionPartsAreCheckedBeforeAllocating) {
  ModelCopy m(kData / "tiny-sd-e2e");
  auto unet = m.config("unet");
  unet["block_out_channels"][0] = 1'000'000'000;
  m.setConfig(unet, "unet");
  EXPECT_HAS(errorOf([&] { UNet2DConditionModel::load(m.root / "unet"); }), "block_out_channels[0]");
  unet = m.config("unet");
  unet["block_out_channels"] = m.config("unet")["block_out_channels"];
  unet["layers_per_block"] = 100000;
  unet["block_out_channels"][0] = io::readJsonFile(kData / "tiny-sd-e2e/unet/config.json")["block_out_channels"][0];
  m.setConfig(unet, "unet");
  EXPECT_HAS(errorOf([&] { UNet2DConditionModel::load(m.root / "unet"); }), "layers_per_block");

  auto cn = m.config("controlnet");
  cn["cross_attention_dim"] = 1 << 30;
  m.setConfig(cn, "controlnet");
  EXPECT_HAS(errorOf([&] { ControlNetModel::load(m.root / "controlnet"); }), "cross_attention_dim");

  auto vae = m.config("vae");
  vae["latent_channels"] = 1 << 20;
  m.setConfig(vae, "vae");
  EXPECT_HAS(errorOf([&] { AutoencoderKL::load(m.root / "vae"); }), "latent_channels");

  auto text = m.config("text_encoder");
  text["num_hidden_layers"] = 1'000'000;
  m.setConfig(text, "text_encoder");
  EXPECT_HAS(errorOf([&] { ClipTextModel::load(m.root / "text_encoder"); }), "num_hidden_layers is 1000000");
}

TEST(NonFiniteOutputs, NaNScoresStopTheTextInsteadOfAnEmptyPrompt) {
  const LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  auto cache = model.newCache(1, 8);
  const at::Tensor nan = at::full({1, model.config().vocabSize}, std::numeric_limits<float>::quiet_NaN());
  SamplingOptions o;
  o.maxNewTokens = 4;
  o.temperature = 0;
  EXPECT_HAS(errorOf([&] { generateFromCache(model, cache, nan, {}, o); }), "not finite");
}

TEST(UserMessage, LibTorchBacktracesAreCut) {
  try {
    (void)at::zeros({2}).view({3});
    FAIL() << "LibTorch accepted a bad view";
  } catch (const std::exception& e) {
    const std::string raw = e.what(), shown = userMessage(e);
    EXPECT_NE(shown, "");
    EXPECT_EQ(shown.find("frame #"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("Exception raised from"), std::string::npos) << shown;
    EXPECT_EQ(raw.rfind(shown, 0), 0u) << "the message itself is kept: " << shown;
  }
  EXPECT_EQ(userMessage(std::string_view("plain message\n")), "plain message");
}

TEST(NonFiniteOutputs, NaNUNetWeightsStopTheJobInsteadOfABlackBackground) {
  ModelCopy m(kData / "tiny-sd-e2e");
  const fs::path weights = m.root / "unet" / "diffusion_pytorch_model.safetensors";
  io::NamedTensors tensors;
  {
    const auto ckpt = io::Checkpoint::open(weights);
    for (const auto& name : ckpt.names()) {
      at::Tensor t = ckpt.tensor(name).clone();
      if (name == "conv_out.bias") t.fill_(std::numeric_limits<float>::quiet_NaN());
      tensors.emplace_back(name, t);
    }
  }
  io::saveSafetensors(weights, tensors);
  const SdInpaintPipeline pipe = SdInpaintPipeline::load(m.root);
  SdInpaintJob job;
  job.image = at::full({1, 3, 32, 32}, 0.5);
  job.mask = at::ones({1, 1, 32, 32});
  job.control = at::zeros({1, 3, 32, 32});
  job.promptEmbeds = pipe.encodePrompt(at::zeros({1, 77}, at::kLong));
  job.negativeEmbeds = job.promptEmbeds;
  job.steps = 2;
  job.guidance = 1.0;
  EXPECT_HAS(errorOf([&] { pipe.run(job); }), "NaN or Inf latents");
}

}  // namespace
}  // namespace caig
