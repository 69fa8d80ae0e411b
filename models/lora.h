#pragma once
// LoRA adapters on a LlamaModel's linear layers, as PEFT defines them: beside a frozen W [out, in]
// the layer adds scale * B (A dropout(x)), A [r, in] Kaiming-uniform (a = sqrt(5), i.e.
// U(-1/sqrt(in), 1/sqrt(in))), B [out, r] zero, scale = alpha / r, so a fresh adapter leaves the
// model exactly as it was. Adapters train in fp32 (fp64 on a double model) whatever the base
// dtype. Files are PEFT's: adapter_model.safetensors with keys
// "base_model.model.<module>.lora_A.weight" / ".lora_B.weight" and adapter_config.json.
// Torch-light header.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "models/llama.h"

namespace caig {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Last component of a module name (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
  // down_proj), as PEFT's target_modules list.
  std::vector<std::string> targetModules = {"q_proj", "k_proj", "v_proj", "o_proj"};
  std::string baseModel;  // adapter_config.json base_model_name_or_path
  double scale() const { return alpha / static_cast<double>(rank); }
};

// adapter_config.json <-> LoraConfig. Throws io::FormatError naming the problem.
LoraConfig loraConfigFromJson(const nlohmann::json& json);
nlohmann::json loraConfigToJson(const LoraConfig& config);

class LoraAdapters {
 public:
  // Fresh adapters on every adaptable module whose last name component is a target, attached to
  // `model`, whose base parameters are frozen (requires_grad false). A is drawn from a
  // generator seeded with `seed`. The model must outlive the adapters' use and not move; the
  // adapters stay attached until detach() or merge(). Throws std::invalid_argument for a bad
  // rank, dropout or target name. Attach after LlamaModel::to(): adapters do not follow a later
  // move of the model to another device.
  LoraAdapters(LlamaModel& model, const LoraConfig& config, uint64_t seed = 0);
  // An adapter folder (adapter_config.json + adapter_model.safetensors) attached to `model`.
  // `keyPrefix` is the language model's path inside a larger model ("" for a causal LM,
  // "language_model." for a transformers LLaVA). Throws io::FileError / io::FormatError
  // (missing config, missing or unexpected keys, wrong shapes), leaving the model untouched.
  static LoraAdapters load(LlamaModel& model, const std::filesystem::path& adapterDir,
                           const std::string& keyPrefix = "");
  ~LoraAdapters();
  LoraAdapters(LoraAdapters&&) noexcept;
  LoraAdapters& operator=(LoraAdapters&&) noexcept;

  const LoraConfig& config() const;
  std::vector<std::string> modules() const;  // adapted module names, module order
  // PEFT-named live tensors: "base_model.model.<keyPrefix><module>.lora_A.weight", ...
  std::vector<std::pair<std::string, at::Tensor>> namedParameters(const std::string& keyPrefix = "") const;
  std::vector<at::Tensor> parameters() const;
  // Dropout is active only while training (default false).
  void setTraining(bool training);
  bool training() const;

  // adapter_model.safetensors + adapter_config.json into `dir` (created), each written atomically.
  void save(const std::filesystem::path& dir, const std::string& keyPrefix = "") const;
  // Copies tensors named as namedParameters() from a safetensors file; every key checked first.
  void loadWeights(const std::filesystem::path& safetensorsFile, const std::string& keyPrefix = "");

  // W += scale * B A in the base weights' dtype, then detaches the adapters (the model now
  // computes the adapted function alone).
  void merge();
  void detach();  // removes the adapters from the model, which is the base model again

 private:
  LoraAdapters();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A standalone model folder from a (merged) model: config.json copied from `baseModelDir`
// (a causal LM folder) and model.safetensors with the model's weights in transformers names,
// each file written atomically into `outDir` (created). Throws io::FileError.
void saveLlamaModelFolder(const LlamaModel& model, const std::filesystem::path& baseModelDir,
                          const std::filesystem::path& outDir);

}  // namespace caig
