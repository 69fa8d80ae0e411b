#include "models/clip_text.h"

#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/nn/clip_encoder.h"
#include "models/nn/load_weights.h"

namespace caig {
namespace {

using clip::activationOf;

clip::EncoderOptions encoderOptions(const ClipTextConfig& c) {
  clip::EncoderOptions o;
  o.hiddenSize = c.hiddenSize;
  o.intermediateSize = c.intermediateSize;
  o.numHiddenLayers = c.numHiddenLayers;
  o.numAttentionHeads = c.numAttentionHeads;
  o.act = activationOf(c.hiddenAct, "CLIP text model");
  o.layerNormEps = c.layerNormEps;
  return o;
}

struct ClipEmbeddings : torch::nn::Module {
  explicit ClipEmbeddings(const ClipTextConfig& c) {
    token = register_module("token_embedding", torch::nn::Embedding(c.vocabSize, c.hiddenSize));
    position = register_module("position_embedding", torch::nn::Embedding(c.maxPositionEmbeddings, c.hiddenSize));
  }
  torch::nn::Embedding token{nullptr}, position{nullptr};
};

struct ClipTextTransformer : torch::nn::Module {
  explicit ClipTextTransformer(const ClipTextConfig& c) {
    embeddings = register_module("embeddings", std::make_shared<ClipEmbeddings>(c));
    encoder = register_module("encoder", std::make_shared<clip::Encoder>(encoderOptions(c)));
    finalNorm = register_module("final_layer_norm", clip::layerNorm(c.hiddenSize, c.layerNormEps));
  }
  std::shared_ptr<ClipEmbeddings> embeddings;
  std::shared_ptr<clip::Encoder> encoder;
  torch::nn::LayerNorm finalNorm{nullptr};
};

struct ClipTextNet : torch::nn::Module {
  explicit ClipTextNet(const ClipTextConfig& c) {
    textModel = register_module("text_model", std::make_shared<ClipTextTransformer>(c));
  }
  std::shared_ptr<ClipTextTransformer> textModel;
};

int positiveField(const nlohmann::json& j, const char* key, int fallback, const std::string& file) {
  const int v = j.value(key, fallback);
  if (v < 1) throw io::FormatError(file + ": " + key + " must be positive");
  return v;
}

}  // namespace

struct ClipTextModel::Impl {
  ClipTextConfig config;
  std::shared_ptr<ClipTextNet> net;
  c10::Device device{c10::kCPU};
};

ClipTextConfig readClipTextConfig(const std::filesystem::path& modelDir) {
  const auto path = modelDir / "config.json";
  const auto root = io::readJsonFile(path);
  const std::string file = path.string();
  try {
    const std::string type = root.value("model_type", std::string());
    const nlohmann::json& j = (type == "clip" && root.contains("text_config")) ? root.at("text_config") : root;
    if (type != "clip_text_model" && type != "clip")
      throw io::FormatError(file + ": model_type \"" + type + "\" is not a CLIP text model");
    ClipTextConfig c;
    c.vocabSize = positiveField(j, "vocab_size", c.vocabSize, file);
    c.hiddenSize = positiveField(j, "hidden_size", c.hiddenSize, file);
    c.intermediateSize = positiveField(j, "intermediate_size", c.intermediateSize, file);
    c.numHiddenLayers = positiveField(j, "num_hidden_layers", c.numHiddenLayers, file);
    c.numAttentionHeads = positiveField(j, "num_attention_heads", c.numAttentionHeads, file);
    c.maxPositionEmbeddings = positiveField(j, "max_position_embeddings", c.maxPositionEmbeddings, file);
    c.hiddenAct = j.value("hidden_act", c.hiddenAct);
    c.layerNormEps = j.value("layer_norm_eps", c.layerNormEps);
    if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) c.bosTokenId = j["bos_token_id"].get<int64_t>();
    if (j.contains("eos_token_id") && !j["eos_token_id"].is_null()) c.eosTokenId = j["eos_token_id"].get<int64_t>();
    if (j.contains("pad_token_id") && !j["pad_token_id"].is_null()) c.padTokenId = j["pad_token_id"].get<int64_t>();
    if (c.hiddenSize % c.numAttentionHeads)
      throw io::FormatError(file + ": hidden_size is not a multiple of num_attention_heads");
    activationOf(c.hiddenAct, file);  // refuse unknown activations at load time
    if (!(c.layerNormEps > 0)) throw io::FormatError(file + ": layer_norm_eps must be positive");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(file + ": " + e.what());
  }
}

ClipTextModel::ClipTextModel(const ClipTextConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<ClipTextNet>(config);
  impl_->net->eval();
}
ClipTextModel::~ClipTextModel() = default;
ClipTextModel::ClipTextModel(ClipTextModel&&) noexcept = default;
ClipTextModel& ClipTextModel::operator=(ClipTextModel&&) noexcept = default;

