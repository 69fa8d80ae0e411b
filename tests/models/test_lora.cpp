// Training forward (autograd, padding masks, gradient checkpointing) and LoRA adapters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/llama.h"
#include "models/lora.h"
#include "test_util.h"
#include "training_test_util.h"

namespace caig {
namespace {

using test::maxAbsDiff;
using test::randomIds;
using test::randomModel;

LoraConfig allTargets(int64_t rank = 4, double dropout = 0.0) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = 8.0;
  c.dropout = dropout;
  c.targetModules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  c.baseModel = "tiny-random";
  return c;
}

// B is zero after init; give it values so the adapters change the function.
void randomizeB(LoraAdapters& lora, uint64_t seed) {
  torch::NoGradGuard noGrad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, t] : lora.namedParameters())
    if (name.find("lora_B") != std::string::npos) t.copy_(0.3 * at::randn(t.sizes(), gen));
}

TEST(TrainForward, MatchesInferenceForward) {
  const LlamaModel model = randomModel(1);
  const at::Tensor ids = randomIds(2, 7, 2);
  const at::Tensor expected = model.forward(ids).logits;
  const LlamaOutput out = model.trainForward(model.embedForTraining(ids));
  EXPECT_LT(maxAbsDiff(out.logits, expected), 1e-5);
  EXPECT_EQ(out.hidden.sizes(), (std::vector<int64_t>{2, 7, 32}));
  // Embeddings from the inference path are accepted too.
  EXPECT_LT(maxAbsDiff(model.trainForward(model.embed(ids)).logits, expected), 1e-5);
}

TEST(TrainForward, PaddedRowsComputeWhatTheyWouldAlone) {
  const LlamaModel model = randomModel(3);
  const at::Tensor a = randomIds(1, 6, 4), b = randomIds(1, 4, 5);
  const at::Tensor aloneA = model.forward(a).logits[0], aloneB = model.forward(b).logits[0];
  const at::Tensor pad = at::zeros({1, 2}, at::kLong);
  // Right padding of b.
  at::Tensor ids = at::cat({a, at::cat({b, pad}, 1)}, 0);
  at::Tensor mask = at::ones({2, 6}, at::kLong);
  mask[1].narrow(0, 4, 2).zero_();
  LlamaOutput out = model.trainForward(model.embedForTraining(ids), mask);
  EXPECT_LT(maxAbsDiff(out.logits[0], aloneA), 1e-5);
  EXPECT_LT(maxAbsDiff(out.logits[1].narrow(0, 0, 4), aloneB), 1e-5);
  EXPECT_TRUE(out.logits.isfinite().all().item<bool>());
  // Left padding of b.
  ids = at::cat({a, at::cat({pad, b}, 1)}, 0);
  mask = at::ones({2, 6}, at::kLong);
  mask[1].narrow(0, 0, 2).zero_();
  out = model.trainForward(model.embedForTraining(ids), mask);
  EXPECT_LT(maxAbsDiff(out.logits[1].narrow(0, 2, 4), aloneB), 1e-5);
  EXPECT_TRUE(out.logits.isfinite().all().item<bool>());
}

TEST(TrainForward, RejectsBadShapes) {
  const LlamaModel model = randomModel(1);
  EXPECT_THROW(model.trainForward(at::zeros({2, 3, 5})), std::invalid_argument);
  EXPECT_THROW(model.trainForward(at::zeros({2, 3, 32}), at::ones({2, 4})), std::invalid_argument);
}

