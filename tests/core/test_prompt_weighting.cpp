// Prompt emphasis and long prompts (core/text/prompt_weighting.h, weightedTextEmbeddings in
// models/clip_text.h) against CAIG's own embedder, utils/clip_text_custom_embedder.py of
// github.com/Chenguoz/CAIG (tests/data/prompt_weighting, copied from ../shared/fixtures: the real
// CLIP vocabulary, the tiny SD1.5 text encoder). Parsed fragments and weights, the chunks' ids
// (exact) and weights, and the weighted, mean-kept embeddings (1e-4), clip skip included.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/text/clip_tokenizer.h"
#include "core/text/prompt_weighting.h"
#include "models/clip_text.h"
#include "models/io/checkpoint.h"
#include "models/sd_single_file.h"

namespace {

namespace fs = std::filesystem;
const fs::path kData = CAIG_TEST_DATA;

const nlohmann::json& cases() {
  static const nlohmann::json io = [] {
    std::ifstream in(kData / "prompt_weighting" / "io.json");
    return nlohmann::json::parse(in);
  }();
  return io.at("cases");
}

const caig::io::Checkpoint& goldens() {
  static const auto io = caig::io::Checkpoint::open(kData / "prompt_weighting" / "io.safetensors");
  return io;
}

const caig::ClipTokenizer& tokenizer() {
  static const auto t = caig::ClipTokenizer::load(kData / "clip-tokenizer");
  return t;
}

// The tiny SD1.5 text encoder the fixture used (tiny-sd15/text_encoder), as it lies in the single file.
const caig::ClipTextModel& encoder() {
  static const caig::ClipTextModel m = [] {
    caig::SdSingleFileHints h = caig::readLdmYamlHints(kData / "single_file_sd15" / "tiny-sd15.yaml");
    h.clipHeads = 2;
    return caig::loadSingleFileClip(kData / "single_file_sd15" / "tiny-sd15.safetensors", c10::Device("cpu"), h);
  }();
  return m;
}

// The single-prompt cases (the batch and negative-prompt ones combine these).
std::vector<std::string> singleCases() {
  std::vector<std::string> out;
  for (const auto& [name, c] : cases().items()) {
    if (c.contains("text") && c.at("text").is_string()) out.push_back(name);
  }
  return out;
}

TEST(PromptWeighting, ParsesLikeCaigsEmbedder) {
  ASSERT_GE(singleCases().size(), 14u);
  for (const auto& name : singleCases()) {
    const auto& c = cases().at(name);
    const auto parsed = caig::parsePromptAttention(c.at("text").get<std::string>(), false);  // BREAK as text
    const auto& expected = c.at("parsed");
    ASSERT_EQ(parsed.size(), expected.size()) << name;
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      EXPECT_EQ(parsed[i].text, expected[i][0].get<std::string>()) << name << " fragment " << i;
      EXPECT_NEAR(parsed[i].weight, expected[i][1].get<double>(), 1e-12) << name << " fragment " << i;
    }
  }
}

TEST(PromptWeighting, ChunksHaveTheEmbeddersIdsAndWeights) {
  for (const auto& name : singleCases()) {
    const auto& c = cases().at(name);
    const auto chunks = caig::weightedPromptChunks(tokenizer(), c.at("text").get<std::string>(), false);
    EXPECT_EQ(chunks.tokens, c.at("token_count")[0].get<std::size_t>()) << name;
    const at::Tensor ids = goldens().tensor(name + "__chunk_ids");  // [1, k, 77]
    const at::Tensor weights = goldens().tensor(name + "__chunk_weights");
    ASSERT_EQ(static_cast<int64_t>(chunks.ids.size()), ids.size(1)) << name;
    for (std::size_t k = 0; k < chunks.ids.size(); ++k) {
      const at::Tensor mine = at::tensor(chunks.ids[k], at::kLong);
      EXPECT_TRUE(at::equal(mine, ids[0][static_cast<int64_t>(k)])) << name << " chunk " << k;
      const at::Tensor w = at::tensor(chunks.weights[k], at::kFloat);
      EXPECT_LE((w - weights[0][static_cast<int64_t>(k)]).abs().max().item<double>(), 1e-6) << name << " chunk " << k;
    }
  }
}

