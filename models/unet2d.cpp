#include "models/unet2d.h"

#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "models/io/errors.h"
#include "models/io/checkpoint.h"
#include "models/nn/unet_blocks.h"

namespace caig {
namespace {

struct UNetNet : torch::nn::Module {
  explicit UNetNet(const UNet2DConfig& c) {
    const auto& ch = c.blockOutChannels;
    conv_in = register_module("conv_in", unet::conv(c.inChannels, ch.front(), 3, 1, 1));
    encoder.build(*this, c);
    const std::size_t n = ch.size();
    int64_t out = ch.back();
    for (std::size_t r = 0; r < n; ++r) {
      const int64_t prevOut = out;
      out = ch[n - 1 - r];
      const int64_t in = ch[n - 1 - std::min(r + 1, n - 1)];
      up_blocks->push_back(std::make_shared<unet::UpBlock>(c, r, in, prevOut, out,
                                                           c.upBlockTypes[r] == "CrossAttnUpBlock2D", r + 1 < n));
    }
    register_module("up_blocks", up_blocks);
    conv_norm_out = register_module(
        "conv_norm_out", torch::nn::GroupNorm(torch::nn::GroupNormOptions(c.normNumGroups, ch.front()).eps(c.normEps)));
    conv_out = register_module("conv_out", unet::conv(ch.front(), c.outChannels, 3, 1, 1));
  }
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  unet::Encoder encoder;
  torch::nn::ModuleList up_blocks;
  torch::nn::GroupNorm conv_norm_out{nullptr};
};

}  // namespace

UNet2DConfig unet2DConfigFromJson(const nlohmann::json& j, const std::string& what) {
  UNet2DConfig c = unet::coreConfigFromJson(j, what);
  try {
    if (j.contains("up_block_types")) c.upBlockTypes = j.at("up_block_types").get<std::vector<std::string>>();
    if (c.upBlockTypes.size() != c.blockOutChannels.size())
      throw io::FormatError(what + ": up_block_types must have as many entries as down_block_types");
    for (const auto& t : c.upBlockTypes)
      if (t != "CrossAttnUpBlock2D" && t != "UpBlock2D")
        throw io::FormatError(what + ": up block type \"" + t + "\" is not supported (CrossAttnUpBlock2D, UpBlock2D)");
    c.outChannels = j.value("out_channels", c.outChannels);
    if (c.outChannels < 1) throw io::FormatError(what + ": out_channels out of range");
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(what + ": " + e.what());
  }
  return c;
}

UNet2DConfig readUNet2DConfig(const std::filesystem::path& dir) {
  const auto j = unet::readClassConfig(dir, "UNet2DConditionModel");
  return unet2DConfigFromJson(j, "'" + (dir / "config.json").string() + "'");
}

struct UNet2DConditionModel::Impl {
  UNet2DConfig config;
  std::shared_ptr<UNetNet> net;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;
};

UNet2DConditionModel::UNet2DConditionModel(const UNet2DConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<UNetNet>(config);
  impl_->net->eval();
}
UNet2DConditionModel::~UNet2DConditionModel() = default;
UNet2DConditionModel::UNet2DConditionModel(UNet2DConditionModel&&) noexcept = default;
UNet2DConditionModel& UNet2DConditionModel::operator=(UNet2DConditionModel&&) noexcept = default;

UNet2DConditionModel UNet2DConditionModel::load(const std::filesystem::path& dir, c10::Device device,
                                                c10::ScalarType dtype) {
  const UNet2DConfig config = readUNet2DConfig(dir);
  {  // the config's sizes against the weights, before anything is allocated
    const auto checkpoint = io::Checkpoint::open(unet::findDiffusersWeights(dir));
    const std::string configName = "'" + (dir / "config.json").string() + "'";
    unet::checkCoreConfig(config, checkpoint, configName);
    io::ConfigCheck(checkpoint, configName)
        .shape("conv_out.weight", {config.outChannels, config.blockOutChannels.front(), 3, 3},
               "out_channels and block_out_channels[0]");
  }
  UNet2DConditionModel model(config);
  unet::loadFolderWeights(*model.impl_->net, dir, "UNet2DConditionModel");
  model.to(device, dtype);
  return model;
}

void UNet2DConditionModel::loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming,
                                       const std::string& what) {
  loadModuleWeights(*impl_->net, checkpoint, what, naming);
}