// Gradients of a loss with and without per-layer checkpointing, dropout on.
void checkpointMatches(bool fullModel) {
  LlamaModel model = randomModel(7);
  LoraAdapters lora(model, allTargets(4, 0.2), 11);
  randomizeB(lora, 12);
  lora.setTraining(true);
  std::vector<at::Tensor> params = lora.parameters();
  if (fullModel) {
    model.setRequiresGrad(true);
    for (auto& [n, p] : model.namedParameters()) params.push_back(p);
  }
  const at::Tensor ids = randomIds(2, 5, 8);
  at::Tensor mask = at::ones({2, 5}, at::kLong);
  mask[1][4] = 0;
  auto run = [&](bool checkpoint) {
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    torch::manual_seed(99);
    const at::Tensor embeds = model.embedForTraining(ids).detach().requires_grad_(true);
    LlamaForwardOptions o;
    o.checkpointLayers = checkpoint;
    const LlamaOutput out = model.trainForward(embeds, mask, o);
    (out.logits.pow(2).mean() + out.hidden.sum()).backward();
    std::vector<at::Tensor> grads = {embeds.grad().clone()};
    for (auto& p : params) grads.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
    return grads;
  };
  const auto plain = run(false), checkpointed = run(true);
  ASSERT_EQ(plain.size(), checkpointed.size());
  double largest = 0.0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(maxAbsDiff(plain[i], checkpointed[i]), 1e-5) << "tensor " << i;
    largest = std::max(largest, plain[i].abs().max().item<double>());
  }
  EXPECT_GT(largest, 0.0);
}

TEST(TrainForward, CheckpointedGradientsMatchPlainOnes) { checkpointMatches(false); }
TEST(TrainForward, CheckpointedGradientsMatchWithFullParameters) { checkpointMatches(true); }

TEST(TrainForward, CheckpointingWorksWithAutogradGrad) {
  LlamaModel model = randomModel(7);
  LoraAdapters lora(model, allTargets(), 11);
  randomizeB(lora, 12);
  const at::Tensor embeds = model.embedForTraining(randomIds(1, 4, 8));
  LlamaForwardOptions o;
  o.checkpointLayers = true;
  const at::Tensor loss = model.trainForward(embeds, {}, o).logits.sum();
  const auto grads = torch::autograd::grad({loss}, lora.parameters());
  for (const auto& g : grads) ASSERT_TRUE(g.defined());
  o.checkpointLayers = false;
  const auto plain = torch::autograd::grad({model.trainForward(embeds, {}, o).logits.sum()}, lora.parameters());
  for (std::size_t i = 0; i < grads.size(); ++i) EXPECT_LT(maxAbsDiff(grads[i], plain[i]), 1e-4);
}

