#include "models/io/json_file.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "models/io/errors.h"

namespace caig::io {
namespace {

using Json = nlohmann::json;

// A SAX handler that builds the document with an explicit stack. nlohmann's own DOM builder with
// a parse callback rescans the enclosing object on every closed member (quadratic: 50k tensors
// in a safetensors header took minutes), and the document it builds has no depth bound.
class BoundedDomBuilder {
 public:
  BoundedDomBuilder(Json& root, const JsonLimits& limits) : root_(root), limits_(limits) {}

  bool null() { return put(Json(nullptr)); }
  bool boolean(bool v) { return put(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return put(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return put(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return put(Json(v)); }
  bool string(Json::string_t& v) { return put(Json(std::move(v))); }
  bool binary(Json::binary_t& v) { return put(Json(std::move(v))); }

  bool start_object(std::size_t) { return open(Json::object()); }
  bool start_array(std::size_t) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(Json::string_t& k) {
    if (limits_.rejectDuplicateKeys && stack_.back()->contains(k)) {
      error_ = "duplicate key '" + k + "'";
      return false;
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    // The library's text begins with "[json.exception.parse_error.101] "; the position is ours.
    std::string what = e.what();
    if (const auto end = what.find("] "); what.rfind("[json.exception.", 0) == 0 && end != std::string::npos) {
      what = what.substr(end + 2);
    }
    error_ = what;
    errorAt_ = position;
    return false;
  }

  const std::string& error() const { return error_; }
  std::size_t errorAt() const { return errorAt_; }

 private:
  Json* insert(Json&& value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& slot = parent[key_];
    slot = std::move(value);
    return &slot;
  }
  bool put(Json&& value) {
    insert(std::move(value));
    return true;
  }
  bool open(Json&& container) {
    if (static_cast<int>(stack_.size()) >= limits_.maxDepth) {
      error_ = "nests deeper than " + std::to_string(limits_.maxDepth) + " levels";
      return false;
    }
    stack_.push_back(insert(std::move(container)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  Json& root_;
  const JsonLimits& limits_;
  std::vector<Json*> stack_;
  std::string key_;
  std::string error_;
  std::size_t errorAt_ = 0;
};

}  // namespace

nlohmann::json parseJson(std::string_view text, std::string_view source, const JsonLimits& limits) {
  Json root;
  BoundedDomBuilder builder(root, limits);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const Json::exception& e) {  // defensive: the SAX path reports through parse_error
    throw FormatError("'" + std::string(source) + "' is not valid JSON: " + e.what());
  }
  if (!ok) {
    std::string where = builder.errorAt() ? " (byte " + std::to_string(builder.errorAt()) + ")" : "";
    throw FormatError("'" + std::string(source) + "' is not valid JSON: " + builder.error() + where);
  }
  return root;
}

nlohmann::json parseJsonOrDiscarded(std::string_view text, const JsonLimits& limits) {
  try {
    return parseJson(text, "", limits);
  } catch (const FormatError&) {
    return Json(Json::value_t::discarded);
  }
}

void requireRegularFile(const std::filesystem::path& path, std::string_view what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw FileError(std::string(what) + " '" + path.string() + "' does not exist");
  }
  if (std::filesystem::is_directory(status)) {
    throw FileError(std::string(what) + " '" + path.string() + "' is a folder, not a file");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw FileError(std::string(what) + " '" + path.string() +
                    "' is not a regular file (a pipe, socket or device); refusing to read it");
  }
}

nlohmann::json readJsonFile(const std::filesystem::path& path, const JsonLimits& limits) {
  requireRegularFile(path, "JSON file");
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) throw FileError("cannot read '" + path.string() + "': " + ec.message());
  if (bytes > kMaxJsonBytes) {
    throw FileError("'" + path.string() + "' is " + std::to_string(bytes) +
                    " bytes, too large for a JSON config (the limit is " + std::to_string(kMaxJsonBytes >> 20) +
                    " MiB)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("cannot open '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return parseJson(text.str(), path.string(), limits);
}

}  // namespace caig::io
