#include "models/isnet.h"

#include <ATen/Functions.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/nn/load_weights.h"

namespace caig {
namespace {

// Bilinear, align_corners=False: the reference's F.upsample(src, size=tar.shape[2:]).
at::Tensor upsampleLike(const at::Tensor& src, const at::Tensor& tar) {
  if (src.size(2) == tar.size(2) && src.size(3) == tar.size(3)) return src;
  return at::upsample_bilinear2d(src, {tar.size(2), tar.size(3)}, false);
}

at::Tensor pool(const at::Tensor& x) { return at::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1}, /*ceil_mode=*/true); }

// REBNCONV: 3x3 conv (dilated) -> [BatchNorm] -> ReLU.
struct ReBnConv : torch::nn::Module {
  ReBnConv(int in, int out, int dilation, bool batchNorm)
      : conv(register_module("conv_s1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3)
                                                                .padding(dilation)
                                                                .dilation(dilation)))) {
    if (batchNorm) bn = register_module("bn_s1", torch::nn::BatchNorm2d(out));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = conv->forward(x);
    if (bn) y = bn->forward(y);
    return at::relu_(y);
  }
  torch::nn::Conv2d conv;
  torch::nn::BatchNorm2d bn{nullptr};
};

// RSU-L (L = 7, 6, 5, 4): an L-level U-Net inside one block, max-pooled between encoder
// levels, a dilation-2 bottom, concatenation skips, and a residual over the input conv.
// RSU-4F: the same four levels without pooling, dilations 1, 2, 4, 8 instead.
struct Rsu : torch::nn::Module {
  Rsu(int height, bool dilated, int in, int mid, int out, bool bn) : height_(height), dilated_(dilated) {
    auto add = [&](const std::string& name, int i, int o, int d) {
      return register_module(name, std::make_shared<ReBnConv>(i, o, d, bn));
    };
    in_ = add("rebnconvin", in, out, 1);
    for (int i = 1; i <= height; ++i) enc_.push_back(add("rebnconv" + std::to_string(i), i == 1 ? out : mid, mid, dilationOf(i)));
    for (int i = height - 1; i >= 1; --i)
      dec_.push_back(add("rebnconv" + std::to_string(i) + "d", 2 * mid, i == 1 ? out : mid, dilationOf(i)));
  }
  int dilationOf(int level) const {
    if (dilated_) return 1 << (level - 1);  // 1, 2, 4, 8
    return level == height_ ? 2 : 1;
  }
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor hxin = in_->forward(x);
    std::vector<at::Tensor> h;  // h[i] = output of encoder level i+1
    h.push_back(enc_[0]->forward(hxin));
    for (int i = 1; i < height_; ++i) {
      const bool pooled = !dilated_ && i < height_ - 1;
      h.push_back(enc_[i]->forward(pooled ? pool(h.back()) : h.back()));
    }
    at::Tensor d = dec_[0]->forward(at::cat({h[height_ - 1], h[height_ - 2]}, 1));
    for (int i = height_ - 3, k = 1; i >= 0; --i, ++k) d = dec_[k]->forward(at::cat({upsampleLike(d, h[i]), h[i]}, 1));
    return d + hxin;
  }
  int height_;
  bool dilated_;
  std::shared_ptr<ReBnConv> in_;
  std::vector<std::shared_ptr<ReBnConv>> enc_, dec_;
};

