// The LLaMA-style SentencePiece tokenizer on the shipped tiny model (tests/data/tiny-llava-tok,
// made by its make_tokenizer.py with spm_train: BPE, byte fallback, split digits, identity
// normalisation, dummy prefix, user-defined symbol "<logo>", added token "<image>" = 999).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/text/sentencepiece_tokenizer.h"
#include "models/io/errors.h"

#ifdef CAIG_HAVE_LIBSENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <random>
#endif

namespace fs = std::filesystem;
using caig::IncrementalDecoder;
using caig::SentencePieceTokenizer;

namespace {

const fs::path kTokDir = fs::path(CAIG_TEST_DATA) / "tiny-llava-tok";

const SentencePieceTokenizer& tok() {
  static const SentencePieceTokenizer t = SentencePieceTokenizer::load(kTokDir);
  return t;
}

fs::path tempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("caig_spm_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void writeFile(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

}  // namespace

TEST(SentencePiece, SpecialIdsComeFromTheModel) {
  EXPECT_EQ(tok().unkId(), 0);
  EXPECT_EQ(tok().bosId(), 1);
  EXPECT_EQ(tok().eosId(), 2);
  EXPECT_EQ(tok().padId(), -1);
  EXPECT_EQ(tok().pieceCount(), 999);
  EXPECT_EQ(tok().vocabSize(), 1000);
  EXPECT_EQ(tok().idToToken(1), "<s>");
  EXPECT_EQ(tok().idToToken(2), "</s>");
  EXPECT_EQ(tok().idToToken(999), "<image>");
  EXPECT_EQ(tok().tokenId("<image>"), 999);
  EXPECT_EQ(tok().tokenId("</s>"), 2);
  EXPECT_FALSE(tok().tokenId("no such piece").has_value());
  EXPECT_TRUE(tok().isSpecial(1));
  EXPECT_TRUE(tok().isSpecial(999));
  EXPECT_FALSE(tok().isSpecial(tok().encode("perfume", false).front()));
  EXPECT_TRUE(tok().addBosByDefault());
  ASSERT_EQ(tok().addedTokens().size(), 1u);
  EXPECT_THROW((void)tok().idToToken(5000), std::out_of_range);
}

TEST(SentencePiece, BosIsOptionalAndNeverDoubled) {
  const auto with = tok().encode("A perfume bottle");
  const auto without = tok().encode("A perfume bottle", false);
  ASSERT_EQ(with.size(), without.size() + 1);
  EXPECT_EQ(with.front(), 1);
  EXPECT_EQ(std::vector<std::int64_t>(with.begin() + 1, with.end()), without);
  EXPECT_EQ(tok().encode("", true), std::vector<std::int64_t>{1});
  EXPECT_TRUE(tok().encode("", false).empty());
}

TEST(SentencePiece, DummyPrefixAsLlamaLegacy) {
  // SentencePiece's add_dummy_prefix: every chunk starts with "▁" as if preceded by a space.
  const auto p = tok().pieces("perfume bottle");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "\xE2\x96\x81perfume");
  EXPECT_EQ(p[1], "\xE2\x96\x81" "bottle");
  // A newline chunk (what follows "<image>" in LLaVA prompts) gets a lone "▁" then the byte.
  const auto nl = tok().pieces("\nperfume");
  ASSERT_GE(nl.size(), 3u);
  EXPECT_EQ(nl[0], "\xE2\x96\x81");
  EXPECT_EQ(nl[1], "<0x0A>");
  EXPECT_EQ(nl[2], "perfume");
  // Whitespace is kept (remove_extra_whitespaces is off as in LLaMA): a trailing space is a piece.
  EXPECT_EQ(tok().pieces("USER: ").back(), "\xE2\x96\x81");
  // Digits are split one by one.
  const auto d = tok().pieces("2024");
  EXPECT_EQ(d, (std::vector<std::string>{"\xE2\x96\x81", "2", "0", "2", "4"}));
}

