#pragma once
// Reading JSON configuration files with errors that name the file and the position.

#include <filesystem>
#include <nlohmann/json.hpp>

namespace caig::io {

// Configs are small; anything larger is refused before it is read into memory.
inline constexpr std::uintmax_t kMaxJsonBytes = 64u << 20;

// Throws FileError (missing, unreadable, too large) or FormatError (not JSON).
nlohmann::json readJsonFile(const std::filesystem::path& path);

}  // namespace caig::io
