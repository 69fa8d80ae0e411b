#pragma once
// Hugging Face model folders: a transformers model (config.json + weights), a diffusers model
// (config.json with "_class_name" + weights) or a diffusers pipeline (model_index.json naming
// component subfolders). Torch-free: it finds files and reads configs; Checkpoint loads weights.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace caig::io {

enum class FolderKind { TransformersModel, DiffusersModel, DiffusersPipeline };
const char* folderKindName(FolderKind kind);

// The weights of a folder: one safetensors file or a sharded index. `variant` selects e.g.
// "fp16" files (diffusion_pytorch_model.fp16.safetensors); empty prefers full precision.
// Throws FileError when there are none, naming pickle files that were found but refused.
std::filesystem::path findWeights(const std::filesystem::path& dir, const std::string& variant = "");
// A pickle weight file by its extension (.bin, .ckpt, .pt, .pth): never loaded, it can run code.
bool isPickleFile(const std::filesystem::path& file);

class ModelFolder {
 public:
  // Throws FileError (not a folder, no config) or FormatError (malformed config).
  static ModelFolder open(const std::filesystem::path& dir);

  const std::filesystem::path& path() const { return path_; }
  FolderKind kind() const { return kind_; }
  // config.json, or model_index.json for a pipeline.
  const nlohmann::json& config() const { return config_; }
  // "_class_name" (diffusers) or "architectures"[0] (transformers); empty when absent.
  std::string className() const;

  // Pipeline components, in model_index.json order (e.g. "unet", "vae", "scheduler").
  std::vector<std::string> components() const;
  // The component's subfolder as a model folder (or config-only folder such as scheduler/).
  ModelFolder component(const std::string& name) const;
  // Path of the component's subfolder (exists, checked).
  std::filesystem::path componentPath(const std::string& name) const;

  std::filesystem::path weights(const std::string& variant = "") const {
    return findWeights(path_, variant);
  }

 private:
  std::filesystem::path path_;
  FolderKind kind_ = FolderKind::TransformersModel;
  nlohmann::json config_;
};

}  // namespace caig::io
