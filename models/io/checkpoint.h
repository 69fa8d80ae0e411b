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

// Checks, before a model is built from its config, that the config's size fields match the
// weights they describe, so that a wrong or hostile config (num_hidden_layers 1000000, a
// hidden size of 1e9, {"model_type":"llava"} beside small weights) is refused with the field's
// name instead of allocating gigabytes first.
class ConfigCheck {
 public:
  ConfigCheck(const Checkpoint& checkpoint, std::string configName)
      : checkpoint_(checkpoint), configName_(std::move(configName)) {}
  // Tensor `name`, when present, must not be smaller than `shape` (what the model would allocate);
  // `fields` names the config fields the shape comes from.
  void shape(const std::string& name, const std::vector<int64_t>& shape, const std::string& fields) const;
  // Blocks `prefix + i + suffix` must exist for every i < count: `field` is the config's count of
  // them ("num_hidden_layers").
  void count(const std::string& prefix, const std::string& suffix, int64_t count, const std::string& field) const;
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const Checkpoint& checkpoint_;
  std::string configName_;
};

}  // namespace caig::io