struct IsnetNet : torch::nn::Module {
  explicit IsnetNet(const IsnetConfig& c) {
    const bool bn = c.batchNorm;
    convIn = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(c.inChannels, 64, 3).stride(2).padding(1)));
    // (height, dilated, in, mid, out) of the reference ISNetDIS, encoder then decoder.
    const struct { const char* name; int height; bool dilated; int in, mid, out; } stages[] = {
        {"stage1", 7, false, 64, 32, 64},     {"stage2", 6, false, 64, 32, 128},   {"stage3", 5, false, 128, 64, 256},
        {"stage4", 4, false, 256, 128, 512},  {"stage5", 4, true, 512, 256, 512},  {"stage6", 4, true, 512, 256, 512},
        {"stage5d", 4, true, 1024, 256, 512}, {"stage4d", 4, false, 1024, 128, 256}, {"stage3d", 5, false, 512, 64, 128},
        {"stage2d", 6, false, 256, 32, 64},   {"stage1d", 7, false, 128, 16, 64},
    };
    for (const auto& s : stages)
      stage.push_back(register_module(s.name, std::make_shared<Rsu>(s.height, s.dilated, s.in, s.mid, s.out, bn)));
    const int sideIn[] = {64, 64, 128, 256, 512, 512};
    for (int i = 0; i < 6; ++i)
      side.push_back(register_module("side" + std::to_string(i + 1),
                                     torch::nn::Conv2d(torch::nn::Conv2dOptions(sideIn[i], c.outChannels, 3).padding(1))));
  }

  // Only the first side output is the mask; side2..6 (deep supervision in training) are skipped.
  at::Tensor forward(const at::Tensor& x) {
    std::vector<at::Tensor> enc;  // hx1..hx6
    at::Tensor hx = convIn->forward(x);
    for (int i = 0; i < 6; ++i) {
      hx = stage[i]->forward(i == 0 ? hx : pool(enc.back()));
      enc.push_back(hx);
    }
    at::Tensor d = enc[5];
    for (int i = 4, k = 6; i >= 0; --i, ++k) d = stage[k]->forward(at::cat({upsampleLike(d, enc[i]), enc[i]}, 1));
    return at::sigmoid(upsampleLike(side[0]->forward(d), x));
  }

  torch::nn::Conv2d convIn{nullptr};
  std::vector<std::shared_ptr<Rsu>> stage;
  std::vector<torch::nn::Conv2d> side;
};

}  // namespace

struct IsnetModel::Impl {
  IsnetConfig config;
  std::shared_ptr<IsnetNet> net;
  c10::Device device{c10::kCPU};
};

IsnetConfig readIsnetConfig(const std::filesystem::path& modelDir) {
  const auto path = modelDir / "config.json";
  const auto j = io::readJsonFile(path);
  try {
    if (j.value("model_type", std::string()) != "isnet")
      throw io::FormatError(path.string() + ": model_type is not \"isnet\"");
    IsnetConfig c;
    c.inChannels = j.value("in_channels", c.inChannels);
    c.outChannels = j.value("out_channels", c.outChannels);
    c.batchNorm = j.value("batch_norm", c.batchNorm);
    c.inputSize = j.value("input_size", c.inputSize);
    c.inputMean = j.value("input_mean", c.inputMean);
    c.inputScale = j.value("input_scale", c.inputScale);
    if (c.inChannels < 1 || c.outChannels < 1 || c.inputSize < 32 || c.inputSize % 32)
      throw io::FormatError(path.string() + ": channels or input_size out of range");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(path.string() + ": " + e.what());
  }
}

IsnetModel::IsnetModel(const IsnetConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<IsnetNet>(config);
  impl_->net->eval();
}
IsnetModel::~IsnetModel() = default;
IsnetModel::IsnetModel(IsnetModel&&) noexcept = default;
IsnetModel& IsnetModel::operator=(IsnetModel&&) noexcept = default;

IsnetModel IsnetModel::load(const std::filesystem::path& modelDir, c10::Device device) {
  IsnetModel model(readIsnetConfig(modelDir));
  model.loadWeights(io::Checkpoint::open(modelDir / "isnet.safetensors"));
  model.to(device);
  return model;
}

const IsnetConfig& IsnetModel::config() const { return impl_->config; }

std::vector<std::pair<std::string, std::vector<int64_t>>> IsnetModel::expectedTensors() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : impl_->net->named_buffers(true)) out.emplace_back(b.key(), b.value().sizes().vec());
  return out;
}

void IsnetModel::loadWeights(const io::Checkpoint& checkpoint) { loadModuleWeights(*impl_->net, checkpoint, "ISNet"); }

void IsnetModel::to(c10::Device device) {
  impl_->net->to(device);
  impl_->device = device;
  // Channels-last convolution weights: oneDNN's fast path on CPU (~1.6x per 3x3 conv here),
  // and tensor cores' preferred layout on CUDA.
  for (auto& p : impl_->net->parameters(true)) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

c10::Device IsnetModel::device() const { return impl_->device; }

at::Tensor IsnetModel::forward(const at::Tensor& input) const {
  const auto& c = impl_->config;
  if (input.dim() != 4 || input.size(1) != c.inChannels || input.size(2) % 32 || input.size(3) % 32 ||
      input.size(2) == 0 || input.size(3) == 0)
    throw std::invalid_argument("ISNet input must be [N, " + std::to_string(c.inChannels) +
                                ", H, W] with H and W positive multiples of 32");
  c10::InferenceMode guard;
  const at::Tensor x = input.to(impl_->device, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast);
  return impl_->net->forward(x).contiguous();
}

}  // namespace caig
