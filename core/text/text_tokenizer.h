#pragma once
// What the LLaVA text side needs from a language model's tokenizer, so that the prompt writer,
// the reward ranker and the conversation helpers take either kind:
//   - SentencePieceTokenizer (core/text/sentencepiece_tokenizer.h): LLaMA/Vicuna's tokenizer.model;
//   - BpeTokenizer (core/text/bpe_tokenizer.h): Hugging Face byte-level BPE tokenizer.json (Qwen2).
// Plus the streaming decoder that works on any of them, and the loader that picks one for a
// folder. Qt-free and Torch-free; part of caig_core_text.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace caig {

struct AddedToken {
  std::string content;
  std::int64_t id = 0;
  bool special = true;  // skipped by decode(skipSpecial = true)
};

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;

  // Ids of `text`; [bos] first when addBos and the tokenizer has a BOS token. Added/special token
  // strings in the text map to their ids.
  virtual std::vector<std::int64_t> encode(const std::string& text, bool addBos = true) const = 0;
  // Text of `ids`. skipSpecial drops special tokens and ids the tokenizer does not know (a model's
  // vocabulary is often padded past the tokenizer's).
  virtual std::string decode(const std::vector<std::int64_t>& ids, bool skipSpecial = true) const = 0;

  virtual std::int64_t bosId() const = 0;  // -1 when there is none (each of these)
  virtual std::int64_t eosId() const = 0;
  virtual std::int64_t unkId() const = 0;
  virtual std::int64_t padId() const = 0;
  // Tokens of the model's own vocabulary (ids 0 .. pieceCount-1), added tokens not counted.
  virtual std::int64_t pieceCount() const = 0;
  // One past the largest id, added tokens included.
  virtual std::int64_t vocabSize() const = 0;
  // Id of an added token or vocabulary token; nullopt when neither.
  virtual std::optional<std::int64_t> tokenId(const std::string& token) const = 0;
  // Vocabulary or added-token text of an id; throws std::out_of_range for ids it does not know.
  virtual std::string idToToken(std::int64_t id) const = 0;
  virtual bool isSpecial(std::int64_t id) const = 0;
  virtual const std::vector<AddedToken>& addedTokens() const = 0;
  // Whether a prompt starts with BOS (LLaMA: true; Qwen2: false, it has no BOS).
  virtual bool addBosByDefault() const = 0;
  // The file the tokenizer was read from (for messages).
  virtual const std::filesystem::path& modelFile() const = 0;

 protected:
  TextTokenizer() = default;
  TextTokenizer(const TextTokenizer&) = default;
  TextTokenizer(TextTokenizer&&) = default;
  TextTokenizer& operator=(const TextTokenizer&) = default;
  TextTokenizer& operator=(TextTokenizer&&) = default;
};

// The tokenizer of a model or tokenizer folder: SentencePiece when it holds tokenizer.model (or
// holds neither file, so that the message names tokenizer.model as before), otherwise the
// Hugging Face tokenizer.json; a file path is read by its extension (.model / .json).
// Throws as the two loaders do.
std::unique_ptr<TextTokenizer> loadTextTokenizer(const std::filesystem::path& dirOrFile);

// Streaming decode of a growing id list (a model generating): push() returns the text that the
// new id completes, so that the concatenation of all returned pieces equals
// tokenizer.decode(ids) at every point where it is returned. Text is held back while it ends in
// an incomplete UTF-8 character (byte-fallback and byte-level pieces can end mid-character), and
// spaces come out right because each step decodes a short window with one id of context before
// the new ones.
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const TextTokenizer& tokenizer);
  std::string push(std::int64_t id);
  // Whatever is held back (an incomplete character comes out as U+FFFD, as decode() does).
  std::string flush();
  const std::vector<std::int64_t>& ids() const { return ids_; }
  const std::string& text() const { return text_; }  // everything returned so far

 private:
  const TextTokenizer* tokenizer_;
  std::vector<std::int64_t> ids_;
  std::string text_;
  std::size_t prefixOffset_ = 0;
  std::size_t readOffset_ = 0;
};

}  // namespace caig
