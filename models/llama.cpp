#include "models/llama.h"

#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/version.h>

#include <array>
#include <cmath>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/nn/load_weights.h"

namespace caig {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// RMSNorm as transformers: normalise in fp32 (fp64 for a double model, so gradient checks can
// run in double), scale in the input dtype.
// How the modules are built: LlamaModel(config) initialises fp32 weights as torch does;
// uninitialised() allocates them in the target dtype without touching their memory (load() then
// fills or aliases them), so a 7B model never exists in fp32 on the way to bf16.
struct Build {
  c10::ScalarType dtype = c10::kFloat;
  bool initialise = true;
};

struct RmsNorm : torch::nn::Module {
  RmsNorm(int64_t dim, double eps, const Build& b = {}) : eps(eps) {
    weight = register_parameter("weight", at::ones({dim}, at::TensorOptions().dtype(b.dtype)));
  }
  at::Tensor forward(const at::Tensor& x) const {
    const at::Tensor xf = x.to(at::promote_types(x.scalar_type(), at::kFloat));
    const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x.scalar_type());
  }
  at::Tensor weight;
  double eps;
};

torch::nn::Linear linear(int64_t in, int64_t out, bool bias, const Build& b) {
  if (b.initialise) {
    torch::nn::Linear l(torch::nn::LinearOptions(in, out).bias(bias));
    if (b.dtype != c10::kFloat) l->to(b.dtype);
    return l;
  }
  // A 1x1 layer whose tensors then take their real sizes, uninitialised (untouched pages).
  torch::nn::Linear l(torch::nn::LinearOptions(1, 1).bias(bias));
  l->to(b.dtype);
  at::NoGradGuard noGrad;
  const auto opts = at::TensorOptions().dtype(b.dtype);
  l->weight.set_(at::empty({out, in}, opts));
  if (bias) l->bias.set_(at::empty({out}, opts));
  return l;
}

struct Attention : torch::nn::Module {
  Attention(const LlamaConfig& c, const Build& b) {
    q_proj = register_module("q_proj", linear(c.hiddenSize, c.numHeads * c.headDim, c.attentionBias, b));
    k_proj = register_module("k_proj", linear(c.hiddenSize, c.numKvHeads * c.headDim, c.attentionBias, b));
    v_proj = register_module("v_proj", linear(c.hiddenSize, c.numKvHeads * c.headDim, c.attentionBias, b));
    o_proj = register_module("o_proj", linear(c.numHeads * c.headDim, c.hiddenSize, c.outputBias, b));
  }
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};

struct Mlp : torch::nn::Module {
  Mlp(const LlamaConfig& c, const Build& b) {
    gate_proj = register_module("gate_proj", linear(c.hiddenSize, c.intermediateSize, false, b));
    up_proj = register_module("up_proj", linear(c.hiddenSize, c.intermediateSize, false, b));
    down_proj = register_module("down_proj", linear(c.intermediateSize, c.hiddenSize, false, b));
  }
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};

struct DecoderLayer : torch::nn::Module {
  DecoderLayer(const LlamaConfig& c, const Build& b) {
    self_attn = register_module("self_attn", std::make_shared<Attention>(c, b));
    mlp = register_module("mlp", std::make_shared<Mlp>(c, b));
    input_layernorm = register_module("input_layernorm", std::make_shared<RmsNorm>(c.hiddenSize, c.rmsNormEps, b));
    post_attention_layernorm =
        register_module("post_attention_layernorm", std::make_shared<RmsNorm>(c.hiddenSize, c.rmsNormEps, b));
  }
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<Mlp> mlp;
  std::shared_ptr<RmsNorm> input_layernorm, post_attention_layernorm;
};

// The token embedding table, a child named embed_tokens holding `weight` (looked up with
// at::embedding, and reused as lm_head when the embeddings are tied).
struct Embedding : torch::nn::Module {
  explicit Embedding(at::Tensor w) { weight = register_parameter("weight", std::move(w)); }
  at::Tensor weight;
};

// transformers' LlamaModel: the `model.` part of the checkpoint.
struct DecoderStack : torch::nn::Module {
  DecoderStack(const LlamaConfig& c, const Build& b) {
    const auto opts = at::TensorOptions().dtype(b.dtype);
    embed_tokens = register_module(
        "embed_tokens", std::make_shared<Embedding>(b.initialise ? at::zeros({c.vocabSize, c.hiddenSize}, opts)
                                                                 : at::empty({c.vocabSize, c.hiddenSize}, opts)));
    for (int64_t i = 0; i < c.numLayers; ++i) layers->push_back(std::make_shared<DecoderLayer>(c, b));
    register_module("layers", layers);
    norm = register_module("norm", std::make_shared<RmsNorm>(c.hiddenSize, c.rmsNormEps, b));
  }
  std::shared_ptr<Embedding> embed_tokens;
  torch::nn::ModuleList layers;
  std::shared_ptr<RmsNorm> norm;
};

struct CausalLm : torch::nn::Module {
  CausalLm(const LlamaConfig& c, const Build& b) {
    model = register_module("model", std::make_shared<DecoderStack>(c, b));
    if (!c.tieWordEmbeddings) lm_head = register_module("lm_head", linear(c.hiddenSize, c.vocabSize, false, b));
  }
  std::shared_ptr<DecoderStack> model;
  torch::nn::Linear lm_head{nullptr};
};

// rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]).
at::Tensor rotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

int64_t intField(const nlohmann::json& j, const char* name, int64_t fallback) {
  if (!j.contains(name) || j.at(name).is_null()) return fallback;
  return j.at(name).get<int64_t>();
}

}  // namespace

// ---- configuration -------------------------------------------------------------------------

LlamaConfig llamaConfigFromJson(const nlohmann::json& j) {
  try {
    if (!j.is_object()) throw io::FormatError("language model config is not a JSON object");
    std::string type = j.value("model_type", std::string("llama"));
    if (startsWith(type, "llava_")) type = type.substr(6);  // original LLaVA: llava_llama, llava_mistral, ...
    LlamaConfig c;
    c.modelType = type;
    // The library defaults (transformers 4.38) of each configuration class.
    int64_t kvDefault = -1;  // -1: num_attention_heads
    if (type == "llama") {
      c.bosTokenId = 1, c.eosTokenId = 2;
    } else if (type == "qwen2") {
      c.vocabSize = 151936, c.intermediateSize = 22016, c.maxPositions = 32768;
      kvDefault = 32;
      c.attentionBias = true;  // Qwen2: q/k/v with bias, o_proj without
    } else if (type == "mistral") {
      c.intermediateSize = 14336, c.maxPositions = 4096 * 32;
      kvDefault = 8;
      c.bosTokenId = 1, c.eosTokenId = 2;
    } else {
      throw io::FormatError("unsupported language model_type \"" + type + "\" (llama, qwen2, mistral)");
    }
    c.vocabSize = intField(j, "vocab_size", c.vocabSize);
    c.hiddenSize = intField(j, "hidden_size", c.hiddenSize);
    c.intermediateSize = intField(j, "intermediate_size", c.intermediateSize);
    c.numLayers = intField(j, "num_hidden_layers", c.numLayers);
    c.numHeads = intField(j, "num_attention_heads", c.numHeads);
    c.numKvHeads = intField(j, "num_key_value_heads", kvDefault < 0 ? c.numHeads : kvDefault);
    c.maxPositions = intField(j, "max_position_embeddings", c.maxPositions);
    c.rmsNormEps = j.value("rms_norm_eps", c.rmsNormEps);
    if (j.contains("rope_theta") && !j.at("rope_theta").is_null()) c.ropeTheta = j.at("rope_theta").get<double>();
    if (type == "llama" && j.value("attention_bias", false)) c.attentionBias = c.outputBias = true;
    c.tieWordEmbeddings = j.value("tie_word_embeddings", false);
    c.bosTokenId = intField(j, "bos_token_id", c.bosTokenId);
    if (j.contains("eos_token_id")) {
      const auto& e = j.at("eos_token_id");
      if (e.is_number_integer()) c.eosTokenId = e.get<int64_t>();
      else if (e.is_array() && !e.empty()) c.eosTokenId = e.at(0).get<int64_t>();
      else if (e.is_null()) c.eosTokenId = -1;
    }
    const std::string act = j.value("hidden_act", std::string("silu"));
    if (act != "silu" && act != "swish")
      throw io::FormatError("hidden_act \"" + act + "\" is not supported (silu)");
    if (c.numHeads < 1 || c.hiddenSize < 1 || c.numLayers < 0 || c.vocabSize < 1 || c.intermediateSize < 1)
      throw io::FormatError("language model sizes out of range");
    c.headDim = intField(j, "head_dim", c.hiddenSize / c.numHeads);
    if (!j.contains("head_dim") && c.hiddenSize % c.numHeads)
      throw io::FormatError("hidden_size is not a multiple of num_attention_heads");
    if (c.numKvHeads < 1 || c.numHeads % c.numKvHeads)
      throw io::FormatError("num_attention_heads is not a multiple of num_key_value_heads");
    if (c.headDim < 2 || c.headDim % 2) throw io::FormatError("head dimension must be even");
    if (j.contains("rope_scaling") && !j.at("rope_scaling").is_null()) {
      const auto& s = j.at("rope_scaling");
      const std::string kind = s.contains("rope_type") ? s.at("rope_type").get<std::string>()
                                                        : s.value("type", std::string("default"));
      if (kind == "linear") c.ropeScaling = RopeScaling::Linear;
      else if (kind == "dynamic") c.ropeScaling = RopeScaling::Dynamic;
      else if (kind != "default") throw io::FormatError("rope_scaling type \"" + kind + "\" is not supported");
      if (c.ropeScaling != RopeScaling::None) {
        c.ropeScalingFactor = s.at("factor").get<double>();
        if (!(c.ropeScalingFactor >= 1.0)) throw io::FormatError("rope_scaling factor must be >= 1");
      }
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(std::string("language model config: ") + e.what());
  }
}

LlamaConfig readLlamaConfig(const std::filesystem::path& modelDir) {
  const auto path = modelDir / "config.json";
  const auto j = io::readJsonFile(path);
  try {
    if (j.is_object() && j.contains("text_config")) return llamaConfigFromJson(j.at("text_config"));
    if (j.is_object() && j.value("model_type", std::string()) == "llava")  // LlavaConfig's default text model
      return llamaConfigFromJson(nlohmann::json::object());
    return llamaConfigFromJson(j);
  } catch (const io::FormatError& e) {
    throw io::FormatError(path.string() + ": " + e.what());
  }
}

// ---- checkpoint layouts: the one place that knows key names --------------------------------

LlamaKeyLayout LlamaKeyLayout::causalLm() { return {}; }
LlamaKeyLayout LlamaKeyLayout::llavaHf() { return {"language_model.", {}}; }
LlamaKeyLayout LlamaKeyLayout::llavaOriginal() {
  return {"", {"model.vision_tower.", "model.mm_projector.", "model.image_newline"}};
}

bool LlamaKeyLayout::isForeign(const std::string& key) const {
  if (!prefix.empty() && !startsWith(key, prefix)) return true;
  for (const auto& p : foreignPrefixes)
    if (startsWith(key, p)) return true;
  return false;
}

namespace {
// a * b, or -1 when it overflows (a hostile config's sizes must not wrap into a plausible shape).
int64_t sizeProduct(int64_t a, int64_t b) {
  int64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? -1 : r;
}
}  // namespace

void checkLlamaConfig(const LlamaConfig& c, const io::Checkpoint& checkpoint, const LlamaKeyLayout& layout,
                      const std::string& configName) {
  const io::ConfigCheck check(checkpoint, configName);
  auto key = [&](const std::string& name) { return layout.checkpointKey(name); };
  check.shape(key("model.embed_tokens.weight"), {c.vocabSize, c.hiddenSize}, "vocab_size and hidden_size");
  check.count(key("model.layers."), ".self_attn.q_proj.weight", c.numLayers, "num_hidden_layers");
  const std::string layer0 = "model.layers.0.";
  check.shape(key(layer0 + "self_attn.q_proj.weight"), {sizeProduct(c.numHeads, c.headDim), c.hiddenSize},
              "num_attention_heads, head_dim and hidden_size");
  check.shape(key(layer0 + "self_attn.k_proj.weight"), {sizeProduct(c.numKvHeads, c.headDim), c.hiddenSize},
              "num_key_value_heads, head_dim and hidden_size");
  check.shape(key(layer0 + "mlp.gate_proj.weight"), {c.intermediateSize, c.hiddenSize},
              "intermediate_size and hidden_size");
  if (!c.tieWordEmbeddings) check.shape(key("lm_head.weight"), {c.vocabSize, c.hiddenSize}, "vocab_size and hidden_size");
}

// ---- model ---------------------------------------------------------------------------------

namespace {
// The seven adaptable linear layers of a decoder layer, in module order.
enum Slot { kQ, kK, kV, kO, kGate, kUp, kDown, kSlots };
const std::array<const char*, kSlots> kSlotNames = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                    "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                    "mlp.down_proj"};
}  // namespace

struct LlamaModel::Impl {
  LlamaConfig config;
  std::shared_ptr<CausalLm> net;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = c10::kFloat;
  std::vector<std::array<std::shared_ptr<const LlamaLinearAdapter>, kSlots>> adapters;  // per layer
  bool adaptersEnabled = true;
  // Weight-only int8 (quantizeInt8): per layer and slot, the rows q [out, in] int8 and their
  // scales [out] fp32; the Linear's own weight is then empty.
  struct Int8Weight {
    at::Tensor q, scale;
  };
  std::vector<std::array<Int8Weight, kSlots>> int8;

  at::Tensor proj(torch::nn::Linear& linear, const at::Tensor& x, std::size_t layer, Slot slot) const {
    at::Tensor y = layer < int8.size() && int8[layer][slot].q.defined() ? int8Linear(x, int8[layer][slot], linear->bias)
                                                                        : linear->forward(x);
    if (adaptersEnabled && layer < adapters.size() && adapters[layer][slot]) y = y + adapters[layer][slot]->forward(x);
    return y;
  }

  struct CheckpointedLayer;

  // x W^T with W = q * scale: the int8 rows are widened to x's dtype a block at a time (about 2M
  // elements: cache-sized, so the weight crosses memory once, as int8), the scale applied to the
  // outputs in fp32.
  static at::Tensor int8Linear(const at::Tensor& x, const Int8Weight& w, const at::Tensor& bias) {
    constexpr int64_t kBlockElements = 1 << 21;
    const int64_t out = w.q.size(0), in = w.q.size(1);
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(out, kBlockElements / in));
    std::vector<int64_t> sizes = x.sizes().vec();
    sizes.back() = out;
    at::Tensor y = at::empty(sizes, x.options());
    for (int64_t r = 0; r < out; r += rows) {
      const int64_t n = std::min(rows, out - r);
      y.narrow(-1, r, n).copy_(at::linear(x, w.q.narrow(0, r, n).to(x.scalar_type())));
    }
    y = (y.to(at::kFloat) * w.scale).to(x.scalar_type());
    return bias.defined() && bias.numel() ? y + bias : y;
  }

  at::Tensor mlp(Mlp& m, const at::Tensor& x, std::size_t layer) const {
    return proj(m.down_proj, at::silu(proj(m.gate_proj, x, layer, kGate)) * proj(m.up_proj, x, layer, kUp), layer,
                kDown);
  }

  // What a layer's recomputation needs besides its input: parameters that require grad.
  std::vector<at::Tensor> trainableTensors(std::size_t layer) const {
    std::vector<at::Tensor> out;
    for (const auto& p : net->model->layers->ptr(layer)->parameters(true))
      if (p.requires_grad()) out.push_back(p);
    if (adaptersEnabled && layer < adapters.size())
      for (const auto& a : adapters[layer])
        if (a)
          for (const auto& p : a->parameters())
            if (p.requires_grad()) out.push_back(p);
    return out;
  }

  // One decoder layer. `allowed` (optional) is a [B, 1, T, S] attention mask; without it the
  // mask is causal from position p0.
  at::Tensor layerForward(std::size_t i, const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin,
                          LlamaKvCache* cache, int64_t p0, const at::Tensor& allowed = {}) const {
    auto& layer = *net->model->layers->ptr<DecoderLayer>(i);
    at::Tensor out = h + attention(*layer.self_attn, layer.input_layernorm->forward(h), cos, sin, cache,
                                   static_cast<int>(i), p0, allowed);
    return out + mlp(*layer.mlp, layer.post_attention_layernorm->forward(out), i);
  }

  at::Tensor lmHeadWeight() const {
    return config.tieWordEmbeddings ? net->model->embed_tokens->weight : net->lm_head->weight;
  }

  // cos/sin [T, headDim] for absolute positions [p0, p0 + T), fp32 as transformers computes them.
  std::pair<at::Tensor, at::Tensor> rotary(int64_t p0, int64_t T) const {
    return rotaryAt(at::arange(p0, p0 + T, at::TensorOptions().dtype(at::kLong).device(device)), p0 + T);
  }
  // cos/sin [..., headDim] for int64 positions of any shape; seqLenTotal (max position + 1)
  // drives dynamic NTK scaling.
  std::pair<at::Tensor, at::Tensor> rotaryAt(const at::Tensor& positions, int64_t seqLenTotal) const {
    const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
    const int64_t dim = config.headDim;
    double base = config.ropeTheta;
    at::Tensor t = positions.to(at::kFloat);
    if (config.ropeScaling == RopeScaling::Linear) t = t / config.ropeScalingFactor;
    if (config.ropeScaling == RopeScaling::Dynamic && seqLenTotal > config.maxPositions) {
      // Dynamic NTK: the base grows with the sequence length (max position + 1).
      const double f = config.ropeScalingFactor;
      const double seqLen = static_cast<double>(seqLenTotal);
      base *= std::pow(f * seqLen / static_cast<double>(config.maxPositions) - (f - 1.0),
                       static_cast<double>(dim) / static_cast<double>(dim - 2));
    }
    const at::Tensor exponent = at::arange(0, dim, 2, opts.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(dim);
    const at::Tensor invFreq = 1.0 / at::pow(base, exponent);
    const at::Tensor freqs = t.unsqueeze(-1) * invFreq;  // outer product over any position shape
    const at::Tensor emb = at::cat({freqs, freqs}, -1);
    return {emb.cos(), emb.sin()};
  }

  at::Tensor attention(Attention& a, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       LlamaKvCache* cache, int layer, int64_t p0, const at::Tensor& allowedMask = {}) const {
    const int64_t B = x.size(0), T = x.size(1), hd = config.headDim;
    const int64_t nh = config.numHeads, nkv = config.numKvHeads;
    const auto li = static_cast<std::size_t>(layer);
    at::Tensor q = proj(a.q_proj, x, li, kQ).view({B, T, nh, hd}).transpose(1, 2);
    at::Tensor k = proj(a.k_proj, x, li, kK).view({B, T, nkv, hd}).transpose(1, 2);
    at::Tensor v = proj(a.v_proj, x, li, kV).view({B, T, nkv, hd}).transpose(1, 2);
    const at::Tensor c = cos.to(x.scalar_type()), s = sin.to(x.scalar_type());
    q = q * c + rotateHalf(q) * s;
    k = k * c + rotateHalf(k) * s;
    if (cache) {
      cache->keys[layer].narrow(2, p0, T).copy_(k);
      cache->values[layer].narrow(2, p0, T).copy_(v);
      k = cache->keys[layer].narrow(2, 0, p0 + T);
      v = cache->values[layer].narrow(2, 0, p0 + T);
    }
    const int64_t S = k.size(2);
    if (nkv != nh) {  // grouped-query attention: query head h reads kv head h / (nh / nkv)
      const int64_t rep = nh / nkv;
      k = k.unsqueeze(2).expand({B, nkv, rep, S, hd}).reshape({B, nh, S, hd});
      v = v.unsqueeze(2).expand({B, nkv, rep, S, hd}).reshape({B, nh, S, hd});
    }
    // Causal: query i (absolute position p0 + i) sees keys 0..p0 + i.
    const auto longOpts = at::TensorOptions().dtype(at::kLong).device(x.device());
    const at::Tensor allowed =
        allowedMask.defined()
            ? allowedMask
            : at::arange(S, longOpts).unsqueeze(0) <= (at::arange(T, longOpts) + p0).unsqueeze(1);  // [T, S]
    at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
    out = at::scaled_dot_product_attention(q, k, v, allowed);
#else
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
    const at::Tensor probs = at::softmax(scores, -1, at::promote_types(q.scalar_type(), at::kFloat)).to(q.scalar_type());
    out = at::matmul(probs, v);
#endif
    return proj(a.o_proj, out.transpose(1, 2).reshape({B, T, nh * hd}), li, kO);
  }
};

// Gradient checkpointing of one decoder layer (LibTorch C++ has no torch.utils.checkpoint):
// forward runs the layer without a graph and keeps only its input; backward reruns it with the
// graph and differentiates. The RNG state of the device is restored for the rerun so dropout
// (LoRA's) draws the same mask. The layer's trainable tensors are inputs of the node, so their
// gradients flow through the function's outputs like any other op's.
struct LlamaModel::Impl::CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, int64_t implAddress,
                                                int64_t layer, const at::Tensor& h, const at::Tensor& cos,
                                                const at::Tensor& sin, const at::Tensor& allowed,
                                                at::TensorList trainable) {
    const auto* impl = reinterpret_cast<const Impl*>(implAddress);  // outlives the graph, like its parameters
    ctx->saved_data["impl"] = implAddress;
    ctx->saved_data["layer"] = layer;
    at::Generator gen = at::globalContext().defaultGenerator(h.device());
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      ctx->saved_data["rng"] = gen.get_state();
    }
    std::vector<at::Tensor> saved = {h, cos, sin, allowed};
    saved.insert(saved.end(), trainable.begin(), trainable.end());
    ctx->save_for_backward(saved);
    at::NoGradGuard noGrad;
    return {impl->layerForward(static_cast<std::size_t>(layer), h, cos, sin, nullptr, 0, allowed)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradOutputs) {
    const auto* impl = reinterpret_cast<const Impl*>(ctx->saved_data["impl"].toInt());
    const auto layer = static_cast<std::size_t>(ctx->saved_data["layer"].toInt());
    const auto saved = ctx->get_saved_variables();
    const at::Tensor input = saved[0].detach().requires_grad_(true);
    at::Generator gen = at::globalContext().defaultGenerator(input.device());
    at::Tensor current;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());  // not held while the layer draws from gen
      current = gen.get_state();
      gen.set_state(ctx->saved_data["rng"].toTensor());
    }
    at::Tensor out;
    {
      at::AutoGradMode enable(true);
      out = impl->layerForward(layer, input, saved[1], saved[2], nullptr, 0, saved[3]);
    }
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(current);
    }
    std::vector<at::Tensor> inputs = {input};
    inputs.insert(inputs.end(), saved.begin() + 4, saved.end());
    const auto grads = torch::autograd::grad({out}, inputs, {gradOutputs[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    // One entry per forward argument: implAddress, layer, h, cos, sin, allowed, trainable...
    torch::autograd::variable_list result = {at::Tensor(), at::Tensor(), grads[0], at::Tensor(), at::Tensor(),
                                             at::Tensor()};
    result.insert(result.end(), grads.begin() + 1, grads.end());
    return result;
  }
};

LlamaModel::LlamaModel(const LlamaConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<CausalLm>(config, Build{});
  impl_->net->eval();
  impl_->adapters.resize(static_cast<std::size_t>(config.numLayers));
}

LlamaModel::LlamaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LlamaModel LlamaModel::uninitialised(const LlamaConfig& config, c10::ScalarType dtype) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->net = std::make_shared<CausalLm>(config, Build{dtype, false});
  impl->net->eval();
  impl->adapters.resize(static_cast<std::size_t>(config.numLayers));
  impl->dtype = dtype;
  return LlamaModel(std::move(impl));
}
LlamaModel::~LlamaModel() = default;
LlamaModel::LlamaModel(LlamaModel&&) noexcept = default;
LlamaModel& LlamaModel::operator=(LlamaModel&&) noexcept = default;