TEST(SentencePiece, RoundTrips) {
  for (const std::string text : {"A perfume bottle on a marble counter, soft shadows, 8k",
                                 "Le café crème sur la table", "日本の香水 ボトル and 🧴 emoji", "two  spaces  kept",
                                 "line one\nline two", "Which side, left or right?"}) {
    const auto ids = tok().encode(text);
    EXPECT_EQ(tok().decode(ids), text) << text;
    for (const auto id : ids) EXPECT_LT(id, tok().vocabSize());
  }
}

TEST(SentencePiece, ByteFallbackForUnseenCharacters) {
  // "🧴" is not in the tiny vocabulary: four byte pieces <0xF0> <0x9F> <0xA7> <0xB4>.
  const auto p = tok().pieces("🧴");
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p[1], "<0xF0>");
  EXPECT_EQ(p[4], "<0xB4>");
  EXPECT_EQ(tok().decode(tok().encode("🧴")), "🧴");
  // No unknown ids for any UTF-8 input.
  for (const auto id : tok().encode("ῼ ∰ ⅞ 𝄞")) EXPECT_NE(id, tok().unkId());
}

TEST(SentencePiece, SplitsOnAddedAndSpecialTokens) {
  // Each chunk around "<image>" is encoded on its own, so the "\n" after it gets its own "▁".
  const auto ids = tok().encode("USER: <image>\nDescribe it");
  std::vector<std::int64_t> expected = {1};
  for (auto id : tok().encode("USER: ", false)) expected.push_back(id);
  expected.push_back(999);
  for (auto id : tok().encode("\nDescribe it", false)) expected.push_back(id);
  EXPECT_EQ(ids, expected);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 999), 1);
  // The model's own special pieces written in the text become their ids.
  const auto eos = tok().encode("done</s>", false);
  EXPECT_EQ(eos.back(), 2);
  EXPECT_EQ(tok().encode("<s>", false), std::vector<std::int64_t>{1});
  // A user-defined symbol of the model is one piece, never split.
  const auto logo = tok().pieces("a <logo> here");
  EXPECT_NE(std::find(logo.begin(), logo.end(), "<logo>"), logo.end());
  // Two images: two placeholders.
  const auto two = tok().encode("<image><image>", false);
  EXPECT_EQ(two, (std::vector<std::int64_t>{999, 999}));
}

TEST(SentencePiece, DecodeSkipsSpecialTokensUnlessAsked) {
  auto ids = tok().encode("USER: <image>\nA red mug");
  ids.push_back(2);
  ids.push_back(0);
  ids.push_back(1234);  // past the tokenizer (a padded model vocabulary)
  const std::string skipped = tok().decode(ids);
  EXPECT_EQ(skipped.find("<image>"), std::string::npos);
  EXPECT_EQ(skipped.find("</s>"), std::string::npos);
  EXPECT_NE(skipped.find("A red mug"), std::string::npos);
  const std::string kept = tok().decode(ids, false);
  EXPECT_NE(kept.find("<s>"), std::string::npos);
  EXPECT_NE(kept.find("<image>"), std::string::npos);
  EXPECT_NE(kept.find("</s>"), std::string::npos);
}

TEST(SentencePiece, IncrementalDecodeKeepsCharactersAndSpacesWhole) {
  const std::string text = "Le café 日本 🧴 soft shadows, 8k\nnew line";
  const auto ids = tok().encode(text, true);
  IncrementalDecoder dec(tok());
  std::string streamed;
  std::vector<std::int64_t> seen;
  for (const auto id : ids) {
    const std::string part = dec.push(id);
    seen.push_back(id);
    streamed += part;
    // Never a broken character: every prefix handed out is valid text ending on a whole one,
    // and it is a prefix of the full decode of the ids seen so far.
    const std::string full = tok().decode(seen);
    ASSERT_EQ(full.compare(0, streamed.size(), streamed), 0) << streamed;
    if (!part.empty()) {
      const unsigned char last = static_cast<unsigned char>(streamed.back());
      EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << "ends inside a character";
    }
  }
  streamed += dec.flush();
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(dec.text(), text);
  // The bytes of "🧴" came one id at a time and were held back until the last.
  const auto p = tok().pieces("🧴");
  IncrementalDecoder bytes(tok());
  std::vector<std::string> out;
  for (const auto id : tok().encode("🧴", false)) out.push_back(bytes.push(id));
  ASSERT_EQ(out.size(), p.size());
  for (std::size_t i = 0; i + 1 < out.size(); ++i) EXPECT_EQ(out[i], "") << i;
  EXPECT_EQ(out.back(), "🧴");
}

