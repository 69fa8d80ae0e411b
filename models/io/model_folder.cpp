#include "models/io/model_folder.h"

#include <algorithm>

#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;

namespace caig::io {

const char* folderKindName(FolderKind kind) {
  switch (kind) {
    case FolderKind::TransformersModel: return "transformers model";
    case FolderKind::DiffusersModel: return "diffusers model";
    case FolderKind::DiffusersPipeline: return "diffusers pipeline";
  }
  return "?";
}

bool isPickleFile(const fs::path& file) {
  const std::string ext = file.extension().string();
  return ext == ".bin" || ext == ".ckpt" || ext == ".pt" || ext == ".pth";
}

fs::path findWeights(const fs::path& dir, const std::string& variant) {
  if (!fs::is_directory(dir)) throw FileError("'" + dir.string() + "' is not a folder");
  const std::string infix = variant.empty() ? "" : "." + variant;
  for (const char* stem : {"model", "diffusion_pytorch_model"}) {
    const fs::path single = dir / (std::string(stem) + infix + ".safetensors");
    if (fs::is_regular_file(single)) return single;
    const fs::path index = dir / (std::string(stem) + infix + ".safetensors.index.json");
    if (fs::is_regular_file(index)) return index;
  }
  // Otherwise accept exactly one safetensors file or index of the requested variant.
  std::vector<fs::path> candidates;
  std::vector<std::string> refused;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const auto endsWith = [&](const std::string& s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    const bool isVariant = variant.empty() ? name.find(".fp16.") == std::string::npos &&
                                                 name.find(".bf16.") == std::string::npos
                                           : name.find(infix + ".") != std::string::npos;
    if (endsWith(".safetensors.index.json") && isVariant) {
      candidates.push_back(entry.path());
    } else if (endsWith(".safetensors") && isVariant && name.find("-of-") == std::string::npos) {
      candidates.push_back(entry.path());
    } else if (isPickleFile(entry.path())) {
      refused.push_back(name);
    }
  }
  if (candidates.size() == 1) return candidates.front();
  std::string msg = "no " + (variant.empty() ? std::string() : variant + " ") +
                    "safetensors weights in '" + dir.string() + "'";
  if (candidates.size() > 1) msg = "several candidate weight files in '" + dir.string() + "'";
  if (!refused.empty()) {
    std::sort(refused.begin(), refused.end());
    msg += "; pickle files are never loaded (they can run code): " + refused.front() +
           (refused.size() > 1 ? " and " + std::to_string(refused.size() - 1) + " more" : "") +
           " - convert them to safetensors";
  }
  throw FileError(msg);
}

ModelFolder ModelFolder::open(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw FileError("'" + dir.string() + "' is not a folder");
  ModelFolder folder;
  folder.path_ = dir;
  if (fs::is_regular_file(dir / "model_index.json")) {
    folder.kind_ = FolderKind::DiffusersPipeline;
    folder.config_ = readJsonFile(dir / "model_index.json");
  } else if (fs::is_regular_file(dir / "config.json")) {
    folder.config_ = readJsonFile(dir / "config.json");
    folder.kind_ = folder.config_.contains("_class_name") ? FolderKind::DiffusersModel
                                                          : FolderKind::TransformersModel;
  } else if (fs::is_regular_file(dir / "scheduler_config.json")) {
    folder.kind_ = FolderKind::DiffusersModel;
    folder.config_ = readJsonFile(dir / "scheduler_config.json");
  } else {
    throw FileError("'" + dir.string() + "' has no config.json or model_index.json");
  }
  if (!folder.config_.is_object()) {
    throw FormatError("config in '" + dir.string() + "' is not a JSON object");
  }
  return folder;
}

std::string ModelFolder::className() const {
  if (auto it = config_.find("_class_name"); it != config_.end() && it->is_string()) {
    return it->get<std::string>();
  }
  if (auto it = config_.find("architectures");
      it != config_.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    return (*it)[0].get<std::string>();
  }
  return {};
}

std::vector<std::string> ModelFolder::components() const {
  std::vector<std::string> names;
  if (kind_ != FolderKind::DiffusersPipeline) return names;
  // A component entry is ["library", "ClassName"]; null entries are optional parts left out.
  for (const auto& [key, value] : config_.items()) {
    if (!key.empty() && key[0] == '_') continue;
    if (value.is_array() && value.size() == 2 && value[0].is_string() && value[1].is_string()) {
      names.push_back(key);
    }
  }
  return names;
}

fs::path ModelFolder::componentPath(const std::string& name) const {
  const auto names = components();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw FileError("pipeline '" + path_.string() + "' has no component '" + name + "'");
  }
  const fs::path sub = path_ / name;
  if (!fs::is_directory(sub)) {
    throw FileError("pipeline '" + path_.string() + "' lists '" + name + "' but the folder is missing");
  }
  return sub;
}

ModelFolder ModelFolder::component(const std::string& name) const {
  const fs::path sub = componentPath(name);
  if (fs::is_regular_file(sub / "config.json") || fs::is_regular_file(sub / "scheduler_config.json")) {
    return open(sub);
  }
  // Tokenizer folders carry tokenizer_config.json instead of a model config.
  ModelFolder folder;
  folder.path_ = sub;
  folder.kind_ = FolderKind::TransformersModel;
  if (fs::is_regular_file(sub / "tokenizer_config.json")) {
    folder.config_ = readJsonFile(sub / "tokenizer_config.json");
  } else {
    folder.config_ = nlohmann::json::object();
  }
  return folder;
}

}  // namespace caig::io
