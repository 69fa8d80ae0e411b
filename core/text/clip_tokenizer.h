#pragma once
// The CLIP byte-level BPE tokenizer (OpenAI CLIP, as transformers' slow CLIPTokenizer with ftfy
// installed): text cleaning -> CLIP pre-tokenizer regex (Unicode classes, PCRE2 with UTF+UCP) ->
// bytes mapped to printable characters -> BPE with "</w>" end-of-word markers -> vocabulary ids,
// then [start] + ids (truncated) + [end] padded to the model's length (77 for SD1.5).
//
// Text cleaning reproduces what ftfy.fix_text does to ordinary prompts, without ftfy's big tables:
//   - HTML entities unescaped (&amp; &#233; &#xE9; and a short list of named ones), skipped when
//     the text contains '<' (ftfy's "auto": then it is taken as HTML and left alone);
//   - ANSI terminal escapes removed, control characters removed (ftfy's list);
//   - Latin ligatures split (U+FB00..FB06, IJ/ij, DZ/Dz/dz, LJ.., NJ..), full-width ASCII and the
//     ideographic space made half-width, curly quotes made straight, line breaks made '\n';
//   - NFC composition of a base letter followed by a combining mark, for the precomposed letters
//     of Latin-1 Supplement and Latin Extended-A (U+00C0..U+017F); other sequences stay decomposed.
// Deliberate differences (documented, tested): ftfy's mojibake repair (fix_encoding, e.g. "cafÃ©"
// -> "café") is not done; NFC beyond the letters above is not done; lower-casing is per code
// point (glibc's C.UTF-8 tables), so the rare one-to-many lowerings of Python ("İ" -> "i̇") give
// one code point. Then, as CLIPTokenizer: whitespace runs (Python's str.isspace set) become one
// space, the text is stripped and lower-cased.
//
// Qt-free, torch-free; links PCRE2 only. Thread-safe for concurrent encode() calls.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace caig {

class ClipTokenizer {
 public:
  // A tokenizer folder: vocab.json + merges.txt, and tokenizer_config.json when present
  // (model_max_length, bos/eos/pad/unk tokens). Throws io::FileError / io::FormatError.
  static ClipTokenizer load(const std::filesystem::path& dir);
  // The two files directly; special tokens are CLIP's (<|startoftext|>, <|endoftext|> as end,
  // pad and unknown), max length 77.
  ClipTokenizer(const std::filesystem::path& vocabJson, const std::filesystem::path& mergesTxt);
  ~ClipTokenizer();
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;

  // The cleaning described above (ftfy subset, whitespace collapse and strip, lower-case).
  // Invalid UTF-8 bytes become U+FFFD.
  static std::string cleanText(const std::string& utf8);

  // BPE token strings of the cleaned text (byte-level characters, "</w>" on word ends), no
  // start/end tokens, not truncated.
  std::vector<std::string> tokenize(const std::string& text) const;
  // Their ids (unknown pieces -> unk id), not truncated.
  std::vector<int64_t> encodeRaw(const std::string& text) const;
  // [bos] + ids (at most maxLength - 2) + [eos], padded with pad id to maxLength.
  // maxLength <= 0 means modelMaxLength(). Throws std::invalid_argument when maxLength < 2.
  std::vector<int64_t> encode(const std::string& text, int maxLength = 0) const;

  int64_t bosId() const;
  int64_t eosId() const;
  int64_t padId() const;
  int64_t unkId() const;
  int modelMaxLength() const;
  std::size_t vocabSize() const;
  std::size_t mergeCount() const;
  // The id of a vocabulary string, or -1.
  int64_t tokenId(const std::string& token) const;

 private:
  ClipTokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
