#include "models/autoencoder_kl.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/nn/load_weights.h"
#include "models/nn/unet_blocks.h"

namespace caig {
namespace {

using nlohmann::json;

// diffusers builds every VAE norm with eps 1e-6.
constexpr double kEps = 1e-6;

torch::nn::GroupNorm groupNorm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kEps).affine(true));
}
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
  return unet::conv(in, out, kernel, stride, padding);
}

// ResnetBlock2D without a time embedding (temb_channels=None).
struct VaeResnet : torch::nn::Module {
  VaeResnet(int64_t in, int64_t out, int64_t groups) {
    norm1 = register_module("norm1", groupNorm(groups, in));
    conv1 = register_module("conv1", conv(in, out, 3, 1, 1));
    norm2 = register_module("norm2", groupNorm(groups, out));
    conv2 = register_module("conv2", conv(out, out, 3, 1, 1));
    if (in != out) conv_shortcut = register_module("conv_shortcut", conv(in, out, 1));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = conv1->forward(at::silu(norm1->forward(x)));
    h = conv2->forward(at::silu(norm2->forward(h)));
    return (conv_shortcut ? conv_shortcut->forward(x) : x) + h;
  }
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
};

struct Placeholder : torch::nn::Module {};

// The mid block's single-head self-attention over all pixels, with a residual connection.
struct VaeAttention : torch::nn::Module {
  VaeAttention(int64_t channels, int64_t groups) {
    group_norm = register_module("group_norm", groupNorm(groups, channels));
    to_q = register_module("to_q", torch::nn::Linear(channels, channels));
    to_k = register_module("to_k", torch::nn::Linear(channels, channels));
    to_v = register_module("to_v", torch::nn::Linear(channels, channels));
    to_out = register_module("to_out", torch::nn::ModuleList());
    to_out->push_back(torch::nn::Linear(channels, channels));
    to_out->push_back(std::make_shared<Placeholder>());
  }
  at::Tensor forward(const at::Tensor& x) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const at::Tensor h = group_norm->forward(x).reshape({B, C, H * W}).transpose(1, 2);
    const at::Tensor q = to_q->forward(h).unsqueeze(1), k = to_k->forward(h).unsqueeze(1);
    const at::Tensor v = to_v->forward(h).unsqueeze(1);
    at::Tensor out = unet::attention(q, k, v).squeeze(1);
    out = to_out->ptr<torch::nn::LinearImpl>(0)->forward(out);
    return out.transpose(1, 2).reshape({B, C, H, W}) + x;
  }
  torch::nn::GroupNorm group_norm{nullptr};
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out;
};

struct MidBlock : torch::nn::Module {
  MidBlock(int64_t channels, int64_t groups) {
    resnets = register_module("resnets", torch::nn::ModuleList());
    attentions = register_module("attentions", torch::nn::ModuleList());
    resnets->push_back(std::make_shared<VaeResnet>(channels, channels, groups));
    attentions->push_back(std::make_shared<VaeAttention>(channels, groups));
    resnets->push_back(std::make_shared<VaeResnet>(channels, channels, groups));
  }
  at::Tensor forward(at::Tensor h) {
    h = resnets->ptr<VaeResnet>(0)->forward(h);
    h = attentions->ptr<VaeAttention>(0)->forward(h);
    return resnets->ptr<VaeResnet>(1)->forward(h);
  }
  torch::nn::ModuleList resnets, attentions;
};

struct ConvHolder : torch::nn::Module {  // downsamplers.0 / upsamplers.0: just a conv
  ConvHolder(int64_t channels, int64_t stride, int64_t padding) {
    conv = register_module("conv", caig::conv(channels, channels, 3, stride, padding));
  }
  torch::nn::Conv2d conv{nullptr};
};