LlamaModel LlamaModel::load(const std::filesystem::path& modelDir, c10::Device device, c10::ScalarType dtype) {
  const LlamaConfig config = readLlamaConfig(modelDir);
  const auto checkpoint = io::Checkpoint::open(modelDir);
  LlamaKeyLayout layout = LlamaKeyLayout::causalLm();
  const auto original = LlamaKeyLayout::llavaOriginal();
  if (checkpoint.contains(LlamaKeyLayout::llavaHf().checkpointKey("model.embed_tokens.weight"))) {
    layout = LlamaKeyLayout::llavaHf();
  } else {
    for (const auto& name : checkpoint.names())
      if (original.isForeign(name)) {
        layout = original;
        break;
      }
  }
  checkLlamaConfig(config, checkpoint, layout, (modelDir / "config.json").string());
  LlamaModel model = uninitialised(config, dtype);
  model.loadWeights(checkpoint, layout);
  model.to(device, dtype);
  return model;
}

const LlamaConfig& LlamaModel::config() const { return impl_->config; }

std::vector<std::pair<std::string, std::vector<int64_t>>> LlamaModel::expectedTensors(
    const LlamaKeyLayout& layout) const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : impl_->net->named_parameters(true))
    out.emplace_back(layout.checkpointKey(p.key()), p.value().sizes().vec());
  return out;
}

