// The Hugging Face byte-level BPE tokenizer (Qwen2's tokenizer.json layout) against tokenizers.js
// (@huggingface/tokenizers): tests/data/bpe_tokenizer holds a tiny tokenizer.json learned by
// make_reference.mjs (400 merges, Qwen2's normaliser / pre-tokenizer / decoder / added tokens) and
// the ids tokenizers.js gives for 53 texts, with and without ignore_merges.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/text/bpe_tokenizer.h"
#include "core/llava/llava_conversation.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;
using caig::BpeTokenizer;
using caig::IncrementalDecoder;
using nlohmann::json;

namespace {

const fs::path kDir = fs::path(CAIG_TEST_DATA) / "bpe_tokenizer";

const BpeTokenizer& tok() {
  static const BpeTokenizer t = BpeTokenizer::load(kDir);
  return t;
}

const json& reference() {
  static const json j = caig::io::readJsonFile(kDir / "reference.json");
  return j;
}

std::vector<std::int64_t> idsOf(const json& v) { return v.get<std::vector<std::int64_t>>(); }

fs::path tempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("caig_bpe_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A copy of the tiny tokenizer.json changed by `edit`, in its own folder (no tokenizer_config.json).
fs::path editedTokenizer(const std::string& name, const std::function<void(json&)>& edit) {
  json j = caig::io::readJsonFile(kDir / "tokenizer.json");
  edit(j);
  const fs::path d = tempDir(name);
  std::ofstream(d / "tokenizer.json") << j.dump();
  return d / "tokenizer.json";
}

std::string loadError(const fs::path& file) {
  try {
    BpeTokenizer::load(file);
  } catch (const caig::io::FormatError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(BpeTokenizer, LoadsTheTinyQwen2StyleTokenizer) {
  EXPECT_EQ(tok().pieceCount(), 660);
  EXPECT_EQ(tok().vocabSize(), 664);
  EXPECT_EQ(tok().mergeCount(), 400u);
  EXPECT_EQ(tok().bosId(), -1);  // Qwen2 has no BOS
  EXPECT_FALSE(tok().addBosByDefault());
  EXPECT_EQ(tok().eosId(), *tok().tokenId("<|im_end|>"));  // tokenizer_config.json's eos_token
  EXPECT_EQ(tok().padId(), *tok().tokenId("<|endoftext|>"));
  EXPECT_EQ(tok().unkId(), -1);
  ASSERT_EQ(tok().addedTokens().size(), 4u);
  EXPECT_TRUE(tok().isSpecial(*tok().tokenId("<|im_start|>")));
  EXPECT_FALSE(tok().isSpecial(*tok().tokenId("<image>")));
  EXPECT_EQ(tok().idToToken(*tok().tokenId("<|im_end|>")), "<|im_end|>");
  EXPECT_THROW(tok().idToToken(100000), std::out_of_range);
  EXPECT_NE(tok().chatTemplate().find("<|im_start|>"), std::string::npos);
}

TEST(BpeTokenizer, IdsMatchTokenizersJs) {
  const json& cases = reference()["cases"];
  ASSERT_GE(cases.size(), 50u);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(tok().encode(text), idsOf(c["ids"])) << "text: \"" << text << "\"";
    EXPECT_EQ(tok().encode(text, false), idsOf(c["ids"]));  // no BOS either way
  }
}

TEST(BpeTokenizer, IgnoreMergesMatchesTokenizersJs) {
  const fs::path file = editedTokenizer("ignore", [](json& j) { j["model"]["ignore_merges"] = true; });
  const BpeTokenizer t = BpeTokenizer::load(file);
  int differing = 0;
  for (const auto& c : reference()["cases"]) {
    const std::string text = c["text"].get<std::string>();
    EXPECT_EQ(t.encode(text), idsOf(c["ids_ignore_merges"])) << "text: \"" << text << "\"";
    differing += c["ids_ignore_merges"] != c["ids"];
  }
  EXPECT_GE(differing, 3);  // the whole words no merge builds
  fs::remove_all(file.parent_path());
}

TEST(BpeTokenizer, MergesAsPairsGiveTheSameIds) {
  // tokenizers >= 0.20 writes merges as ["a", "b"]; both forms appear in published folders.
  const fs::path file = editedTokenizer("pairs", [](json& j) {
    json pairs = json::array();
    for (const auto& m : j["model"]["merges"]) {
      const std::string s = m.get<std::string>();
      pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
    }
    j["model"]["merges"] = pairs;
  });
  const BpeTokenizer t = BpeTokenizer::load(file);
  EXPECT_EQ(t.mergeCount(), 400u);
  for (const auto& c : reference()["cases"]) EXPECT_EQ(t.encode(c["text"].get<std::string>()), idsOf(c["ids"]));
  fs::remove_all(file.parent_path());
}

TEST(BpeTokenizer, DecodeMatchesTokenizersJsAndRoundTrips) {
  for (const auto& c : reference()["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto ids = idsOf(c["ids"]);
    EXPECT_EQ(tok().decode(ids, false), c["decoded"].get<std::string>()) << "text: \"" << text << "\"";
    EXPECT_EQ(tok().decode(ids, true), c["decoded_skip_special"].get<std::string>()) << "text: \"" << text << "\"";
  }
  // Round trip of NFC text (decomposed input comes back composed, as the normaliser wrote it).
  for (const std::string text : {"Hello world", "你好，世界！", "😀🎉👍🏽", "line1\nline2\r\n  x", "Café"}) {
    EXPECT_EQ(tok().decode(tok().encode(text), false), text);
  }
  EXPECT_EQ(tok().decode(tok().encode("Cafe\xCC\x81")), "Caf\xC3\xA9");
}

TEST(BpeTokenizer, AddedTokensAreSplitOutBeforeBpe) {
  const auto start = *tok().tokenId("<|im_start|>"), end = *tok().tokenId("<|im_end|>");
  const auto ids = tok().encode("<|im_start|>user\nHi<|im_end|>");
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), start);
  EXPECT_EQ(ids.back(), end);
  const auto tokens = tok().tokenize("x<|im_end|><|im_end|>y");
  EXPECT_EQ(tokens, (std::vector<std::string>{"x", "<|im_end|>", "<|im_end|>", "y"}));
  // Not a complete added token: ordinary text.
  for (const auto id : tok().encode("<|im_end")) EXPECT_LT(id, tok().pieceCount());
  // Ids the tokenizer does not know (a padded model vocabulary) decode to nothing.
  EXPECT_EQ(tok().decode({*tok().tokenId("H"), 5000, 99999}), "H");
}

TEST(BpeTokenizer, StreamingDecodeEqualsFullDecode) {
  // Emoji and CJK pieces end mid-character: the streaming decoder holds them back.
  const std::string text = "Hello 你好 😀🎉👍🏽 world\n<|im_end|> naïve";
  const auto ids = tok().encode(text);
  for (const bool pushSpecial : {false, true}) {
    IncrementalDecoder dec(tok());
    std::string streamed;
    for (const auto id : ids) {
      if (!pushSpecial && tok().isSpecial(id)) continue;
      const std::string piece = dec.push(id);
      EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos);
      streamed += piece;
      EXPECT_EQ(streamed, tok().decode(dec.ids()).substr(0, streamed.size()));
    }
    streamed += dec.flush();
    EXPECT_EQ(streamed, tok().decode(dec.ids()));
    EXPECT_EQ(streamed, "Hello 你好 😀🎉👍🏽 world\n naïve");
  }
  // A lone continuation of a character: U+FFFD on flush, as decode() gives.
  IncrementalDecoder broken(tok());
  const auto emoji = tok().encode("😀");
  ASSERT_FALSE(emoji.empty());
  const std::string b0 = broken.push(*tok().tokenId("\xC3\xB0"));  // byte 0xF0 alone ('ð')
  EXPECT_EQ(b0, "");
  EXPECT_EQ(broken.flush(), "\xEF\xBF\xBD");
}

TEST(BpeTokenizer, TextTokenizerInterfaceServesTheLlavaConversation) {
  const caig::TextTokenizer& t = tok();
  const std::string prompt = caig::chatmlImagePrompt("Describe the image.");
  EXPECT_EQ(prompt,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\nDescribe the "
            "image.<|im_end|>\n<|im_start|>assistant\n");
  const auto ids = caig::tokenizeWithImage(t, prompt, -200);
  // The reference case of the same text with <image> as an added token, the placeholder swapped.
  std::vector<std::int64_t> expected = tok().encode(prompt);
  std::replace(expected.begin(), expected.end(), *tok().tokenId("<image>"), std::int64_t{-200});
  EXPECT_EQ(ids, expected);
  const auto loaded = caig::loadTextTokenizer(kDir);
  EXPECT_EQ(loaded->encode("Hello world"), tok().encode("Hello world"));
  EXPECT_NE(dynamic_cast<const BpeTokenizer*>(loaded.get()), nullptr);
  const auto spm = caig::loadTextTokenizer(fs::path(CAIG_TEST_DATA) / "tiny-llava-tok");
  EXPECT_NE(dynamic_cast<const caig::SentencePieceTokenizer*>(spm.get()), nullptr);
}

TEST(BpeTokenizer, ConversationFormatFromConfigOrTemplate) {
  using caig::ConversationFormat;
  const fs::path d = tempDir("format");
  std::ofstream(d / "config.json") << R"({"model_type": "llava", "text_config": {"model_type": "qwen2"}})";
  EXPECT_EQ(caig::detectConversationFormat(d, d), ConversationFormat::ChatML);
  std::ofstream(d / "config.json") << R"({"model_type": "llava", "text_config": {"model_type": "llama"}})";
  EXPECT_EQ(caig::detectConversationFormat(d, d), ConversationFormat::VicunaV1);
  EXPECT_EQ(caig::detectConversationFormat(d, kDir), ConversationFormat::VicunaV1);  // the config decides
  std::ofstream(d / "config.json") << R"({"model_type": "llava_qwen", "hidden_size": 8})";
  EXPECT_EQ(caig::detectConversationFormat(d, d), ConversationFormat::ChatML);
  std::ofstream(d / "config.json") << R"({"model_type": "llava", "hidden_size": 8})";
  EXPECT_EQ(caig::detectConversationFormat(d, d), ConversationFormat::VicunaV1);
  EXPECT_EQ(caig::detectConversationFormat(d, kDir), ConversationFormat::ChatML);  // chat_template with <|im_start|>
  EXPECT_EQ(caig::detectConversationFormat(d, fs::path(CAIG_TEST_DATA) / "tiny-llava-tok"), ConversationFormat::VicunaV1);
  fs::remove_all(d);
}

TEST(BpeTokenizer, MalformedTokenizerJsonIsAClearError) {
  struct Case {
    std::string name;
    std::function<void(json&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"nomodel", [](json& j) { j.erase("model"); }, "no \"model\""},
      {"wordpiece", [](json& j) { j["model"]["type"] = "WordPiece"; }, "model.type \"WordPiece\" is not supported"},
      {"unigram", [](json& j) { j["model"]["type"] = "Unigram"; }, "not supported"},
      {"mergeform", [](json& j) { j["model"]["merges"][3] = "abc"; }, "model.merges[3] \"abc\" is not a merge"},
      {"mergenum", [](json& j) { j["model"]["merges"][5] = 42; }, "model.merges[5] is neither"},
      {"mergeunknown", [](json& j) { j["model"]["merges"][7] = "Ġ zzzq"; }, "\"zzzq\" is not in the vocabulary"},
      {"novocab", [](json& j) { j["model"]["vocab"] = json::object(); }, "model.vocab must be"},
      {"badid", [](json& j) { j["model"]["vocab"]["H"] = "x"; }, "id of \"H\" is not an integer"},
      {"normalizer", [](json& j) { j["normalizer"] = {{"type", "Lowercase"}}; }, "normalizer type \"Lowercase\""},
      {"pretok", [](json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; }, "pre_tokenizer type \"Metaspace\""},
      {"regex", [](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; }, "does not compile"},
      {"decoder", [](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder type \"WordPiece\""},
      {"fallback", [](json& j) { j["model"]["byte_fallback"] = true; }, "byte_fallback"},
      {"addedclash", [](json& j) { j["added_tokens"][0]["id"] = 5; }, "takes id 5"},
  };
  for (const auto& c : cases) {
    const fs::path file = editedTokenizer(c.name, c.edit);
    const std::string msg = loadError(file);
    EXPECT_NE(msg.find(c.message), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(file.string()), std::string::npos) << c.name << ": " << msg;
    fs::remove_all(file.parent_path());
  }
  const fs::path d = tempDir("notjson");
  std::ofstream(d / "tokenizer.json") << "{ not json";
  EXPECT_THROW(BpeTokenizer::load(d), caig::io::FormatError);
  EXPECT_THROW(BpeTokenizer::load(d / "missing"), caig::io::FileError);
  fs::remove_all(d);
}
