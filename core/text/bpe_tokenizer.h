#pragma once
// Hugging Face byte-level BPE tokenizers read from tokenizer.json, as the Rust `tokenizers`
// library runs them: the tokenizers of Qwen2 (LLaVA-OneVision / LLaVA-NeXT with a Qwen2 decoder)
// and of GPT-2-style models.
//   - added tokens (<|im_start|>, <|im_end|>, <|endoftext|>, <image>...) are split out first,
//     leftmost-longest, honouring lstrip/rstrip/single_word; "normalized": false ones are matched
//     on the raw text, the others on the normalised text (as tokenizers' AddedVocabulary);
//   - normaliser: none, NFC, NFD, NFKC, NFKD (ICU), or a Sequence of those;
//   - pre-tokenizer: Split (a regex or a string; Isolated or Removed behaviour), ByteLevel
//     (add_prefix_space; use_regex = GPT-2's pattern), or a Sequence of those. Regexes run in
//     PCRE2 with UTF + UCP (Unicode \s, \p{L}, \p{N}; (?i:...) groups), like Oniguruma for these
//     patterns;
//   - model: BPE with merges as "a b" strings or as ["a", "b"] pairs, optional ignore_merges
//     (a pre-token found whole in the vocabulary is one id), optional unk_token; a symbol with no
//     id and no unk token is dropped, as tokenizers does;
//   - decoder: ByteLevel (byte characters back to bytes, invalid UTF-8 as U+FFFD).
// decode() is tokenizers' decode: transformers' clean_up_tokenization_spaces (" ." -> ".") is
// not applied (Qwen2's tokenizer_config.json sets it false).
// BOS: tokenizer_config.json's bos_token with add_bos_token, or the special token a
// TemplateProcessing post-processor puts before $A; Qwen2 has none. EOS: tokenizer_config.json's
// eos_token, otherwise <|endoftext|> when present. Anything else in tokenizer.json that would
// change the ids (another model type, normaliser or pre-tokenizer, byte fallback, dropout,
// subword prefixes) is refused with a message, never silently ignored.
// Qt-free and Torch-free; links PCRE2 and ICU. Thread-safe for concurrent const calls.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/text/text_tokenizer.h"

namespace caig {

class BpeTokenizer : public TextTokenizer {
 public:
  // A folder holding tokenizer.json (and tokenizer_config.json when present), or a tokenizer.json
  // path (its folder's tokenizer_config.json is read when present). Throws io::FileError
  // (missing/unreadable) or io::FormatError naming the file and the key (not JSON, no model,
  // unsupported type, a bad merge, an added token clashing with the vocabulary...).
  static BpeTokenizer load(const std::filesystem::path& dirOrJsonFile);
  ~BpeTokenizer() override;
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  std::vector<std::int64_t> encode(const std::string& text, bool addBos = true) const override;
  // The token strings of encode(text, false) (byte-level characters, added tokens as content).
  std::vector<std::string> tokenize(const std::string& text) const;
  // skipSpecial drops added tokens marked special and ids the tokenizer does not know; otherwise
  // unknown ids are skipped too (there is no text for them) and special tokens written out.
  std::string decode(const std::vector<std::int64_t>& ids, bool skipSpecial = true) const override;

  std::int64_t bosId() const override;
  std::int64_t eosId() const override;
  std::int64_t unkId() const override;
  std::int64_t padId() const override;
  std::int64_t pieceCount() const override;
  std::int64_t vocabSize() const override;
  std::optional<std::int64_t> tokenId(const std::string& token) const override;
  std::string idToToken(std::int64_t id) const override;
  bool isSpecial(std::int64_t id) const override;
  const std::vector<AddedToken>& addedTokens() const override;
  bool addBosByDefault() const override;
  const std::filesystem::path& modelFile() const override;  // the tokenizer.json
  std::size_t mergeCount() const;
  // tokenizer_config.json's chat_template ("" when absent).
  const std::string& chatTemplate() const;

 private:
  BpeTokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
