// The native LLaMA-family decoder against the reference fixtures of transformers 4.38 (fp32 CPU):
// tiny Qwen2 (tied embeddings, q/k/v biases, GQA, rope_theta 1e6) and the language model of the
// tiny LLaVA (LLaMA, untied lm_head, fed spliced image features), with KV-cached greedy decoding.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/llama.h"

namespace {

using caig::LlamaConfig;
using caig::LlamaKeyLayout;
using caig::LlamaModel;

const std::filesystem::path kData = CAIG_TEST_DATA;

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

TEST(LlamaConfig, Qwen2FixtureWithLibraryDefaults) {
  const LlamaConfig c = caig::readLlamaConfig(kData / "tiny-qwen2");
  EXPECT_EQ(c.modelType, "qwen2");
  EXPECT_EQ(c.vocabSize, 1000);
  EXPECT_EQ(c.hiddenSize, 32);
  EXPECT_EQ(c.numLayers, 2);
  EXPECT_EQ(c.numHeads, 4);
  EXPECT_EQ(c.numKvHeads, 2);
  EXPECT_EQ(c.headDim, 8);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 1e6);
  EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-6);
  EXPECT_TRUE(c.tieWordEmbeddings);
  EXPECT_TRUE(c.attentionBias);
  EXPECT_FALSE(c.outputBias);
  EXPECT_EQ(c.ropeScaling, caig::RopeScaling::None);
}

TEST(LlamaConfig, LlavaTextConfigWithOmittedDefaults) {
  const LlamaConfig c = caig::readLlamaConfig(kData / "tiny-llava-hf");
  EXPECT_EQ(c.modelType, "llama");
  EXPECT_EQ(c.numKvHeads, 2);
  EXPECT_DOUBLE_EQ(c.ropeTheta, 10000.0);  // omitted: LlamaConfig's default
  EXPECT_DOUBLE_EQ(c.rmsNormEps, 1e-5);
  EXPECT_FALSE(c.tieWordEmbeddings);
  EXPECT_FALSE(c.attentionBias);
  EXPECT_EQ(c.bosTokenId, 1);
  EXPECT_EQ(c.eosTokenId, 2);
}

TEST(LlamaConfig, DefaultsScalingAndRejections) {
  using nlohmann::json;
  const LlamaConfig plain = caig::llamaConfigFromJson(json{{"num_attention_heads", 8}, {"hidden_size", 64}});
  EXPECT_EQ(plain.numKvHeads, 8);  // llama: num_key_value_heads defaults to num_attention_heads
  EXPECT_EQ(plain.headDim, 8);
  const LlamaConfig lin = caig::llamaConfigFromJson(json{{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}});
  EXPECT_EQ(lin.ropeScaling, caig::RopeScaling::Linear);
  EXPECT_DOUBLE_EQ(lin.ropeScalingFactor, 2.0);
  const LlamaConfig dyn = caig::llamaConfigFromJson(json{{"rope_scaling", {{"type", "dynamic"}, {"factor", 4.0}}}});
  EXPECT_EQ(dyn.ropeScaling, caig::RopeScaling::Dynamic);
  const LlamaConfig mistral = caig::llamaConfigFromJson(json{{"model_type", "mistral"}});
  EXPECT_EQ(mistral.numKvHeads, 8);
  EXPECT_THROW(caig::llamaConfigFromJson(json{{"model_type", "gpt2"}}), caig::io::FormatError);
  EXPECT_THROW(caig::llamaConfigFromJson(json{{"hidden_act", "gelu"}}), caig::io::FormatError);
  EXPECT_THROW(caig::llamaConfigFromJson(json{{"num_attention_heads", 32}, {"num_key_value_heads", 5}}),
               caig::io::FormatError);
  EXPECT_THROW(caig::llamaConfigFromJson(json{{"rope_scaling", {{"type", "yarn"}, {"factor", 2.0}}}}),
               caig::io::FormatError);
}