// DownEncoderBlock2D / UpDecoderBlock2D: resnets, then an optional resampler.
struct VaeBlock : torch::nn::Module {
  VaeBlock(int64_t in, int64_t out, int64_t layers, int64_t groups, bool down, bool resample) : isDown(down) {
    resnets = register_module("resnets", torch::nn::ModuleList());
    for (int64_t l = 0; l < layers; ++l) resnets->push_back(std::make_shared<VaeResnet>(l == 0 ? in : out, out, groups));
    if (resample) {
      samplers = register_module(down ? "downsamplers" : "upsamplers", torch::nn::ModuleList());
      // Downsample2D(padding=0): pad right/bottom by one, then a stride-2 conv.
      samplers->push_back(std::make_shared<ConvHolder>(out, down ? 2 : 1, down ? 0 : 1));
    }
  }
  at::Tensor forward(at::Tensor h) {
    for (size_t l = 0; l < resnets->size(); ++l) h = resnets->ptr<VaeResnet>(l)->forward(h);
    if (samplers) {
      auto c = samplers->ptr<ConvHolder>(0)->conv;
      if (isDown) {
        h = c->forward(at::constant_pad_nd(h, {0, 1, 0, 1}, 0));
      } else {
        h = c->forward(at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2}));
      }
    }
    return h;
  }
  torch::nn::ModuleList resnets, samplers{nullptr};
  bool isDown;
};

struct Encoder : torch::nn::Module {
  explicit Encoder(const AutoencoderKLConfig& c) {
    const auto& ch = c.blockOutChannels;
    const int64_t g = c.normNumGroups;
    conv_in = register_module("conv_in", conv(c.inChannels, ch.front(), 3, 1, 1));
    down_blocks = register_module("down_blocks", torch::nn::ModuleList());
    int64_t prev = ch.front();
    for (size_t i = 0; i < ch.size(); ++i) {
      down_blocks->push_back(std::make_shared<VaeBlock>(prev, ch[i], c.layersPerBlock, g, true, i + 1 < ch.size()));
      prev = ch[i];
    }
    mid_block = register_module("mid_block", std::make_shared<MidBlock>(ch.back(), g));
    conv_norm_out = register_module("conv_norm_out", groupNorm(g, ch.back()));
    conv_out = register_module("conv_out", conv(ch.back(), 2 * c.latentChannels, 3, 1, 1));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = conv_in->forward(x);
    for (size_t i = 0; i < down_blocks->size(); ++i) h = down_blocks->ptr<VaeBlock>(i)->forward(h);
    h = mid_block->forward(h);
    return conv_out->forward(at::silu(conv_norm_out->forward(h)));
  }
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList down_blocks;
  std::shared_ptr<MidBlock> mid_block;
  torch::nn::GroupNorm conv_norm_out{nullptr};
};

struct Decoder : torch::nn::Module {
  explicit Decoder(const AutoencoderKLConfig& c) {
    std::vector<int64_t> ch(c.blockOutChannels.rbegin(), c.blockOutChannels.rend());
    const int64_t g = c.normNumGroups;
    conv_in = register_module("conv_in", conv(c.latentChannels, ch.front(), 3, 1, 1));
    mid_block = register_module("mid_block", std::make_shared<MidBlock>(ch.front(), g));
    up_blocks = register_module("up_blocks", torch::nn::ModuleList());
    int64_t prev = ch.front();
    for (size_t i = 0; i < ch.size(); ++i) {
      up_blocks->push_back(std::make_shared<VaeBlock>(prev, ch[i], c.layersPerBlock + 1, g, false, i + 1 < ch.size()));
      prev = ch[i];
    }
    conv_norm_out = register_module("conv_norm_out", groupNorm(g, ch.back()));
    conv_out = register_module("conv_out", conv(ch.back(), c.outChannels, 3, 1, 1));
  }
  at::Tensor forward(const at::Tensor& z) {
    at::Tensor h = mid_block->forward(conv_in->forward(z));
    for (size_t i = 0; i < up_blocks->size(); ++i) h = up_blocks->ptr<VaeBlock>(i)->forward(h);
    return conv_out->forward(at::silu(conv_norm_out->forward(h)));
  }
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::shared_ptr<MidBlock> mid_block;
  torch::nn::ModuleList up_blocks;
  torch::nn::GroupNorm conv_norm_out{nullptr};
};

