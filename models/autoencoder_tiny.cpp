#include "models/autoencoder_tiny.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/io/sd_file_kind.h"
#include "models/nn/load_weights.h"
#include "models/nn/unet_blocks.h"

namespace caig {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

torch::nn::Conv2d conv3(int64_t in, int64_t out, int64_t stride = 1, bool bias = true) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(bias));
}

// AutoencoderTinyBlock: three 3x3 convolutions with ReLUs between, a 1x1 skip when the widths
// differ, ReLU after the sum.
struct TinyBlock : torch::nn::Module {
  TinyBlock(int64_t in, int64_t out) {
    conv = register_module("conv", torch::nn::ModuleList());
    conv->push_back(conv3(in, out));
    conv->push_back(std::make_shared<torch::nn::Module>());  // conv.1: the ReLU, parameterless
    conv->push_back(conv3(out, out));
    conv->push_back(std::make_shared<torch::nn::Module>());
    conv->push_back(conv3(out, out));
    if (in != out) skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1).bias(false)));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = at::relu(conv->ptr<torch::nn::Conv2dImpl>(0)->forward(x));
    h = at::relu(conv->ptr<torch::nn::Conv2dImpl>(2)->forward(h));
    h = conv->ptr<torch::nn::Conv2dImpl>(4)->forward(h);
    return at::relu(h + (skip ? skip->forward(x) : x));
  }
  torch::nn::ModuleList conv;
  torch::nn::Conv2d skip{nullptr};
};

// A diffusers nn.Sequential of layers, with the parameterless ones (ReLU, Upsample) kept as
// placeholders so that the weights' indices are diffusers'.
struct TinyStack : torch::nn::Module {
  enum class Kind { Conv, Relu, Block, Upsample };
  TinyStack() { layers = register_module("layers", torch::nn::ModuleList()); }
  void add(Kind kind, std::shared_ptr<torch::nn::Module> module = nullptr) {
    kinds.push_back(kind);
    if (!module) module = std::make_shared<torch::nn::Module>();
    layers->push_back(module);
  }
  at::Tensor forward(at::Tensor x) {
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      switch (kinds[i]) {
        case Kind::Conv: x = layers->ptr<torch::nn::Conv2dImpl>(i)->forward(x); break;
        case Kind::Relu: x = at::relu(x); break;
        case Kind::Block: x = layers->ptr<TinyBlock>(i)->forward(x); break;
        case Kind::Upsample: x = at::upsample_nearest2d(x, {x.size(2) * upsample, x.size(3) * upsample}); break;
      }
    }
    return x;
  }
  torch::nn::ModuleList layers;
  std::vector<Kind> kinds;
  int64_t upsample = 2;
};

std::shared_ptr<TinyStack> makeEncoder(const AutoencoderTinyConfig& c) {
  auto s = std::make_shared<TinyStack>();
  for (std::size_t i = 0; i < c.numEncoderBlocks.size(); ++i) {
    const int64_t ch = c.encoderBlockOutChannels[i];
    // The first layer reads the image; each later stage halves the size (stride 2, no bias).
    s->add(TinyStack::Kind::Conv, i == 0 ? conv3(c.inChannels, ch).ptr() : conv3(ch, ch, 2, false).ptr());
    for (int64_t b = 0; b < c.numEncoderBlocks[i]; ++b)
      s->add(TinyStack::Kind::Block, std::make_shared<TinyBlock>(ch, ch));
  }
  s->add(TinyStack::Kind::Conv, conv3(c.encoderBlockOutChannels.back(), c.latentChannels).ptr());
  return s;
}

std::shared_ptr<TinyStack> makeDecoder(const AutoencoderTinyConfig& c) {
  auto s = std::make_shared<TinyStack>();
  s->upsample = c.upsamplingScalingFactor;
  s->add(TinyStack::Kind::Conv, conv3(c.latentChannels, c.decoderBlockOutChannels[0]).ptr());
  s->add(TinyStack::Kind::Relu);
  for (std::size_t i = 0; i < c.numDecoderBlocks.size(); ++i) {
    const bool last = i + 1 == c.numDecoderBlocks.size();
    const int64_t ch = c.decoderBlockOutChannels[i];
    for (int64_t b = 0; b < c.numDecoderBlocks[i]; ++b)
      s->add(TinyStack::Kind::Block, std::make_shared<TinyBlock>(ch, ch));
    if (!last) s->add(TinyStack::Kind::Upsample);
    s->add(TinyStack::Kind::Conv, conv3(ch, last ? c.outChannels : ch, 1, last).ptr());
  }
  return s;
}

