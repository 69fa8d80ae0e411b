#pragma once
// Text the studio stores or prints must be UTF-8: the project database, JSON output and the
// prompt models all assume it. Text is checked where it comes in (the command line, a typed
// prompt, a file name), before any work is done, so a bad byte cannot fail a job at the end.

#include <cstddef>
#include <string>
#include <string_view>

namespace caig {

// The offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF are ill-formed); npos when the text is valid.
std::size_t firstInvalidUtf8(std::string_view text);

// Throws std::invalid_argument "<what> is not valid UTF-8 (byte N) ..." naming what it is.
void requireUtf8(std::string_view text, std::string_view what);

// The text with each ill-formed sequence replaced by U+FFFD (for names derived from file names).
std::string utf8Lossy(std::string_view text);

}  // namespace caig
