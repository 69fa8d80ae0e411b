#include "models/controlnet.h"

#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "models/io/errors.h"
#include "models/io/checkpoint.h"
#include "models/nn/unet_blocks.h"

namespace caig {
namespace {

// ControlNetConditioningEmbedding: conv_in + SiLU, then per level a 3x3 conv and a stride-2
// 3x3 conv (each + SiLU), then the zero conv_out to block_out_channels[0].
struct CondEmbedding : torch::nn::Module {
  CondEmbedding(int64_t inChannels, const std::vector<int64_t>& ch, int64_t outChannels) {
    conv_in = register_module("conv_in", unet::conv(inChannels, ch.front(), 3, 1, 1));
    for (std::size_t i = 0; i + 1 < ch.size(); ++i) {
      blocks->push_back(unet::conv(ch[i], ch[i], 3, 1, 1));
      blocks->push_back(unet::conv(ch[i], ch[i + 1], 3, 2, 1));
    }
    register_module("blocks", blocks);
    conv_out = register_module("conv_out", unet::conv(ch.back(), outChannels, 3, 1, 1));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = at::silu(conv_in->forward(x));
    for (std::size_t i = 0; i < blocks->size(); ++i) h = at::silu(blocks->ptr<torch::nn::Conv2dImpl>(i)->forward(h));
    return conv_out->forward(h);
  }
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::ModuleList blocks;
};

struct ControlNetNet : torch::nn::Module {
  explicit ControlNetNet(const ControlNetConfig& cc) {
    const UNet2DConfig& c = cc.unet;
    const auto& ch = c.blockOutChannels;
    conv_in = register_module("conv_in", unet::conv(c.inChannels, ch.front(), 3, 1, 1));
    controlnet_cond_embedding = register_module(
        "controlnet_cond_embedding",
        std::make_shared<CondEmbedding>(cc.conditioningChannels, cc.conditioningEmbeddingOutChannels, ch.front()));
    encoder.build(*this, c);
    // One zero conv per skip connection: conv_in's output, each layer, each downsampler.
    controlnet_down_blocks->push_back(unet::conv(ch.front(), ch.front(), 1));
    for (std::size_t i = 0; i < ch.size(); ++i) {
      for (int64_t l = 0; l < c.layersPerBlock; ++l) controlnet_down_blocks->push_back(unet::conv(ch[i], ch[i], 1));
      if (i + 1 < ch.size()) controlnet_down_blocks->push_back(unet::conv(ch[i], ch[i], 1));
    }
    register_module("controlnet_down_blocks", controlnet_down_blocks);
    controlnet_mid_block = register_module("controlnet_mid_block", unet::conv(ch.back(), ch.back(), 1));
  }
  torch::nn::Conv2d conv_in{nullptr}, controlnet_mid_block{nullptr};
  std::shared_ptr<CondEmbedding> controlnet_cond_embedding;
  unet::Encoder encoder;
  torch::nn::ModuleList controlnet_down_blocks;
};

}  // namespace

ControlNetConfig readControlNetConfig(const std::filesystem::path& dir) {
  const auto j = unet::readClassConfig(dir, "ControlNetModel");
  const std::string what = "'" + (dir / "config.json").string() + "'";
  ControlNetConfig c;
  c.unet = unet::coreConfigFromJson(j, what);
  c.unet.upBlockTypes.clear();
  try {
    c.conditioningChannels = j.value("conditioning_channels", c.conditioningChannels);
    if (j.contains("conditioning_embedding_out_channels") && !j.at("conditioning_embedding_out_channels").is_null())
      c.conditioningEmbeddingOutChannels = j.at("conditioning_embedding_out_channels").get<std::vector<int64_t>>();
    const std::string order = j.value("controlnet_conditioning_channel_order", std::string("rgb"));
    if (order != "rgb" && order != "bgr")
      throw io::FormatError(what + ": controlnet_conditioning_channel_order \"" + order + "\" is not rgb or bgr");
    c.bgrConditioning = order == "bgr";
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(what + ": " + e.what());
  }
  if (c.conditioningChannels < 1 || c.conditioningEmbeddingOutChannels.empty())
    throw io::FormatError(what + ": conditioning sizes out of range");
  for (const int64_t v : c.conditioningEmbeddingOutChannels)
    if (v < 1) throw io::FormatError(what + ": conditioning_embedding_out_channels must be positive");
  return c;
}

struct ControlNetModel::Impl {
  ControlNetConfig config;
  std::shared_ptr<ControlNetNet> net;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;
};

ControlNetModel::ControlNetModel(const ControlNetConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<ControlNetNet>(config);
  impl_->net->eval();
}
ControlNetModel::~ControlNetModel() = default;
ControlNetModel::ControlNetModel(ControlNetModel&&) noexcept = default;
ControlNetModel& ControlNetModel::operator=(ControlNetModel&&) noexcept = default;

ControlNetModel ControlNetModel::load(const std::filesystem::path& dir, c10::Device device, c10::ScalarType dtype) {
  const ControlNetConfig config = readControlNetConfig(dir);
  {  // the config's sizes against the weights, before anything is allocated
    const auto checkpoint = io::Checkpoint::open(unet::findDiffusersWeights(dir));
    const std::string configName = "'" + (dir / "config.json").string() + "'";
    unet::checkCoreConfig(config.unet, checkpoint, configName);
    const io::ConfigCheck check(checkpoint, configName);
    const auto& ch = config.conditioningEmbeddingOutChannels;
    if (ch.empty()) check.fail("conditioning_embedding_out_channels is empty");
    const std::string e = "controlnet_cond_embedding.";
    check.shape(e + "conv_in.weight", {ch[0], config.conditioningChannels, 3, 3},
                "conditioning_channels and conditioning_embedding_out_channels[0]");
    check.count(e + "blocks.", ".weight", static_cast<int64_t>(2 * (ch.size() - 1)),
                "the length of conditioning_embedding_out_channels");
    for (std::size_t i = 0; i + 1 < ch.size(); ++i) {
      check.shape(e + "blocks." + std::to_string(2 * i + 1) + ".weight", {ch[i + 1], ch[i], 3, 3},
                  "conditioning_embedding_out_channels[" + std::to_string(i + 1) + "]");
    }
    check.shape(e + "conv_out.weight", {config.unet.blockOutChannels.front(), ch.back(), 3, 3},
                "conditioning_embedding_out_channels and block_out_channels[0]");
  }
  ControlNetModel model(config);
  unet::loadFolderWeights(*model.impl_->net, dir, "ControlNetModel");
  model.to(device, dtype);
  return model;
}

void ControlNetModel::loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming,
                                  const std::string& what) {
  loadModuleWeights(*impl_->net, checkpoint, what, naming);
}