std::vector<int64_t> intList(const json& j, const char* key, std::vector<int64_t> fallback) {
  return j.contains(key) ? j.at(key).get<std::vector<int64_t>>() : fallback;
}

AutoencoderTinyConfig configFromJson(const json& j, const std::string& what) {
  AutoencoderTinyConfig c;
  try {
    c.inChannels = j.value("in_channels", c.inChannels);
    c.outChannels = j.value("out_channels", c.outChannels);
    c.latentChannels = j.value("latent_channels", c.latentChannels);
    c.encoderBlockOutChannels = intList(j, "encoder_block_out_channels", c.encoderBlockOutChannels);
    c.decoderBlockOutChannels = intList(j, "decoder_block_out_channels", c.decoderBlockOutChannels);
    c.numEncoderBlocks = intList(j, "num_encoder_blocks", c.numEncoderBlocks);
    c.numDecoderBlocks = intList(j, "num_decoder_blocks", c.numDecoderBlocks);
    c.upsamplingScalingFactor = j.value("upsampling_scaling_factor", c.upsamplingScalingFactor);
    c.latentMagnitude = j.value("latent_magnitude", c.latentMagnitude);
    c.latentShift = j.value("latent_shift", c.latentShift);
    if (j.contains("scaling_factor") && !j.at("scaling_factor").is_null()) c.scalingFactor = j.at("scaling_factor");
    if (j.contains("act_fn") && j.at("act_fn") != "relu")
      throw io::FormatError(what + ": unsupported act_fn " + j.at("act_fn").dump() + " (TAESD uses relu)");
  } catch (const json::exception& e) {
    throw io::FormatError(what + ": " + e.what());
  }
  const auto positive = [](const std::vector<int64_t>& v) {
    for (const int64_t x : v)
      if (x < 1 || x > 4096) return false;
    return !v.empty();
  };
  if (!positive(c.encoderBlockOutChannels) || !positive(c.decoderBlockOutChannels) ||
      c.encoderBlockOutChannels.size() != c.numEncoderBlocks.size() ||
      c.decoderBlockOutChannels.size() != c.numDecoderBlocks.size())
    throw io::FormatError(what + ": block_out_channels and num_*_blocks must be positive lists of the same length");
  for (const auto* blocks : {&c.numEncoderBlocks, &c.numDecoderBlocks})
    for (const int64_t b : *blocks)
      if (b < 0 || b > 64) throw io::FormatError(what + ": a block count out of range");
  if (c.inChannels < 1 || c.outChannels < 1 || c.latentChannels < 1 || c.upsamplingScalingFactor < 1 ||
      c.upsamplingScalingFactor > 8)
    throw io::FormatError(what + ": channel counts and upsampling_scaling_factor must be positive");
  return c;
}

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// "layers.<i>.<rest>" -> "<i + offset>.<rest>" (the original Sequential's keys).
std::string originalKey(const std::string& name, int offset) {
  const std::string rest = name.substr(std::string("layers.").size());
  const auto dot = rest.find('.');
  return std::to_string(std::stoi(rest.substr(0, dot)) + offset) + rest.substr(dot);
}

// The default layout's sizes, with the width and latent channels read from an original file's
// first convolution ("0.weight" [C, 3, 3, 3] in an encoder, "1.weight" [C, 4, 3, 3] in a decoder).
void widthsFromOriginal(AutoencoderTinyConfig& c, const io::Checkpoint& ck, bool decoder, const std::string& file) {
  const std::string key = decoder ? "1.weight" : "0.weight";
  const auto& shape = ck.info(key).shape;
  if (shape.size() != 4) throw io::FormatError(file + ": '" + key + "' is not a convolution weight");
  std::vector<int64_t>& widths = decoder ? c.decoderBlockOutChannels : c.encoderBlockOutChannels;
  widths.assign(widths.size(), shape[0]);
  if (decoder) {
    c.latentChannels = shape[1];
  } else {
    int64_t last = static_cast<int64_t>(c.numEncoderBlocks.size());  // one convolution per stage
    for (const int64_t b : c.numEncoderBlocks) last += b;
    const std::string lastKey = std::to_string(last) + ".weight";  // the final convolution: 14 for 1,3,3,3
    if (ck.contains(lastKey) && ck.info(lastKey).shape.size() == 4) c.latentChannels = ck.info(lastKey).shape[0];
  }
}