void LlamaModel::loadWeights(const io::Checkpoint& checkpoint, const LlamaKeyLayout& layout) {
  const std::string tiedHead = layout.checkpointKey("lm_head.weight");
  const bool tied = impl_->config.tieWordEmbeddings;
  WeightNaming naming;
  naming.checkpointKey = [&](const std::string& name) { return layout.checkpointKey(name); };
  naming.ignore = [&](const std::string& key) {
    return layout.isForeign(key) ||
           endsWith(key, ".rotary_emb.inv_freq") ||  // older LLaMA files store it
           (tied && key == tiedHead);                // tied: the embedding is the head
  };
  std::string what = impl_->config.modelType + " language";
  if (!layout.prefix.empty()) what += " (keys under \"" + layout.prefix + "\")";
  if (!impl_->int8.empty()) throw std::logic_error("loadWeights: the model was quantised to int8; load a new model");
  naming.aliasMatching = true;  // a bf16 file for a bf16 model: views of the mapped file
  loadModuleWeights(*impl_->net, checkpoint, what, naming);
}

void LlamaModel::to(c10::Device device, c10::ScalarType dtype) {
  impl_->net->to(device, dtype);
  for (auto& layer : impl_->int8)
    for (auto& w : layer)
      if (w.q.defined()) w.q = w.q.to(device), w.scale = w.scale.to(device);
  impl_->device = device;
  impl_->dtype = dtype;
}

