#include "models/nn/unet_blocks.h"

#include <ATen/Functions.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/model_folder.h"
#include "models/nn/load_weights.h"

namespace caig::unet {
namespace {

using nlohmann::json;

bool isNull(const json& j, const char* field) {
  return !j.contains(field) || j.at(field).is_null();
}

// A field that must be absent, null or the one value this implementation supports.
void requireDefault(const json& j, const char* field, const json& supported, const std::string& what) {
  if (isNull(j, field) || j.at(field) == supported) return;
  throw io::FormatError(what + ": " + field + " = " + j.at(field).dump() + " is not supported (only " +
                        (supported.is_null() ? std::string("null") : supported.dump()) + ")");
}

// An int or a per-block list, expanded to `blocks` entries.
std::vector<int64_t> perBlock(const json& value, std::size_t blocks, const char* field, const std::string& what) {
  std::vector<int64_t> out;
  if (value.is_number_integer()) {
    out.assign(blocks, value.get<int64_t>());
  } else if (value.is_array()) {
    out = value.get<std::vector<int64_t>>();
    if (out.size() != blocks)
      throw io::FormatError(what + ": " + field + " has " + std::to_string(out.size()) + " entries for " +
                            std::to_string(blocks) + " down blocks");
  } else {
    throw io::FormatError(what + ": " + field + " must be an integer or a list of integers");
  }
  for (const int64_t v : out)
    if (v < 1) throw io::FormatError(what + ": " + field + " must be positive");
  return out;
}

torch::nn::Linear linear(int64_t in, int64_t out, bool bias = true) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}
torch::nn::GroupNorm groupNorm(int64_t groups, int64_t channels, double eps) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps).affine(true));
}
torch::nn::LayerNorm layerNorm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5).elementwise_affine(true));
}

// Parameterless placeholder keeping diffusers' list indices (to_out.1, ff.net.1 are Dropouts).
struct Placeholder : torch::nn::Module {};

}  // namespace

// ---- configuration -------------------------------------------------------------------------