TEST(Lora, FreshAdaptersLeaveTheModelUnchanged) {
  LlamaModel model = randomModel(2);
  const at::Tensor ids = randomIds(2, 6, 3);
  const at::Tensor before = model.forward(ids).logits;
  LoraAdapters lora(model, allTargets(), 5);
  EXPECT_EQ(lora.modules().size(), 14u);
  EXPECT_TRUE(at::equal(model.forward(ids).logits, before));
  EXPECT_LT(maxAbsDiff(model.trainForward(model.embedForTraining(ids)).logits, before), 1e-5);
  for (const auto& [name, p] : model.namedParameters()) EXPECT_FALSE(p.requires_grad()) << name;
  for (const auto& [name, p] : lora.namedParameters()) {
    EXPECT_TRUE(p.requires_grad()) << name;
    EXPECT_EQ(p.scalar_type(), at::kFloat);
  }
  // A is Kaiming-uniform with bound 1/sqrt(in); B is zero.
  const at::Tensor A = lora.namedParameters()[0].second;
  EXPECT_LE(A.abs().max().item<double>(), 1.0 / std::sqrt(32.0));
  EXPECT_GT(A.abs().max().item<double>(), 0.5 / std::sqrt(32.0));
  EXPECT_EQ(lora.namedParameters()[0].first, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_EQ(lora.namedParameters()[1].second.abs().sum().item<double>(), 0.0);
}

TEST(Lora, TargetsOnlyTheNamedModules) {
  LlamaModel model = randomModel(2);
  LoraConfig c;
  c.targetModules = {"v_proj", "down_proj"};
  LoraAdapters lora(model, c);
  ASSERT_EQ(lora.modules().size(), 4u);
  EXPECT_EQ(lora.modules()[0], "model.layers.0.self_attn.v_proj");
  EXPECT_EQ(lora.modules()[1], "model.layers.0.mlp.down_proj");
  c.targetModules = {"lm_head"};
  EXPECT_THROW(LoraAdapters(model, c), std::invalid_argument);
}

TEST(Lora, DisabledAdaptersGiveTheBaseModel) {
  LlamaModel model = randomModel(2);
  const at::Tensor ids = randomIds(1, 5, 3);
  const at::Tensor base = model.forward(ids).logits;
  LoraAdapters lora(model, allTargets(), 5);
  randomizeB(lora, 6);
  EXPECT_GT(maxAbsDiff(model.forward(ids).logits, base), 1e-3);
  model.setAdaptersEnabled(false);
  EXPECT_TRUE(at::equal(model.forward(ids).logits, base));
  model.setAdaptersEnabled(true);
  lora.detach();
  EXPECT_TRUE(at::equal(model.forward(ids).logits, base));
}

TEST(Lora, MergedModelEqualsAdaptedModel) {
  LlamaModel model = randomModel(4);
  LoraAdapters lora(model, allTargets(), 5);
  randomizeB(lora, 6);
  const at::Tensor ids = randomIds(2, 6, 7);
  const at::Tensor adapted = model.forward(ids).logits;
  lora.merge();
  EXPECT_EQ(model.adapter("model.layers.0.self_attn.q_proj"), nullptr);
  EXPECT_LT(maxAbsDiff(model.forward(ids).logits, adapted), 1e-5);
}

TEST(Lora, SaveLoadRoundTrip) {
  test::TempDir dir;
  LlamaModel model = randomModel(4);
  LoraAdapters lora(model, allTargets(), 5);
  randomizeB(lora, 6);
  const at::Tensor ids = randomIds(2, 6, 7);
  const at::Tensor adapted = model.forward(ids).logits;
  lora.save(dir.path() / "adapter");
  const auto config = nlohmann::json::parse(std::ifstream(dir.path() / "adapter" / "adapter_config.json"));
  EXPECT_EQ(config.at("r"), 4);
  EXPECT_EQ(config.at("lora_alpha"), 8.0);
  EXPECT_EQ(config.at("peft_type"), "LORA");
  EXPECT_EQ(config.at("base_model_name_or_path"), "tiny-random");
  EXPECT_EQ(config.at("target_modules").size(), 7u);
  const auto file = io::SafetensorsFile::open(dir.path() / "adapter" / "adapter_model.safetensors");
  EXPECT_EQ(file.tensors().size(), 28u);
  EXPECT_TRUE(file.contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));

  LlamaModel fresh = randomModel(4);  // a new model object
  LoraAdapters loaded = LoraAdapters::load(fresh, dir.path() / "adapter");
  EXPECT_EQ(loaded.config().rank, 4);
  const auto a = lora.namedParameters(), b = loaded.namedParameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
  EXPECT_TRUE(at::equal(fresh.forward(ids).logits, adapted));
}