c10::Device LlamaModel::device() const { return impl_->device; }
c10::ScalarType LlamaModel::dtype() const { return impl_->dtype; }

at::Tensor LlamaModel::embed(const at::Tensor& ids) const {
  c10::InferenceMode guard;
  return at::embedding(impl_->net->model->embed_tokens->weight, ids.to(impl_->device, at::kLong));
}

at::Tensor LlamaModel::lmHead(const at::Tensor& hidden) const {
  c10::InferenceMode guard;
  return at::linear(hidden, impl_->lmHeadWeight());
}

LlamaKvCache LlamaModel::newCache(int64_t batch, int64_t capacity) const {
  if (batch < 1 || capacity < 1) throw std::invalid_argument("KV cache batch and capacity must be positive");
  const auto& c = impl_->config;
  const auto opts = at::TensorOptions().dtype(impl_->dtype).device(impl_->device);
  LlamaKvCache cache;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    cache.keys.push_back(at::zeros({batch, c.numKvHeads, capacity, c.headDim}, opts));
    cache.values.push_back(at::zeros({batch, c.numKvHeads, capacity, c.headDim}, opts));
  }
  return cache;
}

LlamaOutput LlamaModel::forwardEmbeddings(const at::Tensor& embeds, LlamaKvCache* cache, bool logits,
                                          bool lastLogitsOnly) const {
  const auto& c = impl_->config;
  if (embeds.dim() != 3 || embeds.size(2) != c.hiddenSize)
    throw std::invalid_argument("input embeddings must be [batch, tokens, " + std::to_string(c.hiddenSize) + "]");
  const int64_t B = embeds.size(0), T = embeds.size(1);
  if (T < 1) throw std::invalid_argument("no input positions");
  int64_t p0 = 0;
  if (cache) {
    if (static_cast<int64_t>(cache->keys.size()) != c.numLayers || cache->batch() != B)
      throw std::invalid_argument("KV cache does not match the model or the batch");
    if (cache->length + T > cache->capacity())
      throw std::invalid_argument("KV cache full: " + std::to_string(cache->length) + " + " + std::to_string(T) +
                                  " positions exceed its capacity " + std::to_string(cache->capacity()));
    p0 = cache->length;
  }
  c10::InferenceMode guard;
  const auto [cos, sin] = impl_->rotary(p0, T);
  at::Tensor h = embeds.to(impl_->device, impl_->dtype);
  for (std::size_t i = 0; i < impl_->net->model->layers->size(); ++i) h = impl_->layerForward(i, h, cos, sin, cache, p0);
  if (cache) cache->length = p0 + T;
  LlamaOutput out;
  out.hidden = impl_->net->model->norm->forward(h);
  if (logits) {
    const at::Tensor src = lastLogitsOnly ? out.hidden.narrow(1, T - 1, 1) : out.hidden;
    out.logits = at::linear(src, impl_->lmHeadWeight()).to(at::kFloat);
  }
  return out;
}