void loadHalf(TinyStack& stack, const io::Checkpoint& ck, const std::string& diffusersPrefix, int originalOffset,
              const std::string& file) {
  WeightNaming naming;
  if (diffusersPrefix.empty()) {
    naming.checkpointKey = [originalOffset](const std::string& n) { return originalKey(n, originalOffset); };
  } else {
    naming.checkpointKey = [diffusersPrefix](const std::string& n) { return diffusersPrefix + n; };
    naming.ignore = [diffusersPrefix](const std::string& k) { return !startsWith(k, diffusersPrefix); };
  }
  try {
    loadModuleWeights(stack, ck, "TAESD", naming);
  } catch (const io::FormatError& e) {
    throw io::FormatError("'" + file + "': " + e.what());
  }
}

}  // namespace

struct AutoencoderTiny::Impl {
  AutoencoderTinyConfig config;
  std::shared_ptr<TinyStack> encoder, decoder;  // either may be absent after load()
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;
};

AutoencoderTiny::AutoencoderTiny(const AutoencoderTinyConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->encoder = makeEncoder(config);
  impl_->decoder = makeDecoder(config);
  impl_->encoder->eval();
  impl_->decoder->eval();
}
AutoencoderTiny::~AutoencoderTiny() = default;
AutoencoderTiny::AutoencoderTiny(AutoencoderTiny&&) noexcept = default;
AutoencoderTiny& AutoencoderTiny::operator=(AutoencoderTiny&&) noexcept = default;

namespace {

// The original files' encoder beside a decoder file or in a folder: taesd_decoder -> taesd_encoder
// (taesdxl_decoder -> taesdxl_encoder, ...).
fs::path encoderBeside(const fs::path& path, bool folder) {
  if (folder) return path / "taesd_encoder.safetensors";
  const std::string name = path.filename().string();
  const auto pos = name.find("_decoder");
  if (pos == std::string::npos) return {};
  return path.parent_path() / (name.substr(0, pos) + "_encoder" + name.substr(pos + 8));
}

}  // namespace

bool AutoencoderTiny::hasEncoderAt(const fs::path& path) {
  std::error_code ec;
  const bool folder = fs::is_directory(path, ec);
  try {
    if (folder && fs::is_regular_file(path / "config.json", ec))
      return io::Checkpoint::open(unet::findDiffusersWeights(path)).contains("encoder.layers.0.weight");
    const fs::path encoder = encoderBeside(path, folder);
    return !encoder.empty() && fs::is_regular_file(encoder, ec) &&
           io::taesdFileParts(io::Checkpoint::open(encoder).names()) == io::TaesdParts::Encoder;
  } catch (const std::exception&) {
    return false;
  }
}

AutoencoderTiny AutoencoderTiny::load(const fs::path& path, c10::Device device, c10::ScalarType dtype) {
  std::error_code ec;
  const bool folder = fs::is_directory(path, ec);
  if (folder && fs::is_regular_file(path / "config.json", ec)) {  // diffusers AutoencoderTiny
    const json j = unet::readClassConfig(path, "AutoencoderTiny");
    const AutoencoderTinyConfig config = configFromJson(j, "'" + (path / "config.json").string() + "'");
    const fs::path weights = unet::findDiffusersWeights(path);
    const auto ck = io::Checkpoint::open(weights);
    {
      const io::ConfigCheck check(ck, "'" + (path / "config.json").string() + "'");
      check.shape("decoder.layers.0.weight", {config.decoderBlockOutChannels[0], config.latentChannels, 3, 3},
                  "decoder_block_out_channels[0] and latent_channels");
      check.shape("encoder.layers.0.weight", {config.encoderBlockOutChannels[0], config.inChannels, 3, 3},
                  "encoder_block_out_channels[0] and in_channels");
    }
    AutoencoderTiny model(config);
    loadHalf(*model.impl_->decoder, ck, "decoder.", 0, weights.string());
    if (ck.contains("encoder.layers.0.weight")) {
      loadHalf(*model.impl_->encoder, ck, "encoder.", 0, weights.string());
    } else {
      model.impl_->encoder.reset();
    }
    model.to(device, dtype);
    return model;
  }
  // The original files: the decoder (required) and the encoder beside it.
  const fs::path decoderFile = folder ? path / "taesd_decoder.safetensors" : path;
  const fs::path encoderFile = encoderBeside(path, folder);
  if (!fs::is_regular_file(decoderFile, ec)) {
    throw io::FileError(decoderFile.string() +
                        ": no TAESD decoder (a diffusers AutoencoderTiny folder, or "
                        "taesd_decoder.safetensors)");
  }
  const auto dec = io::Checkpoint::open(decoderFile);
  if (io::taesdFileParts(dec.names()) != io::TaesdParts::Decoder) {
    throw io::FormatError(decoderFile.string() + ": not a TAESD decoder (its first layer '1.weight' is missing)");
  }
  AutoencoderTinyConfig config;
  widthsFromOriginal(config, dec, true, decoderFile.string());
  std::optional<io::Checkpoint> enc;
  if (!encoderFile.empty() && fs::is_regular_file(encoderFile, ec)) {
    enc.emplace(io::Checkpoint::open(encoderFile));
    if (io::taesdFileParts(enc->names()) != io::TaesdParts::Encoder)
      throw io::FormatError(encoderFile.string() + ": not a TAESD encoder");
    widthsFromOriginal(config, *enc, false, encoderFile.string());
  }
  AutoencoderTiny model(config);
  loadHalf(*model.impl_->decoder, dec, "", 1, decoderFile.string());
  if (enc) {
    loadHalf(*model.impl_->encoder, *enc, "", 0, encoderFile.string());
  } else {
    model.impl_->encoder.reset();
  }
  model.to(device, dtype);
  return model;
}

