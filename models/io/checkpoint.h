#pragma once
// A set of named weights from one safetensors file or a sharded checkpoint
// (`*.safetensors.index.json` with a weight_map), looked up by name.

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/io/safetensors.h"

namespace caig::io {

class Checkpoint {
 public:
  // `path`: a .safetensors file, a .safetensors.index.json, or a folder holding either
  // (see findWeights). Throws FileError or FormatError.
  static Checkpoint open(const std::filesystem::path& path, const std::string& variant = "");

  std::vector<std::string> names() const;  // sorted
  std::size_t size() const { return owner_.size(); }
  bool contains(const std::string& name) const { return owner_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // throws std::out_of_range
  at::Tensor tensor(const std::string& name) const;       // throws std::out_of_range
  const std::vector<SafetensorsFile>& shards() const { return shards_; }

 private:
  std::vector<SafetensorsFile> shards_;
  std::unordered_map<std::string, std::size_t> owner_;  // tensor name -> shard
};

}  // namespace caig::io