LlamaOutput LlamaModel::forward(const at::Tensor& ids, LlamaKvCache* cache, bool logits, bool lastLogitsOnly) const {
  if (ids.dim() != 2) throw std::invalid_argument("token ids must be [batch, tokens]");
  return forwardEmbeddings(embed(ids), cache, logits, lastLogitsOnly);
}

GreedyResult LlamaModel::generateGreedy(const at::Tensor& ids, const GreedyOptions& options) const {
  if (ids.dim() != 2) throw std::invalid_argument("token ids must be [batch, tokens]");
  return generateGreedyFromEmbeddings(embed(ids), options);
}

GreedyResult LlamaModel::generateGreedyFromEmbeddings(const at::Tensor& embeds, const GreedyOptions& options) const {
  if (embeds.dim() != 3) throw std::invalid_argument("input embeddings must be [batch, tokens, hidden]");
  if (options.maxNewTokens < 1) throw std::invalid_argument("maxNewTokens must be positive");
  const int64_t B = embeds.size(0);
  LlamaKvCache cache = newCache(B, embeds.size(1) + options.maxNewTokens);
  c10::InferenceMode guard;
  LlamaOutput out = forwardEmbeddings(embeds, &cache, true, true);
  std::vector<at::Tensor> tokens, stepLogits;
  at::Tensor finished = at::zeros({B}, at::TensorOptions().dtype(at::kBool).device(impl_->device));
  for (int64_t step = 0; step < options.maxNewTokens; ++step) {
    const at::Tensor logits = out.logits.select(1, out.logits.size(1) - 1);  // [B, vocab]
    at::Tensor next = logits.argmax(-1);
    if (options.eosTokenId >= 0) {
      next = at::where(finished, at::full_like(next, options.eosTokenId), next);
      finished = finished.logical_or(next == options.eosTokenId);
    }
    tokens.push_back(next);
    stepLogits.push_back(logits);
    if (step + 1 == options.maxNewTokens) break;
    if (options.eosTokenId >= 0 && finished.all().item<bool>()) break;
    out = forward(next.unsqueeze(1), &cache, true, true);
  }
  return {at::stack(tokens, 1), at::stack(stepLogits, 1)};
}