const AutoencoderTinyConfig& AutoencoderTiny::config() const {
  return impl_->config;
}
std::vector<std::pair<std::string, at::Tensor>> AutoencoderTiny::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [half, stack] : {std::pair{"encoder.", impl_->encoder}, std::pair{"decoder.", impl_->decoder}}) {
    if (!stack) continue;
    for (const auto& p : stack->named_parameters()) out.emplace_back(half + p.key(), p.value());
  }
  return out;
}
bool AutoencoderTiny::hasEncoder() const {
  return impl_->encoder != nullptr;
}
bool AutoencoderTiny::hasDecoder() const {
  return impl_->decoder != nullptr;
}
void AutoencoderTiny::to(c10::Device device, c10::ScalarType dtype) {
  if (impl_->encoder) impl_->encoder->to(device, dtype);
  if (impl_->decoder) impl_->decoder->to(device, dtype);
  impl_->device = device;
  impl_->dtype = dtype;
}
c10::Device AutoencoderTiny::device() const {
  return impl_->device;
}
c10::ScalarType AutoencoderTiny::dtype() const {
  return impl_->dtype;
}

at::Tensor AutoencoderTiny::encode(const at::Tensor& image) const {
  if (!impl_->encoder) throw std::logic_error("TAESD: this model was loaded without its encoder");
  const int64_t f = impl_->config.downFactor();
  if (!image.defined() || image.dim() != 4 || image.size(1) != impl_->config.inChannels || image.size(2) % f ||
      image.size(3) % f)
    throw std::invalid_argument("TAESD: the image must be [B, " + std::to_string(impl_->config.inChannels) +
                                ", H, W] with H and W multiples of " + std::to_string(f));
  c10::InferenceMode guard;
  // EncoderTiny reads [0, 1]; the pipeline's images are in [-1, 1].
  return impl_->encoder->forward(image.to(impl_->device, impl_->dtype).add(1.0).div(2.0));
}

at::Tensor AutoencoderTiny::decode(const at::Tensor& latents) const {
  if (!latents.defined() || latents.dim() != 4 || latents.size(1) != impl_->config.latentChannels)
    throw std::invalid_argument("TAESD: latents must be [B, " + std::to_string(impl_->config.latentChannels) +
                                ", h, w]");
  c10::InferenceMode guard;
  // DecoderTiny: a soft clamp to +-3, the layers, then [0, 1] -> [-1, 1].
  const at::Tensor x = at::tanh(latents.to(impl_->device, impl_->dtype) / 3.0) * 3.0;
  return impl_->decoder->forward(x).mul(2.0).sub(1.0);
}

at::Tensor AutoencoderTiny::scaleLatents(const at::Tensor& latents) const {
  return (latents / (2.0 * impl_->config.latentMagnitude) + impl_->config.latentShift).clamp(0.0, 1.0);
}
at::Tensor AutoencoderTiny::unscaleLatents(const at::Tensor& scaled) const {
  return (scaled - impl_->config.latentShift) * (2.0 * impl_->config.latentMagnitude);
}

}  // namespace caig
