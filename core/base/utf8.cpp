#include "core/base/utf8.h"

#include <stdexcept>

namespace caig {
namespace {

// Length of the well-formed sequence at `i`, or 0 (Unicode's Table 3-7).
std::size_t sequenceLength(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf)
    len = 2;
  else if (c == 0xe0)
    len = 3, lo = 0xa0;
  else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
    len = 3;
  else if (c == 0xed)
    len = 3, hi = 0x9f;  // no surrogates
  else if (c == 0xf0)
    len = 4, lo = 0x90;
  else if (c >= 0xf1 && c <= 0xf3)
    len = 4;
  else if (c == 0xf4)
    len = 4, hi = 0x8f;  // <= U+10FFFF
  else
    return 0;
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

std::size_t firstInvalidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = sequenceLength(text, i);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void requireUtf8(std::string_view text, std::string_view what) {
  const std::size_t at = firstInvalidUtf8(text);
  if (at == std::string_view::npos) return;
  throw std::invalid_argument(std::string(what) + " is not valid UTF-8 text (byte " + std::to_string(at + 1) + " of " +
                              std::to_string(text.size()) +
                              "); use UTF-8 (a Latin-1 or Windows-1252 terminal or file name?)");
}

std::string utf8Lossy(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = sequenceLength(text, i);
    if (len == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace caig
