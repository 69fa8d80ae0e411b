#pragma once
// Small helpers the click file parsers and the click import share (internal to caig_core_clicks).

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/clicks/click_data.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig::clicks_detail {

inline std::string readBytes(const std::filesystem::path& path) {
  try {
    io::requireRegularFile(path, "click file");  // a folder or a pipe, said so (not a read that blocks)
  } catch (const io::FileError& e) {
    throw ClickImportError(e.what());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ClickImportError("cannot open click file '" + path.string() + "'");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline bool looksLikeHash(const std::string& s) {
  if (s.size() < 8) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

inline bool isImageFile(const std::filesystem::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp";
}

}  // namespace caig::clicks_detail