struct VaeNet : torch::nn::Module {
  explicit VaeNet(const AutoencoderKLConfig& c) {
    encoder = register_module("encoder", std::make_shared<Encoder>(c));
    decoder = register_module("decoder", std::make_shared<Decoder>(c));
    quant_conv = register_module("quant_conv", conv(2 * c.latentChannels, 2 * c.latentChannels, 1));
    post_quant_conv = register_module("post_quant_conv", conv(c.latentChannels, c.latentChannels, 1));
  }
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Decoder> decoder;
  torch::nn::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};
};

AutoencoderKLConfig configFromJson(const json& j, const std::string& what) {
  AutoencoderKLConfig c;
  try {
    c.inChannels = j.value("in_channels", c.inChannels);
    c.outChannels = j.value("out_channels", c.outChannels);
    c.latentChannels = j.value("latent_channels", c.latentChannels);
    if (j.contains("block_out_channels")) c.blockOutChannels = j.at("block_out_channels").get<std::vector<int64_t>>();
    c.layersPerBlock = j.value("layers_per_block", c.layersPerBlock);
    c.normNumGroups = j.value("norm_num_groups", c.normNumGroups);
    if (j.contains("scaling_factor") && !j.at("scaling_factor").is_null())
      c.scalingFactor = j.at("scaling_factor").get<double>();
    for (const char* key : {"down_block_types", "up_block_types"}) {
      if (!j.contains(key)) continue;
      const auto types = j.at(key).get<std::vector<std::string>>();
      const std::string want = std::string(key) == "down_block_types" ? "DownEncoderBlock2D" : "UpDecoderBlock2D";
      if (types.size() != c.blockOutChannels.size())
        throw io::FormatError(what + ": " + key + " and block_out_channels differ in length");
      for (const auto& t : types)
        if (t != want) throw io::FormatError(what + ": unsupported " + key + " entry '" + t + "'");
    }
    if (j.contains("act_fn") && j.at("act_fn") != "silu")
      throw io::FormatError(what + ": unsupported act_fn " + j.at("act_fn").dump());
    if (j.value("mid_block_add_attention", true) == false)
      throw io::FormatError(what + ": mid_block_add_attention=false is not supported");
  } catch (const json::exception& e) {
    throw io::FormatError(what + ": " + e.what());
  }
  if (c.blockOutChannels.empty()) throw io::FormatError(what + ": block_out_channels is empty");
  if (c.normNumGroups < 1) throw io::FormatError(what + ": norm_num_groups must be positive");
  for (const int64_t ch : c.blockOutChannels)
    if (ch < 1 || ch % c.normNumGroups) throw io::FormatError(what + ": block_out_channels must be multiples of norm_num_groups");
  if (c.inChannels < 1 || c.outChannels < 1 || c.latentChannels < 1 || c.layersPerBlock < 1)
    throw io::FormatError(what + ": channel counts and layers_per_block must be positive");
  return c;
}

