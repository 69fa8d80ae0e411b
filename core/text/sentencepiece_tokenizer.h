#pragma once
// The SentencePiece tokenizer of LLaMA/Vicuna-family models (LLaVA's language model), as
// transformers' slow LlamaTokenizer in its legacy mode (the one LLaVA checkpoints use):
//   - the text is first split on the added tokens (tokenizer_config.json's added_tokens_decoder,
//     added_tokens.json, e.g. "<image>" = 32000 in transformers LLaVA folders) and on the model's
//     own special pieces (<s>, </s>, <unk>); each of those becomes its one id;
//   - every other chunk is encoded on its own by SentencePiece's algorithm (normaliser, BPE), so
//     each chunk gets SentencePiece's dummy-prefix space ("\nfoo" -> "▁", "<0x0A>", "foo") exactly
//     as the legacy tokenizer does;
//   - decode drops special ids (control pieces, <unk>, added tokens, ids past the vocabulary) and
//     lets SentencePiece join the pieces (byte-fallback bytes into UTF-8, "▁" into spaces, the
//     leading dummy space removed).
// The model file is read natively (protobuf fields, SentencePiece's BPE with byte fallback, the
// identity normaliser of LLaMA models; unigram models and other normalisers are refused with a
// message): Debian's libsentencepiece exports a bundled protobuf that crashes a process which
// also loads LibTorch. The tests compare ids and text with libsentencepiece exactly.
// Qt-free and Torch-free. Thread-safe for concurrent const calls.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/text/text_tokenizer.h"

namespace caig {

class SentencePieceTokenizer : public TextTokenizer {
 public:
  // A model folder or tokenizer folder holding tokenizer.model, with the added tokens of its
  // tokenizer_config.json ("added_tokens_decoder") and added_tokens.json when present; or a
  // .model file alone (no added tokens). Throws io::FileError (missing/unreadable) or io::FormatError (not a
  // SentencePiece model, bad JSON, an added token that clashes with another id).
  static SentencePieceTokenizer load(const std::filesystem::path& dirOrModelFile);
  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept;
  SentencePieceTokenizer& operator=(SentencePieceTokenizer&&) noexcept;

  // Ids of `text`; [bos] first when addBos. Added/special token strings in the text map to their
  // ids; other chunks are encoded separately (see above).
  std::vector<std::int64_t> encode(const std::string& text, bool addBos = true) const override;
  // The SentencePiece pieces of the same split (added tokens as their content), for debugging.
  std::vector<std::string> pieces(const std::string& text) const;
  // Text of `ids`. skipSpecial drops <s>, </s>, <unk>, added tokens and ids the tokenizer does
  // not know (a model's vocabulary is often padded past the tokenizer's); otherwise they are
  // written as their piece/content ("<unk>" for unknown ids).
  std::string decode(const std::vector<std::int64_t>& ids, bool skipSpecial = true) const override;

  std::int64_t bosId() const override;
  std::int64_t eosId() const override;
  std::int64_t unkId() const override;
  std::int64_t padId() const override;  // -1 when the model has none (LLaMA)
  // Pieces of the SentencePiece model (ids 0 .. pieceCount-1).
  std::int64_t pieceCount() const override;
  // One past the largest id, added tokens included.
  std::int64_t vocabSize() const override;
  // Id of an added token or piece; nullopt when neither.
  std::optional<std::int64_t> tokenId(const std::string& token) const override;
  // Piece or added-token text of an id; throws std::out_of_range for ids it does not know.
  std::string idToToken(std::int64_t id) const override;
  bool isSpecial(std::int64_t id) const override;
  const std::vector<AddedToken>& addedTokens() const override;
  // Adds (or confirms) an added token; throws io::FormatError when `content` or `id` is already
  // taken by something else.
  void addToken(const std::string& content, std::int64_t id, bool special = true);
  // tokenizer_config.json's add_bos_token (true when absent, as LLaMA).
  bool addBosByDefault() const override;
  const std::filesystem::path& modelFile() const override;

 private:
  SentencePieceTokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