TEST(Qwen2, LogitsMatchTransformers) {
  const auto io = caig::io::SafetensorsFile::open(kData / "qwen2" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  const at::Tensor ids = io.tensor("input_ids");
  ASSERT_EQ(ids.sizes(), (at::IntArrayRef{1, 8}));
  const auto out = model.forward(ids);
  const double err = maxAbsErr(out.logits, io.tensor("logits"));
  std::printf("qwen2 logits max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-4);
}

// The golden comparison is sharp enough to notice a wrong rotary base or scaling, and the
// rope_scaling variants change the logits only where they should.
TEST(Qwen2, RotaryVariantsChangeTheLogits) {
  const auto io = caig::io::SafetensorsFile::open(kData / "qwen2" / "io.safetensors");
  const auto checkpoint = caig::io::Checkpoint::open(kData / "tiny-qwen2");
  const at::Tensor ids = io.tensor("input_ids");
  const at::Tensor golden = io.tensor("logits");
  auto logitsWith = [&](void (*edit)(LlamaConfig&)) {
    LlamaConfig c = caig::readLlamaConfig(kData / "tiny-qwen2");
    edit(c);
    LlamaModel m(c);
    m.loadWeights(checkpoint);
    return m.forward(ids).logits;
  };
  EXPECT_GT(maxAbsErr(logitsWith([](LlamaConfig& c) { c.ropeTheta = 1e4; }), golden), 1e-3);
  EXPECT_GT(maxAbsErr(logitsWith([](LlamaConfig& c) {
              c.ropeScaling = caig::RopeScaling::Linear;
              c.ropeScalingFactor = 2.0;
            }),
                      golden),
            1e-3);
  // Dynamic NTK leaves sequences within max_position_embeddings alone (the unscaled model's logits,
  // themselves the golden's within the fixtures' 1e-4) and rescales longer ones.
  const at::Tensor unscaled = logitsWith([](LlamaConfig&) {});
  EXPECT_LE(maxAbsErr(unscaled, golden), 1e-4);
  EXPECT_LE(maxAbsErr(logitsWith([](LlamaConfig& c) {
                        c.ropeScaling = caig::RopeScaling::Dynamic;
                        c.ropeScalingFactor = 2.0;
                      }),
                      unscaled),
            1e-6);
  EXPECT_GT(maxAbsErr(logitsWith([](LlamaConfig& c) {
              c.ropeScaling = caig::RopeScaling::Dynamic;
              c.ropeScalingFactor = 2.0;
              c.maxPositions = 4;
            }),
                      golden),
            1e-3);
}

TEST(Qwen2, GreedyTokensAndStepLogitsMatchTransformers) {
  const auto io = caig::io::SafetensorsFile::open(kData / "qwen2" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  caig::GreedyOptions options;
  options.maxNewTokens = 10;
  const auto result = model.generateGreedy(io.tensor("input_ids"), options);
  const at::Tensor expected = io.tensor("generated");
  ASSERT_EQ(result.tokens.sizes(), expected.sizes());
  EXPECT_TRUE(at::equal(result.tokens, expected)) << result.tokens << "\nexpected\n" << expected;
  const double err = maxAbsErr(result.stepLogits, io.tensor("generated_step_logits"));
  std::printf("qwen2 greedy step logits max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-4);
}

TEST(Qwen2, ChunkedPrefillWithCacheEqualsOnePass) {
  const auto io = caig::io::SafetensorsFile::open(kData / "qwen2" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  const at::Tensor ids = io.tensor("input_ids");
  const auto full = model.forward(ids);
  auto cache = model.newCache(1, 8);
  const auto a = model.forward(ids.narrow(1, 0, 3), &cache);
  const auto b = model.forward(ids.narrow(1, 3, 4), &cache);
  const auto c = model.forward(ids.narrow(1, 7, 1), &cache);
  EXPECT_EQ(cache.length, 8);
  EXPECT_LE(maxAbsErr(at::cat({a.logits, b.logits, c.logits}, 1), full.logits), 1e-5);
  EXPECT_THROW(model.forward(ids.narrow(1, 0, 1), &cache), std::invalid_argument);  // cache full
  // The cache is what makes positions continue: without it the last token alone is position 0.
  EXPECT_GT(maxAbsErr(model.forward(ids.narrow(1, 7, 1)).logits, c.logits), 1e-3);
}

TEST(Qwen2, BatchRowsAreIndependent) {
  const auto io = caig::io::SafetensorsFile::open(kData / "qwen2" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  const at::Tensor ids = io.tensor("input_ids");
  const at::Tensor batch = at::cat({ids, ids.flip(1)}, 0);
  const auto out = model.forward(batch);
  EXPECT_LE(maxAbsErr(out.logits.narrow(0, 0, 1), io.tensor("logits")), 1e-4);
  EXPECT_LE(maxAbsErr(out.logits.narrow(0, 1, 1), model.forward(ids.flip(1)).logits), 1e-5);
}

TEST(LlamaLoader, NamesMissingAndUnexpectedKeys) {
  const auto checkpoint = caig::io::Checkpoint::open(kData / "tiny-qwen2");
  LlamaConfig untied = caig::readLlamaConfig(kData / "tiny-qwen2");
  untied.tieWordEmbeddings = false;
  LlamaModel model(untied);
  try {
    model.loadWeights(checkpoint);
    FAIL() << "an untied model must miss lm_head.weight";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("lm_head.weight [1000, 32]"), std::string::npos) << e.what();
  }
  LlamaConfig noBias = caig::readLlamaConfig(kData / "tiny-qwen2");
  noBias.attentionBias = false;
  LlamaModel model2(noBias);
  try {
    model2.loadWeights(checkpoint);
    FAIL() << "q/k/v biases must be reported as unexpected";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected (6)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.layers.0.self_attn.q_proj.bias"), std::string::npos) << e.what();
  }
  LlamaConfig wide = caig::readLlamaConfig(kData / "tiny-qwen2");
  wide.intermediateSize = 48;
  LlamaModel model3(wide);
  try {
    model3.loadWeights(checkpoint);
    FAIL() << "wrong MLP width must be reported";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.up_proj.weight: checkpoint F32 [64, 32]"),
              std::string::npos)
        << e.what();
  }
  // The key layout maps every name in one place.
  EXPECT_EQ(LlamaKeyLayout::llavaHf().checkpointKey("lm_head.weight"), "language_model.lm_head.weight");
  EXPECT_TRUE(LlamaKeyLayout::llavaHf().isForeign("multi_modal_projector.linear_1.bias"));
  EXPECT_TRUE(LlamaKeyLayout::llavaOriginal().isForeign("model.mm_projector.0.weight"));
  EXPECT_FALSE(LlamaKeyLayout::llavaOriginal().isForeign("model.layers.0.mlp.up_proj.weight"));
}

// LLaVA's language model: 15 text ids, 16 projected image features, 11 text ids.
at::Tensor llavaEmbeddings(const LlamaModel& model, const caig::io::SafetensorsFile& io) {
  const auto meta = nlohmann::json::parse(std::ifstream(kData / "llava" / "io.json"));
  const auto before = meta.at("ids_before_image").get<std::vector<int64_t>>();
  const auto after = meta.at("ids_after_image").get<std::vector<int64_t>>();
  const at::Tensor ids = io.tensor("input_ids");
  // The fixture's ids agree with io.json's description: before + [999] + after.
  EXPECT_EQ(ids.size(1), static_cast<int64_t>(before.size() + 1 + after.size()));
  const at::Tensor idsBefore = at::tensor(before, at::kLong).unsqueeze(0);
  const at::Tensor idsAfter = at::tensor(after, at::kLong).unsqueeze(0);
  EXPECT_TRUE(at::equal(ids.narrow(1, 0, 15), idsBefore));
  EXPECT_TRUE(at::equal(ids.narrow(1, 16, 11), idsAfter));
  return at::cat({model.embed(idsBefore), io.tensor("image_features"), model.embed(idsAfter)}, 1);
}

TEST(LlavaLanguageModel, SplicedLogitsAndLastHiddenMatchTransformers) {
  const auto io = caig::io::SafetensorsFile::open(kData / "llava" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-llava-hf");
  const at::Tensor embeds = llavaEmbeddings(model, io);
  ASSERT_EQ(embeds.sizes(), (at::IntArrayRef{1, 42, 32}));
  const auto out = model.forwardEmbeddings(embeds);
  const double errLogits = maxAbsErr(out.logits, io.tensor("logits"));
  const double errHidden = maxAbsErr(out.hidden.select(1, 41), io.tensor("last_hidden"));
  std::printf("llava logits max abs err %.3g, last_hidden %.3g\n", errLogits, errHidden);
  EXPECT_LE(errLogits, 1e-4);
  EXPECT_LE(errHidden, 1e-4);
}

TEST(LlavaLanguageModel, GreedyTokensMatchTransformers) {
  const auto io = caig::io::SafetensorsFile::open(kData / "llava" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-llava-hf");
  caig::GreedyOptions options;
  options.maxNewTokens = 12;
  const auto result = model.generateGreedyFromEmbeddings(llavaEmbeddings(model, io), options);
  const at::Tensor expected = io.tensor("generated");
  ASSERT_EQ(result.tokens.sizes(), expected.sizes());
  EXPECT_TRUE(at::equal(result.tokens, expected)) << result.tokens << "\nexpected\n" << expected;
  const double err = maxAbsErr(result.stepLogits, io.tensor("generated_step_logits"));
  std::printf("llava greedy step logits max abs err %.3g\n", err);
  EXPECT_LE(err, 1e-4);
}

TEST(LlavaLanguageModel, EosStopsGeneration) {
  const auto io = caig::io::SafetensorsFile::open(kData / "llava" / "io.safetensors");
  const LlamaModel model = LlamaModel::load(kData / "tiny-llava-hf");
  const at::Tensor expected = io.tensor("generated");
  caig::GreedyOptions options;
  options.maxNewTokens = 12;
  options.eosTokenId = expected[0][3].item<int64_t>();  // pretend the 4th token is eos
  const auto result = model.generateGreedyFromEmbeddings(llavaEmbeddings(model, io), options);
  // Stops at the first occurrence of that token, which is at index 3 or earlier.
  ASSERT_LE(result.tokens.size(1), 4);
  EXPECT_TRUE(at::equal(result.tokens, expected.narrow(1, 0, result.tokens.size(1))));
  EXPECT_EQ(result.tokens[0][result.tokens.size(1) - 1].item<int64_t>(), options.eosTokenId);
}

// The original LLaVA layout (model.* + lm_head.* with the vision tower and projector beside
// them) holds the same weights; it is read from the shared fixtures when they are present.
TEST(LlavaLanguageModel, OriginalLayoutLoadsTheSameWeights) {
  const std::filesystem::path original = std::filesystem::path(CAIG_SHARED_FIXTURES) / "tiny-llava";
  if (!std::filesystem::exists(original / "model.safetensors")) GTEST_SKIP() << "no shared fixtures at " << original;
  const LlamaModel a = LlamaModel::load(original);
  const LlamaModel b = LlamaModel::load(kData / "tiny-llava-hf");
  const at::Tensor ids = at::arange(1, 20, at::kLong).unsqueeze(0);
  EXPECT_LE(maxAbsErr(a.forward(ids).logits, b.forward(ids).logits), 0.0);
  // Read as a plain causal LM, the vision keys are unexpected.
  LlamaModel c(caig::readLlamaConfig(original));
  EXPECT_THROW(c.loadWeights(caig::io::Checkpoint::open(original)), caig::io::FormatError);
}

}  // namespace

// ---- memory-light loading: the file's own tensors, bf16, weight-only int8 ---------------------

namespace {

// Greedy tokens and step logits of `model` on the fixture `fixture` ("qwen2" ids or "llava" embeddings).
caig::GreedyResult fixtureGreedy(const LlamaModel& model, const std::string& fixture) {
  const auto io = caig::io::SafetensorsFile::open(kData / fixture / "io.safetensors");
  caig::GreedyOptions options;
  options.maxNewTokens = fixture == "qwen2" ? 10 : 12;
  return fixture == "qwen2" ? model.generateGreedy(io.tensor("input_ids"), options)
                            : model.generateGreedyFromEmbeddings(llavaEmbeddings(model, io), options);
}

}  // namespace

// A loaded fp32 model's tensors are views of the mapped file, copy-on-write: changing one in
// place (a merged LoRA) changes neither the file nor a second model loaded from it.
TEST(LlamaLoader, WeightsAreCopyOnWriteViewsOfTheFile) {
  const std::filesystem::path dir = kData / "tiny-qwen2";
  const auto bytesBefore = std::filesystem::file_size(dir / "model.safetensors");
  const auto checkpoint = caig::io::Checkpoint::open(dir);
  const at::Tensor stored = checkpoint.tensor("model.layers.0.mlp.up_proj.weight").clone();
  LlamaModel a = LlamaModel::load(dir);
  at::Tensor w = a.parameter("model.layers.0.mlp.up_proj.weight");
  EXPECT_TRUE(at::equal(w, stored));
  {
    at::NoGradGuard noGrad;
    w.add_(1.0);
  }
  const LlamaModel b = LlamaModel::load(dir);
  EXPECT_TRUE(at::equal(b.parameter("model.layers.0.mlp.up_proj.weight"), stored));
  EXPECT_TRUE(at::equal(caig::io::Checkpoint::open(dir).tensor("model.layers.0.mlp.up_proj.weight"), stored));
  EXPECT_EQ(std::filesystem::file_size(dir / "model.safetensors"), bytesBefore);
  // An uninitialised model filled by loadWeights is the loaded one.
  LlamaModel c = LlamaModel::uninitialised(caig::readLlamaConfig(dir), at::kFloat);
  c.loadWeights(checkpoint);
  for (const auto& [name, t] : b.namedParameters()) EXPECT_TRUE(at::equal(c.parameter(name), t)) << name;
}

// bf16 straight from the loader (never fp32 on the way) and weight-only int8 against the fp32
// goldens of transformers: the logit error is stated. The tiny LLaVA's greedy tokens are the
// reference's in both. The tiny Qwen2 (random weights of std 0.2 at width 32, so errors grow
// from layer to layer) has a near tie at its first step (top-2 margin 0.017 against int8's 0.07
// logit error), where int8 picks the other token; so there, teacher-forced on the reference's
// tokens, every step whose fp32 top-2 margin is larger than twice that step's logit error picks the
// reference's token, and the near ties are counted.
TEST(LlamaInt8, GreedyTokensOfTheFixturesUnchanged) {
  for (const std::string fixture : {"qwen2", "llava"}) {
    const std::filesystem::path dir = kData / (fixture == "qwen2" ? "tiny-qwen2" : "tiny-llava-hf");
    const auto io = caig::io::SafetensorsFile::open(kData / fixture / "io.safetensors");
    const at::Tensor expected = io.tensor("generated");
    const at::Tensor goldenLogits = io.tensor("generated_step_logits");
    const double scale = goldenLogits.abs().max().item<double>();

    const LlamaModel fp32 = LlamaModel::load(dir);
    LlamaModel int8 = LlamaModel::load(dir);
    const int64_t fp32Bytes = int8.weightBytes();
    int8.quantizeInt8();
    EXPECT_TRUE(int8.isInt8());
    EXPECT_LT(int8.weightBytes(), fp32Bytes);
    const LlamaModel bf16 = LlamaModel::load(dir, c10::Device("cpu"), at::kBFloat16);
    EXPECT_EQ(bf16.dtype(), at::kBFloat16);
    EXPECT_EQ(bf16.parameter("model.layers.0.mlp.up_proj.weight").scalar_type(), at::kBFloat16);

    if (fixture == "llava") {
      const auto q = fixtureGreedy(int8, fixture), h = fixtureGreedy(bf16, fixture);
      EXPECT_TRUE(at::equal(q.tokens, expected)) << "int8\n" << q.tokens << "\nexpected\n" << expected;
      EXPECT_TRUE(at::equal(h.tokens, expected)) << "bf16\n" << h.tokens << "\nexpected\n" << expected;
      const double errInt8 = maxAbsErr(q.stepLogits, goldenLogits), errBf16 = maxAbsErr(h.stepLogits, goldenLogits);
      std::printf("llava greedy step logits (|max| %.3g): int8 weights max abs err %.3g, bf16 %.3g\n", scale, errInt8,
                  errBf16);
      EXPECT_LE(errInt8, 0.02 * scale);
      EXPECT_LE(errBf16, 0.02 * scale);
      continue;
    }
    // Teacher-forced: the prompt and the reference's tokens in one pass.
    const at::Tensor prompt = io.tensor("input_ids");
    const at::Tensor all = at::cat({prompt, expected}, 1);
    const int64_t first = prompt.size(1) - 1, steps = expected.size(1);
    const at::Tensor ref = fp32.forward(all).logits.narrow(1, first, steps)[0];
    EXPECT_LE(maxAbsErr(ref, goldenLogits[0]), 1e-4);  // the fp32 model is the reference's
    for (const LlamaModel* m : {static_cast<const LlamaModel*>(&int8), &bf16}) {
      const at::Tensor got = m->forward(all).logits.to(at::kFloat).narrow(1, first, steps)[0];
      const double err = (got - ref).abs().max().item<double>();
      int nearTies = 0;
      for (int64_t t = 0; t < steps; ++t) {
        const at::Tensor top = std::get<0>(ref[t].topk(2));
        const double margin = (top[0] - top[1]).item<double>();
        if (margin <= 2 * (got[t] - ref[t]).abs().max().item<double>()) {  // this step's error could flip it
          ++nearTies;
          continue;
        }
        EXPECT_EQ(got[t].argmax().item<int64_t>(), expected[0][t].item<int64_t>()) << "step " << t;
      }
      std::printf("qwen2 teacher-forced logits (|max| %.3g), %s: max abs err %.3g, %d of %lld steps near ties\n", scale,
                  m == &int8 ? "int8 weights" : "bf16", err, nearTies, static_cast<long long>(steps));
      EXPECT_LE(err, 0.05 * scale);
      EXPECT_LE(nearTies, steps / 2);
    }
  }
}

TEST(LlamaInt8, RefusesWhatNeedsFloatWeights) {
  LlamaModel model = LlamaModel::load(kData / "tiny-qwen2");
  model.quantizeInt8();
  EXPECT_THROW(model.parameter("model.layers.0.self_attn.q_proj.weight"), std::logic_error);
  EXPECT_NO_THROW(model.parameter("model.norm.weight"));
  EXPECT_THROW(model.namedParameters(), std::logic_error);
  struct Zero : caig::LlamaLinearAdapter {
    at::Tensor forward(const at::Tensor& x) const override { return at::zeros_like(x); }
    std::vector<at::Tensor> parameters() const override { return {}; }
  };
  EXPECT_THROW(model.setAdapter("model.layers.0.self_attn.q_proj", std::make_shared<Zero>()), std::logic_error);
  EXPECT_THROW(model.loadWeights(caig::io::Checkpoint::open(kData / "tiny-qwen2")), std::logic_error);
}
