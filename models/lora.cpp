#include "models/lora.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"

namespace caig {
namespace {

const std::set<std::string> kTargets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

std::string lastComponent(const std::string& module) { return module.substr(module.rfind('.') + 1); }

struct LoraLinear : LlamaLinearAdapter {
  at::Tensor A, B;  // [r, in], [out, r]
  double scale = 1.0, dropout = 0.0;
  std::shared_ptr<bool> training;

  at::Tensor forward(const at::Tensor& x) const override {
    at::Tensor xa = x.to(A.scalar_type());
    if (*training && dropout > 0.0) xa = at::dropout(xa, dropout, /*train=*/true);
    return (at::linear(at::linear(xa, A), B) * scale).to(x.scalar_type());
  }
  std::vector<at::Tensor> parameters() const override { return {A, B}; }
};

void createDirectories(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw io::FileError("cannot create folder '" + dir.string() + "': " + ec.message());
}

}  // namespace

LoraConfig loraConfigFromJson(const nlohmann::json& j) {
  try {
    if (!j.is_object()) throw io::FormatError("adapter config is not a JSON object");
    if (j.contains("peft_type") && j.at("peft_type").get<std::string>() != "LORA")
      throw io::FormatError("adapter peft_type is not LORA");
    LoraConfig c;
    c.rank = j.at("r").get<int64_t>();
    c.alpha = j.value("lora_alpha", 8.0);
    c.dropout = j.value("lora_dropout", 0.0);
    c.targetModules = j.at("target_modules").get<std::vector<std::string>>();
    if (j.contains("base_model_name_or_path") && j.at("base_model_name_or_path").is_string())
      c.baseModel = j.at("base_model_name_or_path").get<std::string>();
    if (c.rank < 1) throw io::FormatError("adapter rank r must be positive");
    if (!(c.dropout >= 0.0 && c.dropout < 1.0)) throw io::FormatError("lora_dropout must be in [0, 1)");
    for (const auto& t : c.targetModules)
      if (!kTargets.count(t)) throw io::FormatError("unsupported LoRA target module \"" + t + "\"");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(std::string("adapter config: ") + e.what());
  }
}

nlohmann::json loraConfigToJson(const LoraConfig& c) {
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"r", c.rank},
          {"lora_alpha", c.alpha},
          {"lora_dropout", c.dropout},
          {"target_modules", c.targetModules},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"inference_mode", true},
          {"base_model_name_or_path", c.baseModel}};
}

struct LoraAdapters::Impl {
  LlamaModel* model = nullptr;
  LoraConfig config;
  std::vector<std::string> modules;
  std::vector<std::shared_ptr<LoraLinear>> adapters;  // parallel to modules
  std::shared_ptr<bool> training = std::make_shared<bool>(false);
};

LoraAdapters::LoraAdapters() : impl_(std::make_unique<Impl>()) {}
LoraAdapters::~LoraAdapters() = default;
LoraAdapters::LoraAdapters(LoraAdapters&&) noexcept = default;
LoraAdapters& LoraAdapters::operator=(LoraAdapters&&) noexcept = default;

LoraAdapters::LoraAdapters(LlamaModel& model, const LoraConfig& config, uint64_t seed) : LoraAdapters() {
  if (config.rank < 1) throw std::invalid_argument("LoRA rank must be positive");
  if (!(config.dropout >= 0.0 && config.dropout < 1.0)) throw std::invalid_argument("LoRA dropout must be in [0, 1)");
  if (config.targetModules.empty()) throw std::invalid_argument("LoRA needs at least one target module");
  for (const auto& t : config.targetModules)
    if (!kTargets.count(t)) throw std::invalid_argument("unsupported LoRA target module \"" + t + "\"");
  impl_->model = &model;
  impl_->config = config;
  const std::set<std::string> targets(config.targetModules.begin(), config.targetModules.end());
  const at::ScalarType dtype = at::promote_types(model.dtype(), at::kFloat);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::NoGradGuard noGrad;
  for (const auto& module : model.adaptableModules()) {
    if (!targets.count(lastComponent(module))) continue;
    const at::Tensor w = model.parameter(module + ".weight");
    const int64_t out = w.size(0), in = w.size(1);
    auto a = std::make_shared<LoraLinear>();
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform_(a=sqrt(5))
    a->A = at::empty({config.rank, in}, at::TensorOptions().dtype(at::kFloat))
               .uniform_(-bound, bound, gen)
               .to(model.device(), dtype)
               .set_requires_grad(true);
    a->B = at::zeros({out, config.rank}, at::TensorOptions().dtype(dtype).device(model.device())).set_requires_grad(true);
    a->scale = config.scale();
    a->dropout = config.dropout;
    a->training = impl_->training;
    impl_->modules.push_back(module);
    impl_->adapters.push_back(a);
  }
  model.setRequiresGrad(false);
  for (std::size_t i = 0; i < impl_->modules.size(); ++i) model.setAdapter(impl_->modules[i], impl_->adapters[i]);
}