TEST(Lora, MalformedAdapterFoldersAreRefused) {
  test::TempDir dir;
  LlamaModel model = randomModel(4);
  {
    LoraAdapters lora(model, allTargets(), 5);
    lora.save(dir.path() / "good");
    lora.detach();
    LoraConfig qOnly = allTargets();
    qOnly.targetModules = {"q_proj"};
    LoraAdapters small(model, qOnly, 5);
    small.save(dir.path() / "qonly");
    small.detach();
  }
  model.setRequiresGrad(true);
  const at::Tensor ids = randomIds(1, 4, 1);
  const at::Tensor base = model.forward(ids).logits;
  // Missing config.
  std::filesystem::create_directories(dir.path() / "noconfig");
  std::filesystem::copy_file(dir.path() / "good" / "adapter_model.safetensors",
                             dir.path() / "noconfig" / "adapter_model.safetensors");
  EXPECT_THROW(LoraAdapters::load(model, dir.path() / "noconfig"), io::FileError);
  // Shape mismatch: the config claims another rank.
  std::filesystem::create_directories(dir.path() / "rank");
  std::filesystem::copy_file(dir.path() / "good" / "adapter_model.safetensors",
                             dir.path() / "rank" / "adapter_model.safetensors");
  auto config = nlohmann::json::parse(std::ifstream(dir.path() / "good" / "adapter_config.json"));
  config["r"] = 8;
  std::ofstream(dir.path() / "rank" / "adapter_config.json") << config.dump();
  try {
    LoraAdapters::load(model, dir.path() / "rank");
    ADD_FAILURE() << "no error";
  } catch (const io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("shape of base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"),
              std::string::npos)
        << e.what();
  }
  // Missing keys: the config targets modules the file lacks.
  std::filesystem::create_directories(dir.path() / "missing");
  std::filesystem::copy_file(dir.path() / "qonly" / "adapter_model.safetensors",
                             dir.path() / "missing" / "adapter_model.safetensors");
  std::filesystem::copy_file(dir.path() / "good" / "adapter_config.json",
                             dir.path() / "missing" / "adapter_config.json");
  EXPECT_THROW(LoraAdapters::load(model, dir.path() / "missing"), io::FormatError);
  // Unexpected keys: the file holds more modules than the config targets.
  std::filesystem::create_directories(dir.path() / "extra");
  std::filesystem::copy_file(dir.path() / "good" / "adapter_model.safetensors",
                             dir.path() / "extra" / "adapter_model.safetensors");
  std::filesystem::copy_file(dir.path() / "qonly" / "adapter_config.json", dir.path() / "extra" / "adapter_config.json");
  EXPECT_THROW(LoraAdapters::load(model, dir.path() / "extra"), io::FormatError);
  // Unknown target and broken JSON.
  config["r"] = 4;
  config["target_modules"] = {"q_proj", "lm_head"};
  std::ofstream(dir.path() / "extra" / "adapter_config.json") << config.dump();
  EXPECT_THROW(LoraAdapters::load(model, dir.path() / "extra"), io::FormatError);
  std::ofstream(dir.path() / "extra" / "adapter_config.json") << "{not json";
  EXPECT_THROW(LoraAdapters::load(model, dir.path() / "extra"), io::FormatError);
  // Nothing attached, nothing frozen by the failed loads.
  EXPECT_EQ(model.adapter("model.layers.0.self_attn.q_proj"), nullptr);
  EXPECT_TRUE(model.namedParameters().front().second.requires_grad());
  EXPECT_TRUE(at::equal(model.forward(ids).logits, base));
}

TEST(Lora, MergedModelFolderLoadsAsAStandaloneModel) {
  test::TempDir dir;
  const auto base = std::filesystem::path(CAIG_TEST_DATA) / "tiny-qwen2";
  LlamaModel model = LlamaModel::load(base);
  LoraAdapters lora(model, allTargets(), 5);
  randomizeB(lora, 6);
  const at::Tensor ids = randomIds(1, 6, 7, 1000);
  const at::Tensor adapted = model.forward(ids).logits;
  lora.merge();
  saveLlamaModelFolder(model, base, dir.path() / "merged");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "merged" / "model.safetensors.partial"));
  const LlamaModel reloaded = LlamaModel::load(dir.path() / "merged");
  EXPECT_LT(maxAbsDiff(reloaded.forward(ids).logits, adapted), 1e-5);
  EXPECT_GT(maxAbsDiff(LlamaModel::load(base).forward(ids).logits, adapted), 1e-4);
}

TEST(LlamaTrainingApi, NamesAndParameters) {
  LlamaModel model = randomModel(1);
  const auto modules = model.adaptableModules();
  ASSERT_EQ(modules.size(), 14u);
  EXPECT_EQ(modules[3], "model.layers.0.self_attn.o_proj");
  EXPECT_EQ(modules[13], "model.layers.1.mlp.down_proj");
  EXPECT_THROW(model.setAdapter("model.layers.2.mlp.up_proj", nullptr), std::invalid_argument);
  EXPECT_THROW(model.setAdapter("lm_head", nullptr), std::invalid_argument);
  EXPECT_THROW(model.parameter("nope"), std::out_of_range);
  EXPECT_EQ(model.parameter("lm_head.weight").sizes(), (std::vector<int64_t>{64, 32}));
}

}  // namespace
}  // namespace caig