const UNet2DConfig& UNet2DConditionModel::config() const {
  return impl_->config;
}

void UNet2DConditionModel::to(c10::Device device, c10::ScalarType dtype) {
  impl_->net->to(device, dtype);
  impl_->device = device;
  impl_->dtype = dtype;
}
c10::Device UNet2DConditionModel::device() const {
  return impl_->device;
}
c10::ScalarType UNet2DConditionModel::dtype() const {
  return impl_->dtype;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> UNet2DConditionModel::expectedTensors() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value().sizes().vec());
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> UNet2DConditionModel::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

at::Tensor UNet2DConditionModel::forward(const at::Tensor& sample, const at::Tensor& timesteps,
                                         const at::Tensor& encoderHiddenStates,
                                         const std::vector<at::Tensor>* downResiduals,
                                         const at::Tensor* midResidual) const {
  c10::InferenceMode guard;
  const auto& c = impl_->config;
  auto& net = *impl_->net;
  if (!sample.defined() || sample.dim() != 4 || sample.size(1) != c.inChannels)
    throw std::invalid_argument("UNet: sample must be [B, " + std::to_string(c.inChannels) + ", h, w]");
  const int64_t B = sample.size(0);
  if (!encoderHiddenStates.defined() || encoderHiddenStates.dim() != 3 || encoderHiddenStates.size(0) != B ||
      encoderHiddenStates.size(2) != c.crossAttentionDim)
    throw std::invalid_argument("UNet: encoder hidden states must be [B, T, " + std::to_string(c.crossAttentionDim) +
                                "] with the sample's batch");
  const auto opts = at::TensorOptions().device(impl_->device).dtype(impl_->dtype);
  const at::Tensor x = sample.to(opts);
  const at::Tensor context = encoderHiddenStates.to(opts);
  const at::Tensor temb = net.encoder.timeEmbedding(c, unet::batchTimesteps(timesteps, B, impl_->device), impl_->dtype);

  at::Tensor h = net.conv_in->forward(x);
  std::vector<at::Tensor> skips{h};
  for (std::size_t i = 0; i < net.encoder.down_blocks->size(); ++i)
    h = net.encoder.down_blocks->ptr<unet::DownBlock>(i)->forward(h, temb, context, skips);
  if (downResiduals) {
    if (downResiduals->size() != skips.size())
      throw std::invalid_argument("UNet: " + std::to_string(downResiduals->size()) + " ControlNet down residuals for " +
                                  std::to_string(skips.size()) + " skip connections");
    for (std::size_t i = 0; i < skips.size(); ++i) {
      const at::Tensor& r = (*downResiduals)[i];
      if (!r.defined() || r.sizes() != skips[i].sizes())
        throw std::invalid_argument("UNet: ControlNet down residual " + std::to_string(i) +
                                    " does not match its skip connection's shape");
      skips[i] = skips[i] + r.to(opts);
    }
  }
  h = net.encoder.mid_block->forward(h, temb, context);
  if (midResidual && midResidual->defined()) {
    if (midResidual->sizes() != h.sizes())
      throw std::invalid_argument("UNet: ControlNet mid residual does not match the mid block's shape");
    h = h + midResidual->to(opts);
  }
  for (std::size_t i = 0; i < net.up_blocks->size(); ++i)
    h = net.up_blocks->ptr<unet::UpBlock>(i)->forward(h, temb, context, skips);
  return net.conv_out->forward(at::silu(net.conv_norm_out->forward(h)));
}

}  // namespace caig
