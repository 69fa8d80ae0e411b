#include "models/io/json_file.h"

#include <fstream>
#include <sstream>

#include "models/io/errors.h"

namespace caig::io {

nlohmann::json readJsonFile(const std::filesystem::path& path) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) throw FileError("cannot read '" + path.string() + "': " + ec.message());
  if (bytes > kMaxJsonBytes) {
    throw FileError("'" + path.string() + "' is " + std::to_string(bytes) +
                    " bytes, too large for a JSON config");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("cannot open '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("'" + path.string() + "' is not valid JSON: " + e.what());
  }
}

}  // namespace caig::io
