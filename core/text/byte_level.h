#pragma once
// Shared by the byte-level BPE tokenizers (CLIP's and Hugging Face tokenizer.json's): UTF-8
// encoding of a code point and GPT-2's bytes_to_unicode() table. Internal to caig_core_text.

#include <string>
#include <vector>

namespace caig {

void appendUtf8(std::string& out, char32_t cp);

// GPT-2 / CLIP bytes_to_unicode(): printable bytes map to themselves, the others to 256 + n; each
// entry is that character as UTF-8.
const std::vector<std::string>& byteLevelChars();

}  // namespace caig