// ---- training --------------------------------------------------------------------------

at::Tensor LlamaModel::embedForTraining(const at::Tensor& ids) const {
  if (ids.dim() != 2) throw std::invalid_argument("token ids must be [batch, tokens]");
  return at::embedding(impl_->net->model->embed_tokens->weight, ids.to(impl_->device, at::kLong));
}

LlamaOutput LlamaModel::trainForward(const at::Tensor& embeds, const at::Tensor& attentionMask,
                                     const LlamaForwardOptions& options) const {
  const auto& c = impl_->config;
  if (embeds.dim() != 3 || embeds.size(2) != c.hiddenSize)
    throw std::invalid_argument("input embeddings must be [batch, tokens, " + std::to_string(c.hiddenSize) + "]");
  const int64_t B = embeds.size(0), T = embeds.size(1);
  if (T < 1 || B < 1) throw std::invalid_argument("no input positions");
  if (attentionMask.defined() && (attentionMask.dim() != 2 || attentionMask.size(0) != B || attentionMask.size(1) != T))
    throw std::invalid_argument("attention mask must be [batch, tokens] like the embeddings");
  if (c10::InferenceMode::is_enabled()) throw std::logic_error("trainForward called inside an inference-mode scope");
  at::AutoGradMode gradMode(options.grad);
  at::Tensor h = embeds.to(impl_->device, impl_->dtype);
  if (h.is_inference()) h = h.clone();  // embed() output: inference tensors cannot be saved for backward
  const auto boolOpts = at::TensorOptions().dtype(at::kBool).device(impl_->device);
  const at::Tensor keep = attentionMask.defined() ? attentionMask.to(impl_->device) != 0 : at::ones({B, T}, boolOpts);
  // Positions count real tokens, so left padding shifts nothing.
  const at::Tensor positions = (keep.to(at::kLong).cumsum(1) - 1).clamp_min(0);
  // Dynamic NTK reads the longest real sequence, as transformers' max position + 1.
  const int64_t seqLen = c.ropeScaling == RopeScaling::Dynamic ? positions.max().item<int64_t>() + 1 : T;
  auto [cos, sin] = impl_->rotaryAt(positions, seqLen);  // [B, T, headDim]
  cos = cos.unsqueeze(1), sin = sin.unsqueeze(1);      // broadcast over heads
  const auto longOpts = at::TensorOptions().dtype(at::kLong).device(impl_->device);
  const at::Tensor idx = at::arange(T, longOpts);
  const at::Tensor causal = idx.unsqueeze(0) <= idx.unsqueeze(1);  // [query, key]
  // Padding keys are never seen; a padding query sees itself so its softmax stays finite.
  const at::Tensor allowed =
      ((causal.unsqueeze(0) & keep.unsqueeze(1)) | at::eye(T, boolOpts).unsqueeze(0)).unsqueeze(1);  // [B,1,T,T]
  const bool checkpoint = options.checkpointLayers && options.grad;
  const auto implAddress = reinterpret_cast<int64_t>(impl_.get());
  for (std::size_t i = 0; i < impl_->net->model->layers->size(); ++i) {
    if (checkpoint) {
      const std::vector<at::Tensor> trainable = impl_->trainableTensors(i);
      h = Impl::CheckpointedLayer::apply(implAddress, static_cast<int64_t>(i), h, cos, sin, allowed,
                                         at::TensorList(trainable))[0];
    } else {
      h = impl_->layerForward(i, h, cos, sin, nullptr, 0, allowed);
    }
  }
  LlamaOutput out;
  out.hidden = impl_->net->model->norm->forward(h);
  if (options.logits)
    out.logits = at::linear(out.hidden, impl_->lmHeadWeight()).to(at::promote_types(impl_->dtype, at::kFloat));
  return out;
}

