#pragma once
// The one JSON reader for every file the studio opens: model and scheduler configs, tokenizer
// files, instruction and style files, click JSON, ranker and style weights, the parameters a
// project stores, safetensors headers. It builds the document iteratively with a nesting limit, so
// a hostile file ("[[[[..." or {"a":{"a":... a million deep) is refused with a message instead of
// overflowing the stack, and it runs in time linear in its input. Errors name the file and the
// byte where reading stopped.

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

namespace caig::io {

// Configs are small; anything larger is refused before it is read into memory.
inline constexpr std::uintmax_t kMaxJsonBytes = 64u << 20;

struct JsonLimits {
  // Deepest nesting of arrays and objects accepted. Every format the studio reads needs < 10.
  int maxDepth = 64;
  // JSON allows a repeated key and most readers keep the last one silently; formats where that
  // hides an attack (safetensors headers) refuse it.
  bool rejectDuplicateKeys = false;
};

// Throws FormatError ("<source>: ... at byte N") for text that is not JSON or breaks a limit.
nlohmann::json parseJson(std::string_view text, std::string_view source, const JsonLimits& limits = {});

// For JSON kept inside a project (a variant's parameters, a training log line): text that does not
// parse, or breaks a limit, comes back as a discarded value (is_discarded()) instead of throwing.
nlohmann::json parseJsonOrDiscarded(std::string_view text, const JsonLimits& limits = {});

// Throws FileError (missing, not a regular file, unreadable, too large) or FormatError.
nlohmann::json readJsonFile(const std::filesystem::path& path, const JsonLimits& limits = {});

// The file at `path` must be a regular file (after symlinks): a FIFO, a device (/dev/zero) or a
// directory would block a reader forever or fail with a library's internal message. Throws
// FileError naming `what` ("click file", "config") and the path.
void requireRegularFile(const std::filesystem::path& path, std::string_view what = "file");

}  // namespace caig::io
