#include "models/sd_lora.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "models/clip_text.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/sd_single_file.h"
#include "models/unet2d.h"

namespace caig {

namespace {

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}
bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string underscored(std::string s) {
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

std::string withoutWeight(const std::string& param) {
  return param.substr(0, param.size() - std::string(".weight").size());
}

std::string shapeText(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  return s.str() + "]";
}

enum class Role { Down, Up, Alpha };

// The key suffixes of every supported layout, longest first within a layout.
struct Suffix {
  const char* text;
  Role role;
};
const Suffix kSuffixes[] = {
    {".lora_down.weight", Role::Down},               // kohya / A1111 / LCM-LoRA
    {".lora_up.weight", Role::Up},                   //
    {".alpha", Role::Alpha},                         //
    {".lora_linear_layer.down.weight", Role::Down},  // diffusers (text encoder)
    {".lora_linear_layer.up.weight", Role::Up},      //
    {".lora.down.weight", Role::Down},               // diffusers (UNet)
    {".lora.up.weight", Role::Up},                   //
    {".lora_A.weight", Role::Down},                  // PEFT
    {".lora_B.weight", Role::Up},                    //
    {"_lora.down.weight", Role::Down},               // diffusers' older attention processors
    {"_lora.up.weight", Role::Up},                   //
};

// What CAIG cannot merge, by the last name of a key (".weight" dropped): "hada_w1_a".
const char* refusedKind(const std::string& key) {
  std::string k = endsWith(key, ".weight") ? withoutWeight(key) : key;
  const std::string leaf = k.substr(k.rfind('.') == std::string::npos ? 0 : k.rfind('.') + 1);
  if (startsWith(leaf, "hada_")) return "a LoHa (LyCORIS Hadamard product) network";
  if (startsWith(leaf, "lokr_")) return "a LoKr (LyCORIS Kronecker product) network";
  if (leaf == "lora_mid") return "a LoCon with a CP-decomposed middle factor (lora_mid)";
  if (leaf == "dora_scale") return "a DoRA network (weight-decomposed LoRA)";
  if (leaf == "diff" || leaf == "diff_b") return "a full-weight difference (LyCORIS 'full')";
  if (leaf == "w_norm" || leaf == "b_norm") return "a network that trains normalisation layers";
  return nullptr;
}

struct Factors {
  std::optional<std::string> downKey, upKey, alphaKey;
};

// Module key of the file -> native parameter of the UNet or the text encoder.
class ModuleResolver {
 public:
  ModuleResolver(const UNet2DConditionModel& unet, const ClipTextModel* text) {
    for (const auto& [name, shape] : unet.expectedTensors()) {
      if (!endsWith(name, ".weight")) continue;
      unetParams_.emplace(name, shape);
      const std::string module = withoutWeight(name);
      kohya_.emplace("lora_unet_" + underscored(module), Target{false, name});
      const std::string ldm = ldmUnetKey(name, unet.config());
      if (ldm != name) kohya_.emplace("lora_unet_" + underscored(withoutWeight(ldm)), Target{false, name});
    }
    if (text) {
      for (const auto& [name, shape] : text->expectedTensors()) {
        if (!endsWith(name, ".weight")) continue;
        textParams_.emplace(name, shape);
        kohya_.emplace("lora_te_" + underscored(withoutWeight(name)), Target{true, name});
      }
    }
  }

  struct Target {
    bool textEncoder = false;
    std::string param;
  };

  std::optional<Target> resolve(std::string module) const {
    if (startsWith(module, "lora_unet_") || startsWith(module, "lora_te_")) {
      const auto it = kohya_.find(module);
      if (it == kohya_.end()) return std::nullopt;
      return it->second;
    }
    if (startsWith(module, "base_model.model.")) module = module.substr(17);
    // diffusers' older attention processors: attn1.processor.to_q_lora -> attn1.to_q
    for (const auto& [from, to] :
         std::initializer_list<std::pair<const char*, const char*>>{{".processor.to_q", ".to_q"},
                                                                    {".processor.to_k", ".to_k"},
                                                                    {".processor.to_v", ".to_v"},
                                                                    {".processor.to_out", ".to_out.0"}}) {
      const auto at = module.find(from);
      if (at != std::string::npos && at + std::string(from).size() == module.size()) {
        module = module.substr(0, at) + to;
      }
    }
    if (startsWith(module, "text_encoder.")) return find(textParams_, module.substr(13), true);
    if (startsWith(module, "unet.")) return find(unetParams_, module.substr(5), false);
    if (auto t = find(unetParams_, module, false)) return t;
    return find(textParams_, module, true);
  }

  const std::vector<int64_t>& shape(const Target& t) const {
    return (t.textEncoder ? textParams_ : unetParams_).at(t.param);
  }

 private:
  static std::optional<Target> find(const std::map<std::string, std::vector<int64_t>>& params,
                                    const std::string& module, bool text) {
    if (params.count(module + ".weight")) return Target{text, module + ".weight"};
    return std::nullopt;
  }

  std::map<std::string, std::vector<int64_t>> unetParams_, textParams_;
  std::unordered_map<std::string, Target> kohya_;
};

// down [r, in(, kh, kw)] and up [out, r(, 1, 1)] must make the target's [out, in(, kh, kw)].
void checkShapes(const std::string& file, const std::string& module, const at::Tensor& down, const at::Tensor& up,
                 const std::vector<int64_t>& target, const std::string& param) {
  const auto fail = [&](const std::string& why) { throw io::FormatError(file + ": " + module + ": " + why); };
  if ((down.dim() != 2 && down.dim() != 4) || (up.dim() != 2 && up.dim() != 4)) {
    fail("LoRA factors must be 2-D (Linear) or 4-D (conv): down " + shapeText(down.sizes()) + ", up " +
         shapeText(up.sizes()));
  }
  if (down.size(0) < 1 || up.size(1) != down.size(0) || (up.dim() == 4 && (up.size(2) != 1 || up.size(3) != 1))) {
    fail("up " + shapeText(up.sizes()) + " and down " + shapeText(down.sizes()) + " are not factors of one rank");
  }
  const bool conv = target.size() == 4;
  const bool oneByOne = conv && target[2] == 1 && target[3] == 1;
  bool fits = target.size() >= 2 && up.size(0) == target[0] && down.size(1) == target[1];
  if (down.dim() == 4)
    fits = fits &&
           (conv ? down.size(2) == target[2] && down.size(3) == target[3] : down.size(2) == 1 && down.size(3) == 1);
  else
    fits = fits && (!conv || oneByOne);
  if (!fits) {
    std::vector<int64_t> made = {up.size(0), down.size(1)};
    if (down.dim() == 4) made.insert(made.end(), {down.size(2), down.size(3)});
    fail("the LoRA makes a " + shapeText(made) + " change but the model's " + param + " is " + shapeText(target) +
         " (a LoRA for another architecture, e.g. SD2 or SDXL?)");
  }
}

}  // namespace

SdLoraFile readSdLora(const std::filesystem::path& path, const UNet2DConditionModel& unet, const ClipTextModel* text) {
  const std::string file = path.string();
  const io::Checkpoint checkpoint = io::Checkpoint::open(path);
  std::map<std::string, Factors> modules;  // sorted: the same order on every run
  for (const auto& key : checkpoint.names()) {
    if (const char* refused = refusedKind(key)) {
      throw io::FormatError(file + ": " + refused + " (" + key +
                            "): CAIG Studio merges LoRA and LoCon networks only; use a LoRA file");
    }
    if (startsWith(key, "lora_te1_") || startsWith(key, "lora_te2_")) {
      throw io::FormatError(file + ": an SDXL LoRA (" + key + "): only SD1.x LoRAs fit the SD1.5 engine");
    }
    for (const auto& s : kSuffixes) {
      if (!endsWith(key, s.text)) continue;
      Factors& f = modules[key.substr(0, key.size() - std::string(s.text).size())];
      (s.role == Role::Down ? f.downKey : s.role == Role::Up ? f.upKey : f.alphaKey) = key;
      break;
    }
  }
  if (modules.empty()) {
    throw io::FormatError(file +
                          ": not a LoRA file (no lora_down / lora_up, lora.down / lora.up or lora_A / lora_B "
                          "weights)");
  }

  const ModuleResolver resolver(unet, text);
  SdLoraFile out;
  out.file = path;
  for (const auto& [module, f] : modules) {
    if (!f.downKey || !f.upKey) {
      if (!f.downKey && !f.upKey) continue;  // an alpha on its own (some trainers keep them for frozen parts)
      throw io::FormatError(file + ": " + module + " has " + (f.downKey ? "a down" : "an up") + " factor but no " +
                            (f.downKey ? "up" : "down") + " factor");
    }
    const auto target = resolver.resolve(module);
    if (!target) {
      out.unmatched.push_back(module);
      continue;
    }
    for (const auto* key : {&*f.downKey, &*f.upKey}) {
      const io::DType d = checkpoint.info(*key).dtype;
      if (d != io::DType::F32 && d != io::DType::F16 && d != io::DType::BF16 && d != io::DType::F64) {
        throw io::FormatError(file + ": " + *key + " is not a floating-point tensor");
      }
    }
    SdLoraPatch p;
    p.textEncoder = target->textEncoder;
    p.param = target->param;
    p.key = module;
    p.down = checkpoint.tensor(*f.downKey);
    p.up = checkpoint.tensor(*f.upKey);
    checkShapes(file, module, p.down, p.up, resolver.shape(*target), target->param);
    const auto rank = static_cast<double>(p.down.size(0));
    double alpha = rank;  // no alpha: diffusers' format, scale 1
    if (f.alphaKey) {
      const at::Tensor a = checkpoint.tensor(*f.alphaKey);
      if (a.numel() != 1 || a.scalar_type() == at::kBool) {
        throw io::FormatError(file + ": " + *f.alphaKey + " must be one number, not " + shapeText(a.sizes()));
      }
      alpha = a.to(at::kDouble).item<double>();
      if (!std::isfinite(alpha)) throw io::FormatError(file + ": " + *f.alphaKey + " is not finite");
    }
    p.scale = alpha / rank;
    (p.textEncoder ? out.textModules : out.unetModules) += 1;
    out.patches.push_back(std::move(p));
  }
  if (out.patches.empty()) {
    throw io::FormatError(file + ": none of its " + std::to_string(out.unmatched.size()) +
                          " LoRA modules matches this model's UNet or text encoder (a LoRA for another "
                          "architecture?), e.g. " +
                          out.unmatched.front());
  }
  return out;
}

void mergeSdLora(const SdLoraFile& lora, double weight, UNet2DConditionModel& unet, ClipTextModel* text) {
  std::unordered_map<std::string, at::Tensor> unetParams, textParams;
  for (auto& [name, t] : unet.parameters()) unetParams.emplace(name, t);
  if (text)
    for (auto& [name, t] : text->parameters()) textParams.emplace(name, t);
  at::NoGradGuard noGrad;
  for (const auto& p : lora.patches) {
    if (p.textEncoder && !text) continue;
    at::Tensor w = (p.textEncoder ? textParams : unetParams).at(p.param);
    const auto fp32 = at::TensorOptions().device(w.device()).dtype(at::kFloat);
    const at::Tensor delta =
        at::mm(p.up.to(fp32).flatten(1), p.down.to(fp32).flatten(1)).reshape(w.sizes()).mul_(weight * p.scale);
    if (w.scalar_type() == at::kFloat) {
      w.add_(delta);
    } else {
      w.copy_(w.to(at::kFloat).add_(delta));
    }
  }
}

}  // namespace caig