const ControlNetConfig& ControlNetModel::config() const {
  return impl_->config;
}
std::vector<std::pair<std::string, at::Tensor>> ControlNetModel::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : impl_->net->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}
void ControlNetModel::to(c10::Device device, c10::ScalarType dtype) {
  impl_->net->to(device, dtype);
  impl_->device = device;
  impl_->dtype = dtype;
}
c10::Device ControlNetModel::device() const {
  return impl_->device;
}
c10::ScalarType ControlNetModel::dtype() const {
  return impl_->dtype;
}

ControlNetResiduals ControlNetModel::forward(const at::Tensor& sample, const at::Tensor& timesteps,
                                             const at::Tensor& encoderHiddenStates, const at::Tensor& controlCond,
                                             double conditioningScale) const {
  c10::InferenceMode guard;
  const auto& cc = impl_->config;
  const auto& c = cc.unet;
  auto& net = *impl_->net;
  if (!sample.defined() || sample.dim() != 4 || sample.size(1) != c.inChannels)
    throw std::invalid_argument("ControlNet: sample must be [B, " + std::to_string(c.inChannels) + ", h, w]");
  const int64_t B = sample.size(0);
  if (!encoderHiddenStates.defined() || encoderHiddenStates.dim() != 3 || encoderHiddenStates.size(0) != B ||
      encoderHiddenStates.size(2) != c.crossAttentionDim)
    throw std::invalid_argument("ControlNet: encoder hidden states must be [B, T, " +
                                std::to_string(c.crossAttentionDim) + "] with the sample's batch");
  const int64_t down = int64_t{1} << (cc.conditioningEmbeddingOutChannels.size() - 1);
  if (!controlCond.defined() || controlCond.dim() != 4 || controlCond.size(0) != B ||
      controlCond.size(1) != cc.conditioningChannels || controlCond.size(2) != sample.size(2) * down ||
      controlCond.size(3) != sample.size(3) * down)
    throw std::invalid_argument("ControlNet: control image must be [B, " + std::to_string(cc.conditioningChannels) +
                                ", " + std::to_string(down) + "h, " + std::to_string(down) + "w]");
  const auto opts = at::TensorOptions().device(impl_->device).dtype(impl_->dtype);
  const at::Tensor context = encoderHiddenStates.to(opts);
  at::Tensor cond = controlCond.to(opts);
  if (cc.bgrConditioning) cond = cond.flip({1});
  const at::Tensor temb = net.encoder.timeEmbedding(c, unet::batchTimesteps(timesteps, B, impl_->device), impl_->dtype);

  at::Tensor h = net.conv_in->forward(sample.to(opts)) + net.controlnet_cond_embedding->forward(cond);
  std::vector<at::Tensor> skips{h};
  for (std::size_t i = 0; i < net.encoder.down_blocks->size(); ++i)
    h = net.encoder.down_blocks->ptr<unet::DownBlock>(i)->forward(h, temb, context, skips);
  h = net.encoder.mid_block->forward(h, temb, context);

  ControlNetResiduals out;
  for (std::size_t i = 0; i < skips.size(); ++i)
    out.down.push_back(net.controlnet_down_blocks->ptr<torch::nn::Conv2dImpl>(i)->forward(skips[i]) *
                       conditioningScale);
  out.mid = net.controlnet_mid_block->forward(h) * conditioningScale;
  return out;
}

}  // namespace caig