TEST(SentencePiece, IncrementalFlushGivesReplacementForATruncatedCharacter) {
  IncrementalDecoder dec(tok());
  const auto ids = tok().encode("🧴", false);
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(dec.push(ids[i]), "");
  const std::string rest = dec.flush();
  EXPECT_NE(rest.find("\xEF\xBF\xBD"), std::string::npos);
}

TEST(SentencePiece, MissingAndMalformedFilesAreClearErrors) {
  const fs::path d = tempDir("bad");
  try {
    (void)SentencePieceTokenizer::load(d);
    FAIL() << "no tokenizer.model";
  } catch (const caig::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
  }
  writeFile(d / "tokenizer.model", "this is not a protobuf \x01\x02\xff");
  try {
    (void)SentencePieceTokenizer::load(d);
    FAIL() << "garbage model";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not a SentencePiece model"), std::string::npos) << e.what();
  }
  // A truncated real model is refused too.
  std::ifstream in(kTokDir / "tokenizer.model", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  writeFile(d / "tokenizer.model", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW((void)SentencePieceTokenizer::load(d), caig::io::FormatError);
  // A sound model with a clashing added token: "<image>" on a piece id.
  writeFile(d / "tokenizer.model", bytes);
  writeFile(d / "added_tokens.json", R"({"<image>": 5})");
  try {
    (void)SentencePieceTokenizer::load(d);
    FAIL() << "clashing added token";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("added_tokens.json"), std::string::npos) << e.what();
  }
  writeFile(d / "added_tokens.json", "{not json");
  EXPECT_THROW((void)SentencePieceTokenizer::load(d), caig::io::FormatError);
  // A negative id: the tokenizer's own message, not vector::_M_range_check.
  writeFile(d / "added_tokens.json", R"({"<image>": -3})");
  try {
    (void)SentencePieceTokenizer::load(d);
    FAIL() << "negative added token id";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("is negative (-3)"), std::string::npos) << e.what();
  }
  // The model file on its own (no JSON beside it that is read): no added tokens.
  fs::remove(d / "added_tokens.json");
  const auto plain = SentencePieceTokenizer::load(d / "tokenizer.model");
  EXPECT_TRUE(plain.addedTokens().empty());
  EXPECT_EQ(plain.vocabSize(), 999);
  fs::remove_all(d);
}