// Old diffusers checkpoints name the attention projections query/key/value/proj_attn.
std::string legacyKey(const std::string& name) {
  static const std::pair<const char*, const char*> map[] = {
      {".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}};
  for (const auto& [now, old] : map) {
    const auto pos = name.find(now);
    if (pos != std::string::npos && name.find("mid_block.attentions.") != std::string::npos)
      return name.substr(0, pos) + old + name.substr(pos + std::char_traits<char>::length(now));
  }
  return name;
}

// Weights per output pixel along one axis of a tile: ramps up over the overlap shared with a
// previous tile and down over the one shared with a next tile, so blended neighbours sum to one.
at::Tensor ramp(int64_t length, int64_t overlap, bool rampStart, bool rampEnd) {
  at::Tensor w = at::ones({length}, at::kFloat);
  if (overlap <= 0) return w;
  const at::Tensor up = (at::arange(overlap, at::kFloat) + 1) / static_cast<double>(overlap + 1);
  if (rampStart) w.narrow(0, 0, overlap).mul_(up);
  if (rampEnd) w.narrow(0, length - overlap, overlap).mul_(up.flip({0}));
  return w;
}

std::vector<int64_t> tileStarts(int64_t size, int64_t tile, int64_t stride) {
  std::vector<int64_t> starts{0};
  while (starts.back() + tile < size) starts.push_back(std::min(starts.back() + stride, size - tile));
  return starts;
}

}  // namespace

struct AutoencoderKL::Impl {
  AutoencoderKLConfig config;
  std::shared_ptr<VaeNet> net;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;

  at::Tensor checkImage(const at::Tensor& x, int64_t channels, int64_t factor, const char* what) const {
    if (!x.defined() || x.dim() != 4 || x.size(1) != channels)
      throw std::invalid_argument(std::string("AutoencoderKL: ") + what + " must be [B, " + std::to_string(channels) +
                                  ", H, W]");
    if (x.size(2) % factor || x.size(3) % factor)
      throw std::invalid_argument(std::string("AutoencoderKL: ") + what + " height and width must be multiples of " +
                                  std::to_string(factor));
    return x.to(device, dtype);
  }
  at::Tensor decodeRaw(const at::Tensor& z) const {
    return net->decoder->forward(net->post_quant_conv->forward(z));
  }
};

AutoencoderKL::AutoencoderKL(const AutoencoderKLConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<VaeNet>(config);
  impl_->net->eval();
}
AutoencoderKL::~AutoencoderKL() = default;
AutoencoderKL::AutoencoderKL(AutoencoderKL&&) noexcept = default;
AutoencoderKL& AutoencoderKL::operator=(AutoencoderKL&&) noexcept = default;

AutoencoderKL AutoencoderKL::load(const std::filesystem::path& dir, c10::Device device, c10::ScalarType dtype) {
  const json j = unet::readClassConfig(dir, "AutoencoderKL");
  const std::string configName = "'" + (dir / "config.json").string() + "'";
  const AutoencoderKLConfig config = configFromJson(j, configName);
  const auto path = unet::findDiffusersWeights(dir);
  const auto checkpoint = io::Checkpoint::open(path);
  {  // the config's sizes against the weights, before anything is allocated
    const io::ConfigCheck check(checkpoint, configName);
    const auto& b = config.blockOutChannels;
    if (b.empty()) check.fail("block_out_channels is empty");
    check.shape("encoder.conv_in.weight", {b[0], config.inChannels, 3, 3}, "block_out_channels[0] and in_channels");
    check.count("encoder.down_blocks.", ".resnets.0.conv1.weight", static_cast<int64_t>(b.size()),
                "the length of block_out_channels");
    for (std::size_t i = 0; i < b.size(); ++i) {
      check.shape("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight", {b[i], b[i ? i - 1 : 0], 3, 3},
                  "block_out_channels[" + std::to_string(i) + "]");
    }
    check.count("encoder.down_blocks.0.resnets.", ".conv1.weight", config.layersPerBlock, "layers_per_block");
    check.shape("decoder.conv_out.weight", {config.outChannels, b[0], 3, 3}, "out_channels and block_out_channels[0]");
    check.shape("post_quant_conv.weight", {config.latentChannels, config.latentChannels, 1, 1}, "latent_channels");
  }
  AutoencoderKL model(config);
  WeightNaming naming;
  if (checkpoint.contains("encoder.mid_block.attentions.0.query.weight")) naming.checkpointKey = legacyKey;
  try {
    loadModuleWeights(*model.impl_->net, checkpoint, "AutoencoderKL", naming);
  } catch (const io::FormatError& e) {
    throw io::FormatError("'" + path.string() + "': " + e.what());
  }
  model.to(device, dtype);
  return model;
}

void AutoencoderKL::loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::string& what) {
  loadModuleWeights(*impl_->net, checkpoint, what, naming);
}

const AutoencoderKLConfig& AutoencoderKL::config() const {
  return impl_->config;
}
std::vector<std::pair<std::string, at::Tensor>> AutoencoderKL::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : impl_->net->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}
void AutoencoderKL::to(c10::Device device, c10::ScalarType dtype) {
  impl_->net->to(device, dtype);
  impl_->device = device;
  impl_->dtype = dtype;
}
c10::Device AutoencoderKL::device() const {
  return impl_->device;
}
c10::ScalarType AutoencoderKL::dtype() const {
  return impl_->dtype;
}