UNet2DConfig coreConfigFromJson(const json& j, const std::string& what) {
  try {
    if (!j.is_object()) throw io::FormatError(what + " is not a JSON object");
    requireDefault(j, "class_embed_type", nullptr, what);
    requireDefault(j, "addition_embed_type", nullptr, what);
    requireDefault(j, "num_class_embeds", nullptr, what);
    requireDefault(j, "encoder_hid_dim_type", nullptr, what);
    requireDefault(j, "time_cond_proj_dim", nullptr, what);
    requireDefault(j, "time_embedding_dim", nullptr, what);
    requireDefault(j, "timestep_post_act", nullptr, what);
    requireDefault(j, "time_embedding_act_fn", nullptr, what);
    requireDefault(j, "cross_attention_norm", nullptr, what);
    requireDefault(j, "reverse_transformer_layers_per_block", nullptr, what);
    requireDefault(j, "resnet_time_scale_shift", "default", what);
    requireDefault(j, "act_fn", "silu", what);
    requireDefault(j, "time_embedding_type", "positional", what);
    requireDefault(j, "attention_type", "default", what);
    requireDefault(j, "dual_cross_attention", false, what);
    requireDefault(j, "center_input_sample", false, what);
    requireDefault(j, "conv_in_kernel", 3, what);
    requireDefault(j, "conv_out_kernel", 3, what);
    requireDefault(j, "mid_block_type", "UNetMidBlock2DCrossAttn", what);
    requireDefault(j, "global_pool_conditions", false, what);
    if (!isNull(j, "only_cross_attention")) {
      const json& o = j.at("only_cross_attention");
      const bool any =
          o.is_boolean() ? o.get<bool>() : o.is_array() && std::any_of(o.begin(), o.end(), [](const json& v) {
                                             return v.is_boolean() && v.get<bool>();
                                           });
      if (any) throw io::FormatError(what + ": only_cross_attention true is not supported");
    }

    UNet2DConfig c;
    if (j.contains("block_out_channels")) c.blockOutChannels = j.at("block_out_channels").get<std::vector<int64_t>>();
    if (j.contains("down_block_types")) c.downBlockTypes = j.at("down_block_types").get<std::vector<std::string>>();
    const std::size_t n = c.blockOutChannels.size();
    if (n == 0 || c.downBlockTypes.size() != n)
      throw io::FormatError(what + ": block_out_channels and down_block_types must have the same, non-zero length");
    for (const auto& t : c.downBlockTypes)
      if (t != "CrossAttnDownBlock2D" && t != "DownBlock2D")
        throw io::FormatError(what + ": down block type \"" + t +
                              "\" is not supported (CrossAttnDownBlock2D, DownBlock2D)");
    c.midBlockType = j.value("mid_block_type", c.midBlockType);
    c.inChannels = j.value("in_channels", c.inChannels);
    c.layersPerBlock = j.value("layers_per_block", c.layersPerBlock);
    c.normNumGroups = j.value("norm_num_groups", c.normNumGroups);
    c.normEps = j.value("norm_eps", c.normEps);
    c.useLinearProjection = j.value("use_linear_projection", c.useLinearProjection);
    c.upcastAttention = j.value("upcast_attention", c.upcastAttention);
    c.flipSinToCos = j.value("flip_sin_to_cos", c.flipSinToCos);
    c.freqShift = j.value("freq_shift", c.freqShift);
    c.downsamplePadding = j.value("downsample_padding", c.downsamplePadding);
    c.midBlockScaleFactor = j.value("mid_block_scale_factor", c.midBlockScaleFactor);
    if (!isNull(j, "sample_size") && j.at("sample_size").is_number_integer()) c.sampleSize = j.at("sample_size");
    if (!isNull(j, "cross_attention_dim")) {
      if (!j.at("cross_attention_dim").is_number_integer())
        throw io::FormatError(what + ": a per-block cross_attention_dim is not supported");
      c.crossAttentionDim = j.at("cross_attention_dim").get<int64_t>();
    }
    // diffusers: num_attention_heads = num_attention_heads or attention_head_dim.
    const json heads = !isNull(j, "num_attention_heads")  ? j.at("num_attention_heads")
                       : !isNull(j, "attention_head_dim") ? j.at("attention_head_dim")
                                                          : json(8);
    c.numAttentionHeads = perBlock(heads, n, "num_attention_heads", what);
    c.transformerLayersPerBlock =
        perBlock(isNull(j, "transformer_layers_per_block") ? json(1) : j.at("transformer_layers_per_block"), n,
                 "transformer_layers_per_block", what);

    if (c.inChannels < 1 || c.layersPerBlock < 1 || c.normNumGroups < 1 || c.crossAttentionDim < 1 ||
        !(c.normEps > 0) || c.downsamplePadding < 0 || !(c.midBlockScaleFactor > 0))
      throw io::FormatError(what + ": sizes out of range");
    for (std::size_t i = 0; i < n; ++i) {
      const int64_t ch = c.blockOutChannels[i];
      if (ch < 1 || ch % c.normNumGroups)
        throw io::FormatError(what + ": block_out_channels " + std::to_string(ch) +
                              " is not a positive multiple of norm_num_groups " + std::to_string(c.normNumGroups));
      if (c.numAttentionHeads[i] < 1) throw io::FormatError(what + ": attention heads must be positive");
      if (ch % c.numAttentionHeads[i])
        throw io::FormatError(what + ": block_out_channels " + std::to_string(ch) + " is not a multiple of " +
                              std::to_string(c.numAttentionHeads[i]) + " attention heads");
    }
    if (c.blockOutChannels.front() % 2)
      throw io::FormatError(what + ": block_out_channels[0] must be even (timestep embedding)");
    return c;
  } catch (const json::exception& e) {
    throw io::FormatError(what + ": " + e.what());
  }
}