#ifdef CAIG_HAVE_LIBSENTENCEPIECE
// The native reader against Google's libsentencepiece on the same model: pieces and ids of many
// texts, and the text of arbitrary id sequences (byte pieces, control ids, unknown), exactly.
TEST(SentencePiece, SameAsLibsentencepiece) {
  sentencepiece::SentencePieceProcessor ref;
  ASSERT_TRUE(ref.Load((kTokDir / "tokenizer.model").string()).ok());
  const SentencePieceTokenizer plain = SentencePieceTokenizer::load(kTokDir / "tokenizer.model");
  std::vector<std::string> texts = {
      "A perfume bottle on a marble counter, soft shadows, 8k",
      " leading space", "trailing space ", "  two leading", "many     inner    spaces", "",
      " ", "\n", "tab\tand\nnewline\r\n", "Le café crème sur la table, élégant et raffiné.",
      "Über den Dächern — schöne Aussicht!", "日本の香水 ボトル", "🧴🧴 emoji", "<logo><logo>a<logo>",
      "unseen: ΩЖ中 ∰ ⅞ 𝄞", "1234567890", "Prompt: a bright backdrop", "\xC3(invalid)\xFF bytes\xE2\x82",
      "USER: <image>\nWrite a prompt ASSISTANT:", "'quoted' \"double\" (paren) [bracket]",
      "wireless earbuds beside fresh flowers under soft morning light"};
  // Random texts over the corpus's characters and some it never saw.
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet = {"a", "e", "o", "t", "r", "s", " ", " ", ",", ".", "'", "é", "ü",
                                             "日", "ボ", "🧴", "<logo>", "1", "9", "\n", "Z", "Q", "x", "ff",
                                             "the ", "ing", "er ", "perfume", "\xE2\x96\x81"};
  for (int i = 0; i < 300; ++i) {
    std::string t;
    const int n = static_cast<int>(rng() % 30);
    for (int k = 0; k < n; ++k) t += alphabet[rng() % alphabet.size()];
    texts.push_back(t);
  }
  for (const auto& t : texts) {
    std::vector<std::string> refPieces;
    std::vector<int> refIds;
    ASSERT_TRUE(ref.Encode(t, &refPieces).ok());
    ASSERT_TRUE(ref.Encode(t, &refIds).ok());
    EXPECT_EQ(plain.pieces(t), refPieces) << "'" << t << "'";
    EXPECT_EQ(plain.encode(t, false), std::vector<std::int64_t>(refIds.begin(), refIds.end())) << "'" << t << "'";
  }
  // Decoding arbitrary ids: runs of byte pieces (valid UTF-8 or not), <s> and </s> among them
  // (SentencePiece drops control pieces as decode(skipSpecial) does; <unk> it writes as " ⁇ ").
  std::vector<int> bytePieces, others;
  for (int id = 3; id < ref.GetPieceSize(); ++id) (ref.IsByte(id) ? bytePieces : others).push_back(id);
  for (int i = 0; i < 500; ++i) {
    std::vector<int> ids;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      const auto r = rng() % 10;
      ids.push_back(r < 3 ? bytePieces[rng() % bytePieces.size()]
                          : r < 4 ? 1 + static_cast<int>(rng() % 2) : others[rng() % others.size()]);
    }
    std::string expected;
    ASSERT_TRUE(ref.Decode(ids, &expected).ok());
    EXPECT_EQ(plain.decode(std::vector<std::int64_t>(ids.begin(), ids.end())), expected) << i;
  }
}
#endif

#ifdef CAIG_HAVE_LIBSENTENCEPIECE
// Models this reader does not run are refused with the reason, not mis-tokenised.
TEST(SentencePiece, UnsupportedModelsAreRefused) {
  const fs::path d = tempDir("unigram");
  std::string corpus;
  for (int i = 0; i < 200; ++i) corpus += "a soft shadow on marble number " + std::to_string(i * 7919 % 1000) + "\n";
  writeFile(d / "corpus.txt", corpus);
  auto train = [&](const std::string& extra) {
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (d / "corpus.txt").string() + " --model_prefix=" + (d / "tokenizer").string() +
        " --vocab_size=60 --num_threads=1 --minloglevel=2 " + extra);
    ASSERT_TRUE(status.ok()) << status.ToString();
  };
  train("--model_type=unigram --normalization_rule_name=identity");
  try {
    (void)SentencePieceTokenizer::load(d);
    FAIL() << "unigram accepted";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unigram"), std::string::npos) << e.what();
  }
  train("--model_type=bpe --normalization_rule_name=nmt_nfkc");
  try {
    (void)SentencePieceTokenizer::load(d);
    FAIL() << "nfkc accepted";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("nmt_nfkc"), std::string::npos) << e.what();
  }
  // A BPE model with the defaults (extra whitespace removed) runs and agrees with the library.
  train("--model_type=bpe --normalization_rule_name=identity");
  const auto mine = SentencePieceTokenizer::load(d);
  sentencepiece::SentencePieceProcessor ref;
  ASSERT_TRUE(ref.Load((d / "tokenizer.model").string()).ok());
  for (const std::string t : {"  a   soft  shadow  ", "marble 42", " ", "unseen Zq"}) {
    std::vector<int> ids;
    ASSERT_TRUE(ref.Encode(t, &ids).ok());
    EXPECT_EQ(mine.encode(t, false), std::vector<std::int64_t>(ids.begin(), ids.end())) << "'" << t << "'";
    std::string text;
    ASSERT_TRUE(ref.Decode(ids, &text).ok());
    // (<unk> is " ⁇ " there, "<unk>" or nothing here: compared only without it.)
    if (std::find(ids.begin(), ids.end(), ref.unk_id()) == ids.end()) {
      EXPECT_EQ(mine.decode(mine.encode(t, false)), text) << "'" << t << "'";
    }
  }
  fs::remove_all(d);
}
#endif
