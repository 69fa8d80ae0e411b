#pragma once
// Internal to caig_models: the CLIP transformer encoder shared by the text (clip_text.cpp) and
// vision (clip_vision.cpp) towers. Pre-LayerNorm layers: self-attention (q/k/v/out_proj with
// biases, optional additive mask) and an MLP (fc1, activation, fc2). Module names are
// transformers' (self_attn.q_proj, layer_norm1, mlp.fc1, ..., encoder.layers.N), so they are
// the checkpoint keys. Includes LibTorch's module headers: not for torch-light public headers.

#include <ATen/Functions.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "models/io/errors.h"

namespace caig::clip {

enum class Act { QuickGelu, Gelu, GeluTanh };

// `what` names the model in the error message.
inline Act activationOf(const std::string& name, const std::string& what) {
  if (name == "quick_gelu") return Act::QuickGelu;
  if (name == "gelu") return Act::Gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Act::GeluTanh;
  throw io::FormatError(what + ": unsupported hidden_act \"" + name + "\"");
}

inline at::Tensor activate(const at::Tensor& x, Act act) {
  switch (act) {
    case Act::QuickGelu: return x * at::sigmoid(1.702 * x);
    case Act::Gelu: return at::gelu(x);
    case Act::GeluTanh: return at::gelu(x, "tanh");
  }
  return x;
}

struct EncoderOptions {
  int hiddenSize = 768;
  int intermediateSize = 3072;
  int numHiddenLayers = 12;
  int numAttentionHeads = 12;
  Act act = Act::QuickGelu;
  double layerNormEps = 1e-5;
};

inline torch::nn::LayerNorm layerNorm(int hidden, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden}).eps(eps));
}

struct Attention : torch::nn::Module {
  Attention(int hidden, int heads) : heads_(heads), headDim_(hidden / heads) {
    q = register_module("q_proj", torch::nn::Linear(hidden, hidden));
    k = register_module("k_proj", torch::nn::Linear(hidden, hidden));
    v = register_module("v_proj", torch::nn::Linear(hidden, hidden));
    out = register_module("out_proj", torch::nn::Linear(hidden, hidden));
  }
  // x: [B, T, C]; mask: [T, T] additive, or undefined for full (bidirectional) attention.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) {
    const int64_t b = x.size(0), t = x.size(1), c = x.size(2);
    auto split = [&](const at::Tensor& y) { return y.view({b, t, heads_, headDim_}).transpose(1, 2); };
    const at::Tensor qh = split(q->forward(x) * (1.0 / std::sqrt(static_cast<double>(headDim_))));
    const at::Tensor kh = split(k->forward(x));
    const at::Tensor vh = split(v->forward(x));
    at::Tensor scores = at::matmul(qh, kh.transpose(-2, -1));
    if (mask.defined()) scores = scores + mask;
    const at::Tensor weights = at::softmax(scores, -1);
    return out->forward(at::matmul(weights, vh).transpose(1, 2).reshape({b, t, c}));
  }
  int64_t heads_, headDim_;
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr};
};

struct Mlp : torch::nn::Module {
  Mlp(int hidden, int intermediate, Act act) : act_(act) {
    fc1 = register_module("fc1", torch::nn::Linear(hidden, intermediate));
    fc2 = register_module("fc2", torch::nn::Linear(intermediate, hidden));
  }
  at::Tensor forward(const at::Tensor& x) { return fc2->forward(activate(fc1->forward(x), act_)); }
  Act act_;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};

struct EncoderLayer : torch::nn::Module {
  explicit EncoderLayer(const EncoderOptions& o) {
    attn = register_module("self_attn", std::make_shared<Attention>(o.hiddenSize, o.numAttentionHeads));
    ln1 = register_module("layer_norm1", layerNorm(o.hiddenSize, o.layerNormEps));
    mlp = register_module("mlp", std::make_shared<Mlp>(o.hiddenSize, o.intermediateSize, o.act));
    ln2 = register_module("layer_norm2", layerNorm(o.hiddenSize, o.layerNormEps));
  }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) {
    const at::Tensor h = x + attn->forward(ln1->forward(x), mask);
    return h + mlp->forward(ln2->forward(h));
  }
  std::shared_ptr<Attention> attn;
  std::shared_ptr<Mlp> mlp;
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
};

// "encoder": layers.0 .. layers.N-1.
struct Encoder : torch::nn::Module {
  explicit Encoder(const EncoderOptions& o) {
    layers = register_module("layers", torch::nn::ModuleList());
    for (int i = 0; i < o.numHiddenLayers; ++i) {
      auto layer = std::make_shared<EncoderLayer>(o);
      layers->push_back(layer);
      layerPtrs.push_back(layer);
    }
  }
  torch::nn::ModuleList layers{nullptr};
  std::vector<std::shared_ptr<EncoderLayer>> layerPtrs;
};

}  // namespace caig::clip
