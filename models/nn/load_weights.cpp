#include "models/nn/load_weights.h"

#include <torch/nn/module.h>

#include <set>
#include <sstream>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"

namespace caig {
namespace {

std::string shapeText(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  return s.str() + "]";
}

void listInto(std::ostringstream& msg, const char* label, const std::vector<std::string>& names) {
  if (names.empty()) return;
  msg << "\n  " << label << " (" << names.size() << "):";
  const std::size_t shown = std::min<std::size_t>(names.size(), 20);
  for (std::size_t i = 0; i < shown; ++i) msg << "\n    " << names[i];
  if (shown < names.size()) msg << "\n    ... and " << names.size() - shown << " more";
}

}  // namespace

void loadModuleWeights(torch::nn::Module& module, const io::Checkpoint& checkpoint, const std::string& what) {
  loadModuleWeights(module, checkpoint, what, WeightNaming{});
}

void loadModuleWeights(torch::nn::Module& module, const io::Checkpoint& checkpoint, const std::string& what,
                       const WeightNaming& naming) {
  const auto key = [&](const std::string& name) { return naming.checkpointKey ? naming.checkpointKey(name) : name; };
  std::vector<std::pair<std::string, at::Tensor>> targets;  // checkpoint key -> module tensor
  for (const auto& p : module.named_parameters(true)) targets.emplace_back(key(p.key()), p.value());
  for (const auto& b : module.named_buffers(true)) targets.emplace_back(key(b.key()), b.value());

  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> expected;
  for (const auto& [name, target] : targets) {
    expected.insert(name);
    if (!checkpoint.contains(name)) {
      missing.push_back(name + " " + shapeText(target.sizes()));
      continue;
    }
    const auto& info = checkpoint.info(name);
    const bool floating = info.dtype == io::DType::F32 || info.dtype == io::DType::F16 ||
                          info.dtype == io::DType::BF16 || info.dtype == io::DType::F64;
    const auto elements = [](const std::vector<int64_t>& shape) {
      int64_t n = 1;
      for (const int64_t d : shape) n *= d;
      return n;
    };
    const bool shapeFits = info.shape == target.sizes().vec() ||
                           (naming.reshapes && naming.reshapes(name) && elements(info.shape) == target.numel());
    if (!floating || !shapeFits) {
      mismatched.push_back(name + ": checkpoint " + io::dtypeName(info.dtype) + " " + shapeText(info.shape) +
                           ", model float " + shapeText(target.sizes()));
    }
  }
  for (const auto& name : checkpoint.names())
    if (!expected.count(name) && !(naming.ignore && naming.ignore(name))) unexpected.push_back(name);

  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::ostringstream msg;
    msg << "checkpoint does not match the " << what << " model";
    listInto(msg, "missing", missing);
    listInto(msg, "wrong shape or dtype", mismatched);
    listInto(msg, "unexpected", unexpected);
    throw io::FormatError(msg.str());
  }
  at::NoGradGuard noGrad;
  for (auto& [name, target] : targets) {
    const at::Tensor source = checkpoint.tensor(name).reshape(target.sizes());
    if (naming.aliasMatching && target.device().is_cpu() && source.scalar_type() == target.scalar_type() &&
        source.is_contiguous() && target.is_contiguous()) {
      target.set_(source);
    } else {
      target.copy_(source);
    }
  }
}

void reloadParameters(const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                      const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::set<std::string>& names,
                      const std::string& what) {
  at::NoGradGuard noGrad;
  for (const auto& [name, target] : parameters) {
    if (!names.count(name)) continue;
    const std::string key = naming.checkpointKey ? naming.checkpointKey(name) : name;
    if (!checkpoint.contains(key) || checkpoint.info(key).numel() != target.numel()) {
      throw io::FormatError(what + ": " + key + " is gone or changed since the model was loaded: load the model again");
    }
    at::Tensor t = target;
    t.copy_(checkpoint.tensor(key).reshape(target.sizes()));
  }
}

}  // namespace caig