std::vector<std::string> LlamaModel::adaptableModules() const {
  std::vector<std::string> out;
  for (int64_t i = 0; i < impl_->config.numLayers; ++i)
    for (const char* name : kSlotNames) out.push_back("model.layers." + std::to_string(i) + "." + name);
  return out;
}

namespace {
// "model.layers.N.<slot>" -> (N, slot); throws std::invalid_argument otherwise.
std::pair<std::size_t, Slot> parseModule(const std::string& module, int64_t numLayers) {
  const std::string head = "model.layers.";
  if (startsWith(module, head)) {
    const std::size_t dot = module.find('.', head.size());
    const std::string number = module.substr(head.size(), dot == std::string::npos ? 0 : dot - head.size());
    if (!number.empty() && number.find_first_not_of("0123456789") == std::string::npos && number.size() < 9) {
      const int64_t layer = std::stoll(number);
      const std::string rest = module.substr(dot + 1);
      for (int s = 0; s < kSlots; ++s)
        if (layer < numLayers && rest == kSlotNames[static_cast<std::size_t>(s)])
          return {static_cast<std::size_t>(layer), static_cast<Slot>(s)};
    }
  }
  throw std::invalid_argument("no adaptable linear layer named \"" + module + "\"");
}
}  // namespace

void LlamaModel::setAdapter(const std::string& module, std::shared_ptr<const LlamaLinearAdapter> adapter) {
  const auto [layer, slot] = parseModule(module, impl_->config.numLayers);
  if (adapter && !impl_->int8.empty())
    throw std::logic_error("cannot attach an adapter to " + module +
                           ": the model's weights are int8 (merge adapters first)");
  impl_->adapters[layer][slot] = std::move(adapter);
}

std::shared_ptr<const LlamaLinearAdapter> LlamaModel::adapter(const std::string& module) const {
  const auto [layer, slot] = parseModule(module, impl_->config.numLayers);
  return impl_->adapters[layer][slot];
}

void LlamaModel::setAdaptersEnabled(bool enabled) { impl_->adaptersEnabled = enabled; }
bool LlamaModel::adaptersEnabled() const { return impl_->adaptersEnabled; }

namespace {
void refuseInt8(bool int8, const std::string& what) {
  if (int8)
    throw std::logic_error(what + ": the decoder's linear weights are int8 (quantizeInt8), not float parameters");
}
}  // namespace

void LlamaModel::quantizeInt8() {
  if (!impl_->int8.empty()) return;
  for (const auto& layer : impl_->adapters)
    for (const auto& a : layer)
      if (a) throw std::logic_error("quantizeInt8: detach or merge the model's adapters first");
  at::NoGradGuard noGrad;
  std::vector<std::array<Impl::Int8Weight, kSlots>> out(static_cast<std::size_t>(impl_->config.numLayers));
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto& layer = *impl_->net->model->layers->ptr<DecoderLayer>(i);
    const std::array<torch::nn::Linear*, kSlots> linears = {
        &layer.self_attn->q_proj, &layer.self_attn->k_proj, &layer.self_attn->v_proj, &layer.self_attn->o_proj,
        &layer.mlp->gate_proj,    &layer.mlp->up_proj,      &layer.mlp->down_proj};
    for (int slot = 0; slot < kSlots; ++slot) {
      at::Tensor& w = (*linears[static_cast<std::size_t>(slot)])->weight;
      const at::Tensor wf = w.to(at::kFloat);  // one matrix at a time in fp32
      const at::Tensor scale = wf.abs().amax(1).clamp_min(1e-30) / 127.0;
      out[i][static_cast<std::size_t>(slot)] = {at::round(wf / scale.unsqueeze(1)).clamp_(-127, 127).to(at::kChar),
                                                scale};
      w.set_(at::empty({0}, w.options()));  // frees the float rows (or lets go of the mapped file's)
    }
  }
  impl_->int8 = std::move(out);
}

bool LlamaModel::isInt8() const {
  return !impl_->int8.empty();
}

int64_t LlamaModel::weightBytes() const {
  int64_t bytes = 0;
  for (const auto& p : impl_->net->parameters(true)) bytes += p.numel() * static_cast<int64_t>(p.element_size());
  for (const auto& layer : impl_->int8)
    for (const auto& w : layer)
      if (w.q.defined()) bytes += w.q.numel() + w.scale.numel() * static_cast<int64_t>(w.scale.element_size());
  return bytes;
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::namedParameters() const {
  refuseInt8(isInt8(), "namedParameters");
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

at::Tensor LlamaModel::parameter(const std::string& name) const {
  refuseInt8(isInt8() && name.find("_proj.weight") != std::string::npos, name);
  const auto params = impl_->net->named_parameters(true);
  if (const auto* p = params.find(name)) return *p;
  throw std::out_of_range("language model has no parameter \"" + name + "\"");
}

void LlamaModel::setRequiresGrad(bool requiresGrad) {
  for (auto& p : impl_->net->parameters(true)) p.set_requires_grad(requiresGrad);
}

}  // namespace caig