// A1111's BREAK: the embedder's "break_keyword" case read as A1111 reads it, each side of the
// BREAK its own chunk, with the ids the embedder gives each side alone.
TEST(PromptWeighting, BreakStartsANewChunk) {
  using caig::WeightedFragment;
  const auto parsed = caig::parsePromptAttention("a (perfume bottle:1.3) BREAK  marble BREAKFAST, (x BREAK y)");
  ASSERT_EQ(parsed.size(), 7u);
  EXPECT_EQ(parsed[0], (WeightedFragment{"a ", 1.0}));
  EXPECT_EQ(parsed[1], (WeightedFragment{"perfume bottle", 1.3}));
  EXPECT_TRUE(parsed[2].chunkBreak);                                    // the spaces around it go with it
  EXPECT_EQ(parsed[3], (WeightedFragment{"marble BREAKFAST, ", 1.0}));  // not a word of its own: text
  EXPECT_EQ(parsed[4], (WeightedFragment{"x", 1.1}));
  EXPECT_TRUE(parsed[5].chunkBreak);  // inside a group too, and not weighted
  EXPECT_EQ(parsed[6], (WeightedFragment{"y", 1.1}));
  EXPECT_EQ(caig::parsePromptAttention("a BREAK b", false).size(), 1u);  // CAIG's embedder: text

  const std::string text = cases().at("break_keyword").at("text").get<std::string>();
  ASSERT_EQ(text, "a perfume bottle BREAK marble podium");
  const auto chunks = caig::weightedPromptChunks(tokenizer(), text);
  ASSERT_EQ(chunks.ids.size(), 2u);
  EXPECT_EQ(chunks.ids[0], caig::weightedPromptChunks(tokenizer(), "a perfume bottle").ids[0]);
  EXPECT_EQ(chunks.ids[1], caig::weightedPromptChunks(tokenizer(), "marble podium").ids[0]);
  EXPECT_EQ(chunks.tokens, 5u);
  // The embedder's own reading (BREAK tokenised as a word) stays one chunk.
  EXPECT_EQ(caig::weightedPromptChunks(tokenizer(), text, false).ids.size(), 1u);
  // As A1111's next_chunk(): an empty chunk between two BREAKs, none after a last one, none for a
  // chunk that filled up just before a BREAK.
  EXPECT_EQ(caig::weightedPromptChunks(tokenizer(), "a BREAK BREAK b").ids.size(), 3u);
  EXPECT_EQ(caig::weightedPromptChunks(tokenizer(), "a BREAK").ids.size(), 1u);
  EXPECT_EQ(caig::weightedPromptChunks(tokenizer(), "BREAK").ids.size(), 1u);
  std::string full;
  for (int i = 0; i < 75; ++i) full += "cat ";
  ASSERT_EQ(caig::weightedPromptChunks(tokenizer(), full).tokens, 75u);
  EXPECT_EQ(caig::weightedPromptChunks(tokenizer(), full + "BREAK dog").ids.size(), 2u);
}

TEST(PromptWeighting, WeightedEmbeddingsMatchTheEmbedder) {
  for (const auto& name : singleCases()) {
    const auto& c = cases().at(name);
    const auto chunks = caig::weightedPromptChunks(tokenizer(), c.at("text").get<std::string>(), false);
    const int clipSkip = c.value("clip_stop_at_last_layers", 1) - 1;
    const at::Tensor embeds = caig::weightedTextEmbeddings(encoder(), chunks.ids, chunks.weights, clipSkip);
    const at::Tensor expected = goldens().tensor(name + "__embeds");
    ASSERT_EQ(embeds.sizes(), expected.sizes()) << name;
    EXPECT_LE((embeds - expected).abs().max().item<double>(), 1e-4) << name;
  }
  // Unweighted, one chunk: exactly the plain encoder's output.
  const auto plain = caig::weightedPromptChunks(tokenizer(), "a glass perfume bottle on a marble podium");
  const at::Tensor ids = at::tensor(plain.ids[0], at::kLong).view({1, 77});
  EXPECT_LE((caig::weightedTextEmbeddings(encoder(), plain.ids, plain.weights) - encoder().forward(ids).lastHiddenState)
                .abs()
                .max()
                .item<double>(),
            1e-6);
  EXPECT_THROW(caig::weightedTextEmbeddings(encoder(), {}, {}), std::invalid_argument);
}

}  // namespace
