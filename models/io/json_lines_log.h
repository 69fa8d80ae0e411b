#pragma once
// An append-only JSON-lines log (one object per line, flushed per record so a killed run keeps
// its log): the format every training run writes and the studio's training panel reads.
// Torch-free (caig_models_io_base).

#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>

namespace caig {

class JsonLinesLog {
 public:
  explicit JsonLinesLog(const std::filesystem::path& path);  // appends; throws io::FileError
  ~JsonLinesLog();
  void write(const nlohmann::json& record);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