AutoencoderKL::Moments AutoencoderKL::encodeMoments(const at::Tensor& image) const {
  c10::InferenceMode guard;
  const at::Tensor x = impl_->checkImage(image, impl_->config.inChannels, impl_->config.downFactor(), "image");
  const at::Tensor moments = impl_->net->quant_conv->forward(impl_->net->encoder->forward(x));
  const int64_t L = impl_->config.latentChannels;
  return {moments.narrow(1, 0, L), moments.narrow(1, L, L).clamp(-30.0, 20.0)};
}

at::Tensor AutoencoderKL::encodeMode(const at::Tensor& image) const {
  return encodeMoments(image).mean;
}

at::Tensor AutoencoderKL::decode(const at::Tensor& latents) const {
  c10::InferenceMode guard;
  return impl_->decodeRaw(impl_->checkImage(latents, impl_->config.latentChannels, 1, "latents"));
}

at::Tensor AutoencoderKL::decodeTiled(const at::Tensor& latents, int64_t tileLatent, int64_t overlapLatent) const {
  if (tileLatent < 1 || overlapLatent < 0 || overlapLatent >= tileLatent)
    throw std::invalid_argument("AutoencoderKL::decodeTiled: need tileLatent >= 1 and 0 <= overlapLatent < tileLatent");
  c10::InferenceMode guard;
  const at::Tensor z = impl_->checkImage(latents, impl_->config.latentChannels, 1, "latents");
  const int64_t h = z.size(2), w = z.size(3);
  if (h <= tileLatent && w <= tileLatent) return impl_->decodeRaw(z);
  const int64_t f = impl_->config.downFactor(), stride = tileLatent - overlapLatent;
  const int64_t th = std::min(tileLatent, h), tw = std::min(tileLatent, w);
  const auto rows = tileStarts(h, th, stride), cols = tileStarts(w, tw, stride);
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(z.device());
  at::Tensor sum = at::zeros({z.size(0), impl_->config.outChannels, h * f, w * f}, fopts);
  at::Tensor weight = at::zeros({1, 1, h * f, w * f}, fopts);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < cols.size(); ++c) {
      const at::Tensor tile = impl_->decodeRaw(z.narrow(2, rows[r], th).narrow(3, cols[c], tw)).to(at::kFloat);
      // Overlap in pixels with the previous/next tile (the last tile may be shifted back further).
      const int64_t ovTop = r > 0 ? (rows[r - 1] + th - rows[r]) * f : 0;
      const int64_t ovBottom = r + 1 < rows.size() ? (rows[r] + th - rows[r + 1]) * f : 0;
      const int64_t ovLeft = c > 0 ? (cols[c - 1] + tw - cols[c]) * f : 0;
      const int64_t ovRight = c + 1 < cols.size() ? (cols[c] + tw - cols[c + 1]) * f : 0;
      at::Tensor wy = at::ones({th * f}, at::kFloat), wx = at::ones({tw * f}, at::kFloat);
      if (ovTop) wy.narrow(0, 0, ovTop).mul_(ramp(ovTop, ovTop, true, false));
      if (ovBottom) wy.narrow(0, th * f - ovBottom, ovBottom).mul_(ramp(ovBottom, ovBottom, false, true));
      if (ovLeft) wx.narrow(0, 0, ovLeft).mul_(ramp(ovLeft, ovLeft, true, false));
      if (ovRight) wx.narrow(0, tw * f - ovRight, ovRight).mul_(ramp(ovRight, ovRight, false, true));
      const at::Tensor wt = (wy.unsqueeze(1) * wx.unsqueeze(0)).to(z.device()).unsqueeze(0).unsqueeze(0);
      sum.narrow(2, rows[r] * f, th * f).narrow(3, cols[c] * f, tw * f).add_(tile * wt);
      weight.narrow(2, rows[r] * f, th * f).narrow(3, cols[c] * f, tw * f).add_(wt);
    }
  }
  return (sum / weight).to(impl_->dtype);
}

}  // namespace caig
