#include "models/io/checkpoint.h"

#include <algorithm>
#include <map>

#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/model_folder.h"

namespace fs = std::filesystem;

namespace caig::io {
namespace {

bool isIndexFile(const fs::path& p) {
  const std::string name = p.filename().string();
  const std::string suffix = ".safetensors.index.json";
  return name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Checkpoint Checkpoint::open(const fs::path& path, const std::string& variant) {
  if (fs::is_directory(path)) return open(findWeights(path, variant));

  Checkpoint ckpt;
  if (!isIndexFile(path)) {
    ckpt.shards_.push_back(SafetensorsFile::open(path));
    for (const auto& t : ckpt.shards_[0].tensors()) ckpt.owner_.emplace(t.name, 0);
    return ckpt;
  }

  const std::string source = path.string();
  const auto index = readJsonFile(path);
  const auto mapIt = index.find("weight_map");
  if (mapIt == index.end() || !mapIt->is_object()) {
    throw FormatError("'" + source + "' has no weight_map object");
  }
  std::map<std::string, std::size_t> shardOf;  // shard file name -> position in shards_
  std::map<std::string, std::string> listed;   // tensor -> shard file name
  for (const auto& [name, file] : mapIt->items()) {
    if (!file.is_string()) throw FormatError("'" + source + "': weight_map['" + name + "'] is not a string");
    const std::string shard = file.get<std::string>();
    // Shards live beside the index; a path elsewhere is refused rather than followed.
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      throw FormatError("'" + source + "': shard name '" + shard + "' is not a plain file name");
    }
    listed.emplace(name, shard);
    if (!shardOf.count(shard)) {
      shardOf.emplace(shard, ckpt.shards_.size());
      ckpt.shards_.push_back(SafetensorsFile::open(path.parent_path() / shard));
    }
  }
  for (std::size_t i = 0; i < ckpt.shards_.size(); ++i) {
    for (const auto& t : ckpt.shards_[i].tensors()) {
      if (!ckpt.owner_.emplace(t.name, i).second) {
        throw FormatError("'" + source + "': tensor '" + t.name + "' is stored in two shards");
      }
    }
  }
  for (const auto& [name, shard] : listed) {
    const auto it = ckpt.owner_.find(name);
    if (it == ckpt.owner_.end() || it->second != shardOf.at(shard)) {
      throw FormatError("'" + source + "' maps '" + name + "' to '" + shard + "' but it is not there");
    }
  }
  return ckpt;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(owner_.size());
  for (const auto& kv : owner_) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  const auto it = owner_.find(name);
  if (it == owner_.end()) throw std::out_of_range("checkpoint has no tensor '" + name + "'");
  return shards_[it->second].info(name);
}

at::Tensor Checkpoint::tensor(const std::string& name) const {
  const auto it = owner_.find(name);
  if (it == owner_.end()) throw std::out_of_range("checkpoint has no tensor '" + name + "'");
  return shards_[it->second].tensor(name);
}

namespace {
std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace

void ConfigCheck::fail(const std::string& what) const { throw FormatError(configName_ + ": " + what); }

void ConfigCheck::shape(const std::string& name, const std::vector<int64_t>& shape, const std::string& fields) const {
  // Only what would allocate more than the weights hold is refused here: a missing tensor or a
  // smaller shape is left to the weight loader, whose report lists every missing, extra and
  // misshaped tensor at once.
  if (!checkpoint_.contains(name)) return;
  const auto& actual = checkpoint_.info(name).shape;
  if (actual == shape) return;
  int64_t wanted = 1, have = 1;
  bool overflow = false;
  for (const int64_t d : shape) overflow = overflow || d < 0 || __builtin_mul_overflow(wanted, d, &wanted);
  for (const int64_t d : actual) have *= d;
  if (overflow || wanted > have) {
    fail(fields + " give " + name + " the shape " + shapeText(shape) + " but the weights have " + shapeText(actual));
  }
}

void ConfigCheck::count(const std::string& prefix, const std::string& suffix, int64_t count,
                        const std::string& field) const {
  auto has = [&](int64_t i) { return checkpoint_.contains(prefix + std::to_string(i) + suffix); };
  if (count < 1) fail(field + " is " + std::to_string(count) + "; it must be at least 1");
  if (has(count - 1)) return;  // more blocks than the config names: the weight loader lists them
  int64_t actual = 0;
  while (has(actual)) ++actual;  // bounded by the number of tensors, not by the config
  fail(field + " is " + std::to_string(count) + " but the weights hold " + std::to_string(actual) + " (" + prefix +
       "N" + suffix + ")");
}

}  // namespace caig::io
