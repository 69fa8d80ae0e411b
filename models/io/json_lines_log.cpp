#include "models/io/json_lines_log.h"

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "models/io/errors.h"

namespace caig {

struct JsonLinesLog::Impl {
  std::FILE* file = nullptr;
  std::mutex mutex;
};

JsonLinesLog::JsonLinesLog(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->file = std::fopen(path.c_str(), "a");
  if (!impl_->file) throw io::FileError("cannot open log '" + path.string() + "' for appending");
}

JsonLinesLog::~JsonLinesLog() {
  if (impl_ && impl_->file) std::fclose(impl_->file);
}

void JsonLinesLog::write(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (std::fwrite(line.data(), 1, line.size(), impl_->file) != line.size() || std::fflush(impl_->file) != 0)
    throw io::FileError("cannot write the training log");
}

}  // namespace caig