json readClassConfig(const std::filesystem::path& dir, const std::string& className) {
  const auto folder = io::ModelFolder::open(dir);
  const std::string name = folder.className();
  if (folder.kind() == io::FolderKind::DiffusersPipeline)
    throw io::FormatError("'" + dir.string() + "' is a diffusers pipeline, not a " + className +
                          " folder (pass its subfolder)");
  if (name != className)
    throw io::FormatError("'" + (dir / "config.json").string() + "' describes " +
                          (name.empty() ? std::string("no _class_name") : "a " + name) + ", not a " + className);
  return folder.config();
}

std::filesystem::path findDiffusersWeights(const std::filesystem::path& dir) {
  try {
    return io::findWeights(dir);
  } catch (const io::FileError&) {
    try {
      return io::findWeights(dir, "fp16");
    } catch (const io::FileError&) {
    }
    throw;  // the full-precision message (it names refused pickle files)
  }
}

void checkCoreConfig(const UNet2DConfig& c, const io::Checkpoint& checkpoint, const std::string& configName) {
  const io::ConfigCheck check(checkpoint, configName);
  const auto& b = c.blockOutChannels;
  if (b.empty()) check.fail("block_out_channels is empty");
  const std::size_t n = b.size();
  check.shape("conv_in.weight", {b[0], c.inChannels, 3, 3}, "block_out_channels[0] and in_channels");
  check.count("down_blocks.", ".resnets.0.conv1.weight", static_cast<int64_t>(n), "the length of block_out_channels");
  for (std::size_t i = 0; i < n; ++i) {
    check.shape("down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight", {b[i], b[i ? i - 1 : 0], 3, 3},
                "block_out_channels[" + std::to_string(i) + "]");
  }
  check.count("down_blocks.0.resnets.", ".conv1.weight", c.layersPerBlock, "layers_per_block");
  // Transformer layers, where each block takes its count: down block i from entry i, the mid block
  // from the last entry, up block r from the down block it mirrors (n - 1 - r).
  const auto layers = [&](const std::string& block, std::size_t entry) {
    if (entry >= c.transformerLayersPerBlock.size()) return;
    check.count(block + ".attentions.0.transformer_blocks.", ".attn1.to_q.weight", c.transformerLayersPerBlock[entry],
                "transformer_layers_per_block[" + std::to_string(entry) + "]");
  };
  bool crossAttentionChecked = false;
  for (std::size_t i = 0; i < c.downBlockTypes.size() && i < n; ++i) {
    if (c.downBlockTypes[i].rfind("CrossAttn", 0) != 0) continue;
    const std::string block = "down_blocks." + std::to_string(i);
    if (!crossAttentionChecked) {
      check.shape(block + ".attentions.0.transformer_blocks.0.attn2.to_k.weight", {b[i], c.crossAttentionDim},
                  "cross_attention_dim and block_out_channels[" + std::to_string(i) + "]");
      crossAttentionChecked = true;
    }
    layers(block, i);
  }
  if (!c.transformerLayersPerBlock.empty()) layers("mid_block", c.transformerLayersPerBlock.size() - 1);
  for (std::size_t r = 0; r < c.upBlockTypes.size() && r < n; ++r) {
    if (c.upBlockTypes[r].rfind("CrossAttn", 0) == 0) layers("up_blocks." + std::to_string(r), n - 1 - r);
  }
}

void loadFolderWeights(torch::nn::Module& module, const std::filesystem::path& dir, const std::string& what) {
  const auto path = findDiffusersWeights(dir);
  const auto checkpoint = io::Checkpoint::open(path);
  try {
    loadModuleWeights(module, checkpoint, what);
  } catch (const io::FormatError& e) {
    throw io::FormatError("'" + path.string() + "': " + e.what());
  }
}

// ---- functions -----------------------------------------------------------------------------

