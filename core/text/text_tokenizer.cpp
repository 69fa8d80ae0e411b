#include "core/text/text_tokenizer.h"

#include "core/text/bpe_tokenizer.h"
#include "core/text/sentencepiece_tokenizer.h"

namespace fs = std::filesystem;

namespace caig {

std::unique_ptr<TextTokenizer> loadTextTokenizer(const fs::path& dirOrFile) {
  std::error_code ec;
  const bool isDir = fs::is_directory(dirOrFile, ec);
  const bool json = isDir ? (!fs::exists(dirOrFile / "tokenizer.model", ec) && fs::exists(dirOrFile / "tokenizer.json", ec))
                          : dirOrFile.extension() == ".json";
  if (json) return std::make_unique<BpeTokenizer>(BpeTokenizer::load(dirOrFile));
  return std::make_unique<SentencePieceTokenizer>(SentencePieceTokenizer::load(dirOrFile));
}

namespace {

const char kReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD, what decoding gives for broken UTF-8

bool endsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

IncrementalDecoder::IncrementalDecoder(const TextTokenizer& tokenizer) : tokenizer_(&tokenizer) {}

std::string IncrementalDecoder::push(std::int64_t id) {
  ids_.push_back(id);
  // Decode [prefix, read) and [prefix, end): the same first piece in both, so SentencePiece
  // strips (or keeps) the same leading space, and the difference is exactly the new text.
  const auto begin = ids_.begin();
  const std::string before = tokenizer_->decode(
      std::vector<std::int64_t>(begin + static_cast<std::ptrdiff_t>(prefixOffset_),
                                begin + static_cast<std::ptrdiff_t>(readOffset_)));
  const std::string after =
      tokenizer_->decode(std::vector<std::int64_t>(begin + static_cast<std::ptrdiff_t>(prefixOffset_), ids_.end()));
  if (after.size() <= before.size() || endsWith(after, kReplacementChar) ||
      after.compare(0, before.size(), before) != 0) {
    return {};  // nothing new yet, or an incomplete character: wait for more bytes
  }
  std::string fresh = after.substr(before.size());
  prefixOffset_ = readOffset_;
  readOffset_ = ids_.size();
  text_ += fresh;
  return fresh;
}

std::string IncrementalDecoder::flush() {
  if (readOffset_ == ids_.size()) return {};
  const auto begin = ids_.begin();
  const std::string before = tokenizer_->decode(
      std::vector<std::int64_t>(begin + static_cast<std::ptrdiff_t>(prefixOffset_),
                                begin + static_cast<std::ptrdiff_t>(readOffset_)));
  const std::string after =
      tokenizer_->decode(std::vector<std::int64_t>(begin + static_cast<std::ptrdiff_t>(prefixOffset_), ids_.end()));
  prefixOffset_ = readOffset_ = ids_.size();
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0) return {};
  std::string fresh = after.substr(before.size());
  text_ += fresh;
  return fresh;
}

}  // namespace caig