ClipTextModel ClipTextModel::load(const std::filesystem::path& modelDir, c10::Device device) {
  const ClipTextConfig c = readClipTextConfig(modelDir);
  const auto checkpoint = io::Checkpoint::open(modelDir);
  {  // the config's sizes against the weights, before anything is allocated
    const io::ConfigCheck check(checkpoint, "'" + (modelDir / "config.json").string() + "'");
    const std::string t = "text_model.";
    check.shape(t + "embeddings.token_embedding.weight", {c.vocabSize, c.hiddenSize}, "vocab_size and hidden_size");
    check.shape(t + "embeddings.position_embedding.weight", {c.maxPositionEmbeddings, c.hiddenSize},
                "max_position_embeddings and hidden_size");
    check.count(t + "encoder.layers.", ".self_attn.q_proj.weight", c.numHiddenLayers, "num_hidden_layers");
    check.shape(t + "encoder.layers.0.mlp.fc1.weight", {c.intermediateSize, c.hiddenSize},
                "intermediate_size and hidden_size");
  }
  ClipTextModel model(c);
  model.loadWeights(checkpoint);
  model.to(device);
  return model;
}

const ClipTextConfig& ClipTextModel::config() const { return impl_->config; }

std::vector<std::pair<std::string, std::vector<int64_t>>> ClipTextModel::expectedTensors() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : impl_->net->named_buffers(true)) out.emplace_back(b.key(), b.value().sizes().vec());
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> ClipTextModel::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

void ClipTextModel::loadWeights(const io::Checkpoint& checkpoint) {
  WeightNaming naming;
  naming.ignore = [](const std::string& key) { return key == "text_model.embeddings.position_ids"; };
  loadModuleWeights(*impl_->net, checkpoint, "CLIP text", naming);
}

void ClipTextModel::loadWeights(const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::string& what) {
  loadModuleWeights(*impl_->net, checkpoint, what, naming);
}

void ClipTextModel::to(c10::Device device) {
  impl_->net->to(device);
  impl_->device = device;
}

c10::Device ClipTextModel::device() const { return impl_->device; }

ClipTextOutput ClipTextModel::forward(const at::Tensor& inputIds) const {
  const auto& c = impl_->config;
  if (inputIds.dim() != 2 || inputIds.size(1) < 1 || inputIds.size(1) > c.maxPositionEmbeddings ||
      at::isFloatingType(inputIds.scalar_type()) || inputIds.scalar_type() == at::kBool)
    throw std::invalid_argument("CLIP text input_ids must be integer [B, T] with 1 <= T <= " +
                                std::to_string(c.maxPositionEmbeddings));
  c10::InferenceMode guard;
  const at::Tensor ids = inputIds.to(impl_->device, at::kLong);
  if (ids.numel() && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= c.vocabSize))
    throw std::invalid_argument("CLIP text input_ids out of the vocabulary [0, " + std::to_string(c.vocabSize) + ")");
  const int64_t t = ids.size(1);
  auto& tm = *impl_->net->textModel;
  const at::Tensor positions = at::arange(t, ids.options());
  at::Tensor h = tm.embeddings->token->forward(ids) + tm.embeddings->position->forward(positions).unsqueeze(0);
  const at::Tensor mask =
      at::full({t, t}, -std::numeric_limits<float>::infinity(), h.options()).triu(1);

  ClipTextOutput out;
  const auto& layers = tm.encoder->layerPtrs;
  // hidden_states = (embeddings, layer 1, ..., layer n): [-2] is the input of the last layer.
  out.penultimateHiddenState = h;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (i + 1 == layers.size()) out.penultimateHiddenState = h;
    h = layers[i]->forward(h, mask);
  }
  out.lastHiddenState = tm.finalNorm->forward(h);
  const at::Tensor eosAt = c.eosTokenId == 2 ? ids.argmax(-1) : ids.eq(c.eosTokenId).to(at::kInt).argmax(-1);
  const int64_t b = ids.size(0), hidden = out.lastHiddenState.size(2);
  out.pooled = out.lastHiddenState.gather(1, eosAt.view({b, 1, 1}).expand({b, 1, hidden})).squeeze(1);
  return out;
}

at::Tensor ClipTextModel::finalLayerNorm(const at::Tensor& hidden) const {
  c10::InferenceMode guard;
  return impl_->net->textModel->finalNorm->forward(hidden.to(impl_->device));
}

at::Tensor weightedTextEmbeddings(const ClipTextModel& encoder, const std::vector<std::vector<int64_t>>& chunkIds,
                                  const std::vector<std::vector<float>>& chunkWeights, int clipSkip) {
  if (chunkIds.empty() || chunkIds.size() != chunkWeights.size()) {
    throw std::invalid_argument("weighted prompt: one weight list per chunk, at least one chunk");
  }
  if (clipSkip != 0 && clipSkip != 1) throw std::invalid_argument("weighted prompt: clip skip must be 0 or 1");
  c10::InferenceMode guard;
  std::vector<at::Tensor> out;
  for (std::size_t c = 0; c < chunkIds.size(); ++c) {
    if (chunkIds[c].size() != chunkWeights[c].size() || chunkIds[c].empty()) {
      throw std::invalid_argument("weighted prompt: a chunk's ids and weights differ in length");
    }
    const auto n = static_cast<int64_t>(chunkIds[c].size());
    const at::Tensor ids = at::tensor(chunkIds[c], at::kLong).view({1, n});
    const ClipTextOutput o = encoder.forward(ids);
    at::Tensor z = clipSkip == 0 ? o.lastHiddenState : encoder.finalLayerNorm(o.penultimateHiddenState);
    z = z.to(at::kFloat);
    const at::Tensor w = at::tensor(chunkWeights[c], at::kFloat).to(z.device()).view({1, n, 1});
    const at::Tensor before = z.mean();
    z = z * w;
    z = z * (before / z.mean());
    out.push_back(z);
  }
  return at::cat(out, 1);
}

}  // namespace caig