at::Tensor timestepProjection(const at::Tensor& timesteps, int64_t dim, bool flipSinToCos, double freqShift) {
  const int64_t half = dim / 2;
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(timesteps.device());
  at::Tensor exponent = at::arange(0, half, opts) * (-std::log(10000.0));
  exponent = exponent / (static_cast<double>(half) - freqShift);
  const at::Tensor emb = timesteps.to(at::kFloat).unsqueeze(1) * at::exp(exponent).unsqueeze(0);
  at::Tensor out = flipSinToCos ? at::cat({at::cos(emb), at::sin(emb)}, -1) : at::cat({at::sin(emb), at::cos(emb)}, -1);
  if (dim % 2) out = at::constant_pad_nd(out, {0, 1});
  return out;
}

at::Tensor batchTimesteps(const at::Tensor& timesteps, int64_t batch, c10::Device device) {
  if (!timesteps.defined()) throw std::invalid_argument("timesteps are missing");
  at::Tensor t = timesteps.to(device).reshape({-1});
  if (t.size(0) == 1 && batch != 1) t = t.expand({batch});
  if (t.size(0) != batch)
    throw std::invalid_argument("timesteps: " + std::to_string(t.size(0)) + " values for a batch of " +
                                std::to_string(batch));
  return t;
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const int64_t B = q.size(0), H = q.size(1), N = q.size(2), S = k.size(2), d = q.size(3);
  // The scale goes on q (N x d) rather than on the N x S scores: one pass less over the largest
  // tensor of the step (4096 x 4096 per head at 512x512).
  const at::Tensor qf = (q * scale).reshape({B * H, N, d});
  const at::Tensor kt = k.reshape({B * H, S, d}).transpose(1, 2), vf = v.reshape({B * H, S, d});
  // Bound the fp32 score matrix to ~256 MiB by running (batch x head) rows in chunks, each written
  // straight into its rows of the output.
  const int64_t perRow = std::max<int64_t>(1, N * S * 4);
  const int64_t rows = std::max<int64_t>(1, (int64_t{256} << 20) / perRow);
  at::Tensor out = at::empty({B * H, N, d}, q.options());
  for (int64_t r = 0; r < B * H; r += rows) {
    const int64_t len = std::min(rows, B * H - r);
    const at::Tensor scores = at::bmm(qf.narrow(0, r, len), kt.narrow(0, r, len));
    const at::Tensor probs = scores.scalar_type() == at::kFloat
                                 ? at::softmax(scores, -1)
                                 : at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
    at::Tensor rowsOut = out.narrow(0, r, len);
    at::bmm_out(rowsOut, probs, vf.narrow(0, r, len));
  }
  return out.view({B, H, N, d});
#endif
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

// ---- modules -------------------------------------------------------------------------------

TimestepEmbedding::TimestepEmbedding(int64_t in, int64_t dim) {
  linear_1 = register_module("linear_1", linear(in, dim));
  linear_2 = register_module("linear_2", linear(dim, dim));
}
at::Tensor TimestepEmbedding::forward(const at::Tensor& x) {
  return linear_2->forward(at::silu(linear_1->forward(x)));
}

ResnetBlock2D::ResnetBlock2D(int64_t in, int64_t out, int64_t tembChannels, int64_t groups, double eps,
                             double outputScale_)
    : outputScale(outputScale_) {
  norm1 = register_module("norm1", groupNorm(groups, in, eps));
  conv1 = register_module("conv1", conv(in, out, 3, 1, 1));
  time_emb_proj = register_module("time_emb_proj", linear(tembChannels, out));
  norm2 = register_module("norm2", groupNorm(groups, out, eps));
  conv2 = register_module("conv2", conv(out, out, 3, 1, 1));
  if (in != out) conv_shortcut = register_module("conv_shortcut", conv(in, out, 1));
}
at::Tensor ResnetBlock2D::forward(const at::Tensor& x, const at::Tensor& temb) {
  at::Tensor h = conv1->forward(at::silu(norm1->forward(x)));
  h = h + time_emb_proj->forward(at::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  h = conv2->forward(at::silu(norm2->forward(h)));
  const at::Tensor shortcut = conv_shortcut ? conv_shortcut->forward(x) : x;
  at::Tensor out = shortcut + h;
  if (outputScale != 1.0) out = out / outputScale;
  return out;
}

Attention::Attention(int64_t queryDim, int64_t contextDim, int64_t heads_, int64_t headDim) : heads(heads_) {
  const int64_t inner = heads * headDim;
  to_q = register_module("to_q", linear(queryDim, inner, false));
  to_k = register_module("to_k", linear(contextDim, inner, false));
  to_v = register_module("to_v", linear(contextDim, inner, false));
  to_out->push_back(linear(inner, queryDim));
  to_out->push_back(std::make_shared<Placeholder>());
  register_module("to_out", to_out);
}
at::Tensor Attention::forward(const at::Tensor& x, const at::Tensor& context) {
  const at::Tensor& ctx = context.defined() ? context : x;
  const int64_t B = x.size(0), N = x.size(1), S = ctx.size(1);
  const auto split = [&](const at::Tensor& t, int64_t len) { return t.view({B, len, heads, -1}).transpose(1, 2); };
  const at::Tensor q = split(to_q->forward(x), N);
  const at::Tensor k = split(to_k->forward(ctx), S);
  const at::Tensor v = split(to_v->forward(ctx), S);
  const at::Tensor out = attention(q, k, v).transpose(1, 2).reshape({B, N, -1});
  return to_out->ptr<torch::nn::LinearImpl>(0)->forward(out);
}

Geglu::Geglu(int64_t dim, int64_t inner) {
  proj = register_module("proj", linear(dim, inner * 2));
}
at::Tensor Geglu::forward(const at::Tensor& x) {
  const auto halves = proj->forward(x).chunk(2, -1);
  return halves[0] * at::gelu(halves[1]);
}

GegluFeedForward::GegluFeedForward(int64_t dim, int64_t inner) {
  net->push_back(std::make_shared<Geglu>(dim, inner));
  net->push_back(std::make_shared<Placeholder>());
  net->push_back(linear(inner, dim));
  register_module("net", net);
}
at::Tensor GegluFeedForward::forward(const at::Tensor& x) {
  return net->ptr<torch::nn::LinearImpl>(2)->forward(net->ptr<Geglu>(0)->forward(x));
}

BasicTransformerBlock::BasicTransformerBlock(int64_t dim, int64_t heads, int64_t headDim, int64_t contextDim) {
  norm1 = register_module("norm1", layerNorm(dim));
  attn1 = register_module("attn1", std::make_shared<Attention>(dim, dim, heads, headDim));
  norm2 = register_module("norm2", layerNorm(dim));
  attn2 = register_module("attn2", std::make_shared<Attention>(dim, contextDim, heads, headDim));
  norm3 = register_module("norm3", layerNorm(dim));
  ff = register_module("ff", std::make_shared<GegluFeedForward>(dim, dim * 4));
}
at::Tensor BasicTransformerBlock::forward(const at::Tensor& x, const at::Tensor& context) {
  at::Tensor h = x + attn1->forward(norm1->forward(x), at::Tensor());
  h = h + attn2->forward(norm2->forward(h), context);
  return h + ff->forward(norm3->forward(h));
}

Transformer2DModel::Transformer2DModel(int64_t channels, int64_t heads, int64_t layers, int64_t contextDim,
                                       int64_t groups, bool linearProjection) {
  norm = register_module("norm", groupNorm(groups, channels, 1e-6));  // diffusers fixes eps 1e-6 here
  if (linearProjection)
    proj_in_linear = register_module("proj_in", linear(channels, channels));
  else
    proj_in_conv = register_module("proj_in", conv(channels, channels, 1));
  for (int64_t i = 0; i < layers; ++i)
    transformer_blocks->push_back(
        std::make_shared<BasicTransformerBlock>(channels, heads, channels / heads, contextDim));
  register_module("transformer_blocks", transformer_blocks);
  if (linearProjection)
    proj_out_linear = register_module("proj_out", linear(channels, channels));
  else
    proj_out_conv = register_module("proj_out", conv(channels, channels, 1));
}
at::Tensor Transformer2DModel::forward(const at::Tensor& x, const at::Tensor& context) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  at::Tensor h = norm->forward(x);
  const auto toTokens = [&](const at::Tensor& t) { return t.permute({0, 2, 3, 1}).reshape({B, H * W, C}); };
  h = proj_in_conv ? toTokens(proj_in_conv->forward(h)) : proj_in_linear->forward(toTokens(h));
  for (std::size_t i = 0; i < transformer_blocks->size(); ++i)
    h = transformer_blocks->ptr<BasicTransformerBlock>(i)->forward(h, context);
  const auto toMap = [&](const at::Tensor& t) { return t.reshape({B, H, W, C}).permute({0, 3, 1, 2}).contiguous(); };
  h = proj_out_conv ? proj_out_conv->forward(toMap(h)) : toMap(proj_out_linear->forward(h));
  return h + x;
}

Downsample2D::Downsample2D(int64_t channels, int64_t padding_) : padding(padding_) {
  conv = register_module("conv", unet::conv(channels, channels, 3, 2, padding));
}
at::Tensor Downsample2D::forward(const at::Tensor& x) {
  // diffusers pads right/bottom by one when the conv itself has no padding.
  return conv->forward(padding == 0 ? at::constant_pad_nd(x, {0, 1, 0, 1}) : x);
}

Upsample2D::Upsample2D(int64_t channels) {
  conv = register_module("conv", unet::conv(channels, channels, 3, 1, 1));
}
at::Tensor Upsample2D::forward(const at::Tensor& x, c10::IntArrayRef size) {
  at::Tensor in = x;
  if (x.scalar_type() == at::kBFloat16) in = x.to(at::kFloat);  // as diffusers: nearest lacks bf16 kernels
  at::Tensor up = at::upsample_nearest2d(in.contiguous(), size, c10::nullopt, c10::nullopt);
  return conv->forward(up.to(x.scalar_type()));
}

DownBlock::DownBlock(const UNet2DConfig& c, std::size_t i, int64_t in, int64_t out, bool withAttention_,
                     bool downsample)
    : withAttention(withAttention_) {
  for (int64_t l = 0; l < c.layersPerBlock; ++l) {
    resnets->push_back(
        std::make_shared<ResnetBlock2D>(l == 0 ? in : out, out, c.timeEmbedDim(), c.normNumGroups, c.normEps));
    if (withAttention)
      attentions->push_back(std::make_shared<Transformer2DModel>(out, c.numAttentionHeads[i],
                                                                 c.transformerLayersPerBlock[i], c.crossAttentionDim,
                                                                 c.normNumGroups, c.useLinearProjection));
  }
  register_module("resnets", resnets);
  if (withAttention) register_module("attentions", attentions);
  if (downsample) {
    downsamplers->push_back(std::make_shared<Downsample2D>(out, c.downsamplePadding));
    register_module("downsamplers", downsamplers);
  }
}
at::Tensor DownBlock::forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context,
                              std::vector<at::Tensor>& skips) {
  for (std::size_t l = 0; l < resnets->size(); ++l) {
    h = resnets->ptr<ResnetBlock2D>(l)->forward(h, temb);
    if (withAttention) h = attentions->ptr<Transformer2DModel>(l)->forward(h, context);
    skips.push_back(h);
  }
  if (!downsamplers->is_empty()) {
    h = downsamplers->ptr<Downsample2D>(0)->forward(h);
    skips.push_back(h);
  }
  return h;
}