LoraAdapters LoraAdapters::load(LlamaModel& model, const std::filesystem::path& adapterDir,
                                const std::string& keyPrefix) {
  const auto configPath = adapterDir / "adapter_config.json";
  LoraConfig config;
  try {
    config = loraConfigFromJson(io::readJsonFile(configPath));
  } catch (const io::FormatError& e) {
    throw io::FormatError(configPath.string() + ": " + e.what());
  }
  // Build detached first, so a bad weight file leaves the model as it was.
  std::vector<std::pair<std::string, std::shared_ptr<const LlamaLinearAdapter>>> previous;
  for (const auto& m : model.adaptableModules()) previous.emplace_back(m, model.adapter(m));
  std::vector<bool> grads;
  for (const auto& p : model.namedParameters()) grads.push_back(p.second.requires_grad());
  LoraAdapters adapters(model, config);
  try {
    adapters.loadWeights(adapterDir / "adapter_model.safetensors", keyPrefix);
  } catch (...) {
    for (const auto& [m, a] : previous) model.setAdapter(m, a);
    std::size_t i = 0;
    for (auto& p : model.namedParameters()) p.second.set_requires_grad(grads[i++]);
    throw;
  }
  return adapters;
}

const LoraConfig& LoraAdapters::config() const { return impl_->config; }
std::vector<std::string> LoraAdapters::modules() const { return impl_->modules; }

std::vector<std::pair<std::string, at::Tensor>> LoraAdapters::namedParameters(const std::string& keyPrefix) const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (std::size_t i = 0; i < impl_->modules.size(); ++i) {
    const std::string base = "base_model.model." + keyPrefix + impl_->modules[i];
    out.emplace_back(base + ".lora_A.weight", impl_->adapters[i]->A);
    out.emplace_back(base + ".lora_B.weight", impl_->adapters[i]->B);
  }
  return out;
}

std::vector<at::Tensor> LoraAdapters::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& a : impl_->adapters) out.insert(out.end(), {a->A, a->B});
  return out;
}

void LoraAdapters::setTraining(bool training) { *impl_->training = training; }
bool LoraAdapters::training() const { return *impl_->training; }

void LoraAdapters::save(const std::filesystem::path& dir, const std::string& keyPrefix) const {
  createDirectories(dir);
  io::NamedTensors tensors;
  for (const auto& [name, t] : namedParameters(keyPrefix)) tensors.emplace_back(name, t.detach());
  io::saveSafetensors(dir / "adapter_model.safetensors", tensors, {{"format", "pt"}});
  io::writeFileAtomically(dir / "adapter_config.json", loraConfigToJson(impl_->config).dump(2) + "\n");
}

void LoraAdapters::loadWeights(const std::filesystem::path& file, const std::string& keyPrefix) {
  const auto st = io::SafetensorsFile::open(file);
  const auto expected = namedParameters(keyPrefix);
  std::vector<std::string> problems;
  std::set<std::string> known;
  for (const auto& [name, t] : expected) {
    known.insert(name);
    if (!st.contains(name)) {
      problems.push_back("missing " + name);
      continue;
    }
    const auto shape = st.info(name).shape;
    if (shape != t.sizes().vec())
      problems.push_back("shape of " + name + " differs from the model's " + c10::str(t.sizes()));
    else if (!at::isFloatingType(io::toScalarType(st.info(name).dtype)))
      problems.push_back(name + " is not floating point");
  }
  for (const auto& info : st.tensors())
    if (!known.count(info.name)) problems.push_back("unexpected " + info.name);
  if (!problems.empty()) {
    std::string msg = file.string() + ": adapter weights do not match the model:";
    for (const auto& p : problems) msg += "\n  " + p;
    throw io::FormatError(msg);
  }
  at::NoGradGuard noGrad;
  for (const auto& [name, t] : expected) {
    at::Tensor dst = t;
    dst.copy_(st.tensor(name));
  }
}

void LoraAdapters::merge() {
  if (!impl_->model) return;
  at::NoGradGuard noGrad;
  for (std::size_t i = 0; i < impl_->modules.size(); ++i) {
    at::Tensor w = impl_->model->parameter(impl_->modules[i] + ".weight");
    const auto& a = *impl_->adapters[i];
    const at::Tensor delta = at::matmul(a.B, a.A) * a.scale;  // in the adapters' precision
    w.copy_((w.to(delta.scalar_type()) + delta).to(w.scalar_type()));
  }
  detach();
}

void LoraAdapters::detach() {
  if (!impl_->model) return;
  for (const auto& m : impl_->modules) impl_->model->setAdapter(m, nullptr);
  impl_->model = nullptr;
}

void saveLlamaModelFolder(const LlamaModel& model, const std::filesystem::path& baseModelDir,
                          const std::filesystem::path& outDir) {
  const auto configText = io::readJsonFile(baseModelDir / "config.json").dump(2) + "\n";
  createDirectories(outDir);
  io::NamedTensors tensors;
  for (const auto& [name, t] : model.namedParameters()) tensors.emplace_back(name, t.detach());
  io::saveSafetensors(outDir / "model.safetensors", tensors, {{"format", "pt"}});
  io::writeFileAtomically(outDir / "config.json", configText);
}

}  // namespace caig
