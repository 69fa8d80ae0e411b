// The CLIP tokenizer against transformers 4.38 CLIPTokenizer (slow, with ftfy 6.3) on the real
// CLIP vocabulary: tests/data/clip_tokenizer_cases.json (copied from the shared fixtures).

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/text/clip_tokenizer.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace {

const std::filesystem::path kData = CAIG_TEST_DATA;

const caig::ClipTokenizer& tokenizer() {
  static const caig::ClipTokenizer t = caig::ClipTokenizer::load(kData / "clip-tokenizer");
  return t;
}

TEST(ClipTokenizer, LoadsTheRealVocabulary) {
  const auto& t = tokenizer();
  EXPECT_EQ(t.vocabSize(), 49408u);
  EXPECT_EQ(t.mergeCount(), 48894u);
  EXPECT_EQ(t.bosId(), 49406);
  EXPECT_EQ(t.eosId(), 49407);
  EXPECT_EQ(t.padId(), 49407);
  EXPECT_EQ(t.modelMaxLength(), 77);
  EXPECT_EQ(t.tokenId("a</w>"), 320);
  EXPECT_EQ(t.tokenId("no such token"), -1);
}

TEST(ClipTokenizer, MatchesTransformersOnEveryFixtureCase) {
  const auto cases = caig::io::readJsonFile(kData / "clip_tokenizer_cases.json");
  ASSERT_EQ(cases.at("max_length").get<int>(), 77);
  const auto& list = cases.at("cases");
  ASSERT_GE(list.size(), 15u);
  int matched = 0;
  for (const auto& c : list) {
    const auto text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<int64_t>>();
    const auto ids = tokenizer().encode(text);
    // The token strings (fixture: with the start/end tokens, unpadded) say where a mismatch is.
    auto expectedTokens = c.at("tokens").get<std::vector<std::string>>();
    ASSERT_GE(expectedTokens.size(), 2u);
    expectedTokens = std::vector<std::string>(expectedTokens.begin() + 1, expectedTokens.end() - 1);
    auto tokens = tokenizer().tokenize(text);
    if (tokens.size() > 75) tokens.resize(75);
    EXPECT_EQ(tokens, expectedTokens) << "text: " << text;
    EXPECT_EQ(ids, expected) << "text: " << text;
    if (ids == expected) ++matched;
  }
  std::printf("[clip tokenizer] %d of %zu fixture cases match exactly\n", matched, list.size());
  EXPECT_EQ(matched, static_cast<int>(list.size()));
}

TEST(ClipTokenizer, PadsWithEndTokenAndTruncates) {
  const auto& t = tokenizer();
  const auto empty = t.encode("");
  ASSERT_EQ(empty.size(), 77u);
  EXPECT_EQ(empty[0], 49406);
  for (std::size_t i = 1; i < empty.size(); ++i) EXPECT_EQ(empty[i], 49407);

  std::string longText;
  for (int i = 0; i < 200; ++i) longText += "cat ";
  EXPECT_EQ(t.encodeRaw(longText).size(), 200u);
  const auto ids = t.encode(longText);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), 49406);
  EXPECT_EQ(ids.back(), 49407);
  EXPECT_EQ(ids[75], t.tokenId("cat</w>"));

  const auto short8 = t.encode("a photo of a cat", 5);
  EXPECT_EQ(short8, (std::vector<int64_t>{49406, t.tokenId("a</w>"), t.tokenId("photo</w>"), t.tokenId("of</w>"), 49407}));
  EXPECT_THROW(t.encode("x", 1), std::invalid_argument);
  // Special tokens written in the text are the special ids, as transformers does.
  EXPECT_EQ(t.encodeRaw("<|endoftext|>"), (std::vector<int64_t>{49407}));
}

TEST(ClipTokenizer, CleansTextLikeFtfy) {
  using caig::ClipTokenizer;
  EXPECT_EQ(ClipTokenizer::cleanText("  Hello\t\tWORLD \n "), "hello world");
  // HTML entities are unescaped unless the text looks like HTML (contains '<').
  EXPECT_EQ(ClipTokenizer::cleanText("Tom &amp; Jerry &#233;t&#xE9; &EACUTE;"), "tom & jerry été é");
  EXPECT_EQ(ClipTokenizer::cleanText("<b>Tom &amp; Jerry</b>"), "<b>tom &amp; jerry</b>");
  EXPECT_EQ(ClipTokenizer::cleanText("&notanentity; & &#150;"), "&notanentity; & \u2013");
  // Ligatures, full-width ASCII, curly quotes, NBSP / em space, control characters, ANSI escapes.
  EXPECT_EQ(ClipTokenizer::cleanText("\uFB01ne \uFF21\uFF22\uFF43\u3000x"), "fine abc x");
  EXPECT_EQ(ClipTokenizer::cleanText("\u2018it\u2019s\u2019 \u201Cquoted\u201D"), "'it's' \"quoted\"");
  EXPECT_EQ(ClipTokenizer::cleanText("a\u00A0b\u2003c\u2028d"), "a b c d");
  EXPECT_EQ(ClipTokenizer::cleanText("x\x01y\x1b[31mred\x1b[0m\uFEFF"), "xyred");
  // NFC: base letter + combining mark -> the precomposed letter (what the vocabulary has).
  EXPECT_EQ(ClipTokenizer::cleanText("cafe\u0301 Cre\u0300me"), "caf\u00E9 cr\u00E8me");
  EXPECT_EQ(tokenizer().encode("cafe\u0301"), tokenizer().encode("caf\u00E9"));
  // Unicode lower-casing.
  EXPECT_EQ(ClipTokenizer::cleanText("\u00DCBER \u0416\u0410\u0420 \u03A3\u039F"), "\u00FCber \u0436\u0430\u0440 \u03C3\u03BF");
  // Invalid UTF-8 becomes U+FFFD rather than failing.
  EXPECT_EQ(ClipTokenizer::cleanText(std::string("a\xff") + "b"), "a\uFFFDb");
}

// Documented difference: ftfy's mojibake repair is not reproduced (ftfy turns "cafÃ©" into
// "café"); the text is kept and lower-cased as it is.
TEST(ClipTokenizer, DoesNotRepairMojibake) {
  EXPECT_EQ(caig::ClipTokenizer::cleanText("caf\u00C3\u00A9"), "caf\u00E3\u00A9");
}

TEST(ClipTokenizer, ReportsMissingFiles) {
  EXPECT_THROW(caig::ClipTokenizer::load(kData / "no-such-tokenizer"), caig::io::FileError);
}

}  // namespace