MidBlockCrossAttn::MidBlockCrossAttn(const UNet2DConfig& c, int64_t channels) {
  const auto resnet = [&] {
    return std::make_shared<ResnetBlock2D>(channels, channels, c.timeEmbedDim(), c.normNumGroups, c.normEps,
                                           c.midBlockScaleFactor);
  };
  resnets->push_back(resnet());
  resnets->push_back(resnet());
  attentions->push_back(std::make_shared<Transformer2DModel>(channels, c.numAttentionHeads.back(),
                                                             c.transformerLayersPerBlock.back(), c.crossAttentionDim,
                                                             c.normNumGroups, c.useLinearProjection));
  register_module("attentions", attentions);
  register_module("resnets", resnets);
}
at::Tensor MidBlockCrossAttn::forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context) {
  h = resnets->ptr<ResnetBlock2D>(0)->forward(h, temb);
  h = attentions->ptr<Transformer2DModel>(0)->forward(h, context);
  return resnets->ptr<ResnetBlock2D>(1)->forward(h, temb);
}

UpBlock::UpBlock(const UNet2DConfig& c, std::size_t r, int64_t in, int64_t prevOut, int64_t out, bool withAttention_,
                 bool upsample)
    : withAttention(withAttention_) {
  const std::size_t down = c.blockOutChannels.size() - 1 - r;  // the down block this one mirrors
  const int64_t layers = c.layersPerBlock + 1;
  for (int64_t l = 0; l < layers; ++l) {
    const int64_t skip = l == layers - 1 ? in : out;
    const int64_t resIn = l == 0 ? prevOut : out;
    resnets->push_back(
        std::make_shared<ResnetBlock2D>(resIn + skip, out, c.timeEmbedDim(), c.normNumGroups, c.normEps));
    if (withAttention)
      attentions->push_back(std::make_shared<Transformer2DModel>(out, c.numAttentionHeads[down],
                                                                 c.transformerLayersPerBlock[down], c.crossAttentionDim,
                                                                 c.normNumGroups, c.useLinearProjection));
  }
  if (withAttention) register_module("attentions", attentions);
  register_module("resnets", resnets);
  if (upsample) {
    upsamplers->push_back(std::make_shared<Upsample2D>(out));
    register_module("upsamplers", upsamplers);
  }
}
at::Tensor UpBlock::forward(at::Tensor h, const at::Tensor& temb, const at::Tensor& context,
                            std::vector<at::Tensor>& skips) {
  for (std::size_t l = 0; l < resnets->size(); ++l) {
    h = at::cat({h, skips.back()}, 1);
    skips.pop_back();
    h = resnets->ptr<ResnetBlock2D>(l)->forward(h, temb);
    if (withAttention) h = attentions->ptr<Transformer2DModel>(l)->forward(h, context);
  }
  if (!upsamplers->is_empty()) {
    if (skips.empty()) throw std::logic_error("UNet up block: no skip left to size the upsampler");
    h = upsamplers->ptr<Upsample2D>(0)->forward(h, skips.back().sizes().slice(2));
  }
  return h;
}

void Encoder::build(torch::nn::Module& owner, const UNet2DConfig& c) {
  time_embedding = owner.register_module(
      "time_embedding", std::make_shared<TimestepEmbedding>(c.blockOutChannels.front(), c.timeEmbedDim()));
  int64_t out = c.blockOutChannels.front();
  for (std::size_t i = 0; i < c.blockOutChannels.size(); ++i) {
    const int64_t in = out;
    out = c.blockOutChannels[i];
    const bool final = i + 1 == c.blockOutChannels.size();
    down_blocks->push_back(
        std::make_shared<DownBlock>(c, i, in, out, c.downBlockTypes[i] == "CrossAttnDownBlock2D", !final));
  }
  owner.register_module("down_blocks", down_blocks);
  mid_block = owner.register_module("mid_block", std::make_shared<MidBlockCrossAttn>(c, c.blockOutChannels.back()));
}

at::Tensor Encoder::timeEmbedding(const UNet2DConfig& c, const at::Tensor& timesteps, c10::ScalarType dtype) const {
  const at::Tensor proj = timestepProjection(timesteps, c.blockOutChannels.front(), c.flipSinToCos, c.freqShift);
  return time_embedding->forward(proj.to(dtype));
}

}  // namespace caig::unet
