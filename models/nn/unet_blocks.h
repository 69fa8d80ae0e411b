#pragma once
// Internal to caig_models: the building blocks diffusers' UNet2DConditionModel and
// ControlNetModel share (diffusers 0.27 semantics). Module names are diffusers' own
// (resnets.N.norm1, attentions.N.transformer_blocks.M.attn2.to_q, downsamplers.0.conv, ...), so
// they are the checkpoint keys. Includes LibTorch's module headers: not for public headers.

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/unet2d.h"

namespace caig::io {
class Checkpoint;
}  // namespace caig::io

namespace caig::unet {

// The fields UNet and ControlNet configs share (everything but the up path and the output
// head). `what` names the config in messages; io::FormatError for anything unsupported.
UNet2DConfig coreConfigFromJson(const nlohmann::json& j, const std::string& what);
// Throws io::FormatError unless the folder's config.json names `className`.
nlohmann::json readClassConfig(const std::filesystem::path& dir, const std::string& className);
// diffusers' weights file of a folder: full precision, else the fp16 variant.
std::filesystem::path findDiffusersWeights(const std::filesystem::path& dir);

// Refuses, before the model is built, a config whose channel counts, block count, layers per
// block or cross-attention width the folder's weights do not have (a hostile "block_out_channels":
// [1e9] would allocate first and crash): io::FormatError naming the file and the field.
void checkCoreConfig(const UNet2DConfig& config, const io::Checkpoint& checkpoint, const std::string& configName);

// get_timestep_embedding: timesteps [B] (any numeric dtype) -> [B, dim] fp32, with fractional
// timesteps allowed (Euler samplers use them).
at::Tensor timestepProjection(const at::Tensor& timesteps, int64_t dim, bool flipSinToCos, double freqShift);
// timesteps as [B] on `device`: a 0-dim or 1-element tensor is broadcast to `batch`.
at::Tensor batchTimesteps(const at::Tensor& timesteps, int64_t batch, c10::Device device);

// Softmax attention over q [B, H, N, d], k/v [B, H, S, d], scale 1/sqrt(d).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0);

struct TimestepEmbedding : torch::nn::Module {
  TimestepEmbedding(int64_t in, int64_t dim);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};

struct ResnetBlock2D : torch::nn::Module {
  ResnetBlock2D(int64_t in, int64_t out, int64_t tembChannels, int64_t groups, double eps, double outputScale = 1.0);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb);
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
  double outputScale;
};

struct Attention : torch::nn::Module {
  Attention(int64_t queryDim, int64_t contextDim, int64_t heads, int64_t headDim);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);  // context undefined: self-attention
  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::ModuleList to_out;  // [Linear, Dropout]: only .0 has weights
  int64_t heads;
};

struct Geglu : torch::nn::Module {  // proj to 2 x inner; first half * gelu(second half)
  Geglu(int64_t dim, int64_t inner);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Linear proj{nullptr};
};

struct GegluFeedForward : torch::nn::Module {
  GegluFeedForward(int64_t dim, int64_t inner);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList net;  // [GEGLU (proj), Dropout, Linear]
};

struct BasicTransformerBlock : torch::nn::Module {
  BasicTransformerBlock(int64_t dim, int64_t heads, int64_t headDim, int64_t contextDim);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  std::shared_ptr<Attention> attn1, attn2;
  std::shared_ptr<GegluFeedForward> ff;
};

struct Transformer2DModel : torch::nn::Module {
  Transformer2DModel(int64_t channels, int64_t heads, int64_t layers, int64_t contextDim, int64_t groups,
                     bool linearProjection);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context);
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  torch::nn::Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  torch::nn::ModuleList transformer_blocks;
};

struct Downsample2D : torch::nn::Module {
  Downsample2D(int64_t channels, int64_t padding);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  int64_t padding;
};

struct Upsample2D : torch::nn::Module {
  explicit Upsample2D(int64_t channels);
  // Nearest-neighbour to `size` (the matching skip's size, which is 2x except after odd sizes).
  at::Tensor forward(const at::Tensor& x, c10::IntArrayRef size);
  torch::nn::Conv2d conv{nullptr};
};

// CrossAttnDownBlock2D (withAttention) or DownBlock2D.
struct DownBlock : torch::nn::Module {
  DownBlock(const UNet2DConfig& c, std::size_t index, int64_t in, int64_t out, bool withAttention, bool downsample);
  // Appends each layer's output (and the downsampler's) to `skips`.
  at::Tensor forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context, std::vector<at::Tensor>& skips);
  torch::nn::ModuleList resnets, attentions, downsamplers;
  bool withAttention;
};

struct MidBlockCrossAttn : torch::nn::Module {
  MidBlockCrossAttn(const UNet2DConfig& c, int64_t channels);
  at::Tensor forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context);
  torch::nn::ModuleList resnets, attentions;
};

// CrossAttnUpBlock2D (withAttention) or UpBlock2D.
struct UpBlock : torch::nn::Module {
  UpBlock(const UNet2DConfig& c, std::size_t reversedIndex, int64_t in, int64_t prevOut, int64_t out,
          bool withAttention, bool upsample);
  // Pops one skip per layer from the back of `skips`; upsamples to the size of the next skip.
  at::Tensor forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context, std::vector<at::Tensor>& skips);
  torch::nn::ModuleList resnets, attentions, upsamplers;
  bool withAttention;
};

// conv_in, time embedding and down blocks + mid block, as UNet and ControlNet both build them.
struct Encoder {
  std::shared_ptr<TimestepEmbedding> time_embedding;
  torch::nn::ModuleList down_blocks;
  std::shared_ptr<MidBlockCrossAttn> mid_block;
  // Registers time_embedding, down_blocks and mid_block on `owner`.
  void build(torch::nn::Module& owner, const UNet2DConfig& c);
  // Time embedding [B, timeEmbedDim] in `dtype` from [B] timesteps.
  at::Tensor timeEmbedding(const UNet2DConfig& c, const at::Tensor& timesteps, c10::ScalarType dtype) const;
};

// Reads the checkpoint of `dir` into `module` (what names the model in messages).
void loadFolderWeights(torch::nn::Module& module, const std::filesystem::path& dir, const std::string& what);

}  // namespace caig::unet
