#include "models/clip_vision.h"

#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/nn/clip_encoder.h"
#include "models/nn/load_weights.h"

namespace caig {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

clip::EncoderOptions encoderOptions(const ClipVisionConfig& c) {
  clip::EncoderOptions o;
  o.hiddenSize = c.hiddenSize;
  o.intermediateSize = c.intermediateSize;
  o.numHiddenLayers = c.numHiddenLayers;
  o.numAttentionHeads = c.numAttentionHeads;
  o.act = clip::activationOf(c.hiddenAct, "CLIP vision model");
  o.layerNormEps = c.layerNormEps;
  return o;
}

struct VisionEmbeddings : torch::nn::Module {
  explicit VisionEmbeddings(const ClipVisionConfig& c) {
    classEmbedding = register_parameter("class_embedding", at::zeros({c.hiddenSize}));
    patch = register_module("patch_embedding",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(c.numChannels, c.hiddenSize, c.patchSize)
                                                  .stride(c.patchSize)
                                                  .bias(false)));
    position = register_module("position_embedding", torch::nn::Embedding(c.numPatches() + 1, c.hiddenSize));
  }
  // [B, C, H, W] -> [B, 1 + P, hidden]
  at::Tensor forward(const at::Tensor& pixels) {
    const at::Tensor patches = patch->forward(pixels).flatten(2).transpose(1, 2);
    const int64_t b = patches.size(0), c = patches.size(2);
    const at::Tensor cls = classEmbedding.view({1, 1, c}).expand({b, 1, c});
    return at::cat({cls, patches}, 1) + position->weight.unsqueeze(0);
  }
  at::Tensor classEmbedding;
  torch::nn::Conv2d patch{nullptr};
  torch::nn::Embedding position{nullptr};
};

struct VisionTransformer : torch::nn::Module {
  explicit VisionTransformer(const ClipVisionConfig& c) {
    embeddings = register_module("embeddings", std::make_shared<VisionEmbeddings>(c));
    preNorm = register_module("pre_layrnorm", clip::layerNorm(c.hiddenSize, c.layerNormEps));
    encoder = register_module("encoder", std::make_shared<clip::Encoder>(encoderOptions(c)));
  }
  std::shared_ptr<VisionEmbeddings> embeddings;
  torch::nn::LayerNorm preNorm{nullptr};
  std::shared_ptr<clip::Encoder> encoder;
};

struct Projector : torch::nn::Module {
  Projector(int64_t in, int64_t out, LlavaProjectorType type) : type_(type) {
    linear1 = register_module("linear_1", torch::nn::Linear(in, out));
    if (type == LlavaProjectorType::Mlp2xGelu) linear2 = register_module("linear_2", torch::nn::Linear(out, out));
  }
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor h = linear1->forward(x);
    return type_ == LlavaProjectorType::Mlp2xGelu ? linear2->forward(at::gelu(h)) : h;
  }
  LlavaProjectorType type_;
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
};

struct LlavaVisionNet : torch::nn::Module {
  explicit LlavaVisionNet(const LlavaVisionConfig& c) {
    visionModel = register_module("vision_model", std::make_shared<VisionTransformer>(c.vision));
    projector = register_module("projector", std::make_shared<Projector>(c.vision.hiddenSize, c.textHiddenSize, c.projector));
  }
  std::shared_ptr<VisionTransformer> visionModel;
  std::shared_ptr<Projector> projector;
};

int positiveField(const nlohmann::json& j, const char* key, int fallback) {
  const int v = j.value(key, fallback);
  if (v < 1) throw io::FormatError(std::string(key) + " must be positive");
  return v;
}

struct LayoutNames {
  std::string vision;      // checkpoint prefix of module "vision_model."
  std::string projector1;  // of "projector.linear_1."
  std::string projector2;  // of "projector.linear_2."
  std::string projectorRoot;
};

LayoutNames layoutNames(LlavaLayout layout) {
  if (layout == LlavaLayout::Transformers)
    return {"vision_tower.vision_model.", "multi_modal_projector.linear_1.", "multi_modal_projector.linear_2.",
            "multi_modal_projector."};
  return {"model.vision_tower.vision_tower.vision_model.", "model.mm_projector.0.", "model.mm_projector.2.",
          "model.mm_projector."};
}

}  // namespace

ClipVisionConfig clipVisionConfigFromJson(const nlohmann::json& j) {
  try {
    const std::string type = j.value("model_type", std::string("clip_vision_model"));
    if (type != "clip_vision_model")
      throw io::FormatError("vision_config: model_type \"" + type + "\" is not a CLIP vision model");
    ClipVisionConfig c;
    c.hiddenSize = positiveField(j, "hidden_size", c.hiddenSize);
    c.intermediateSize = positiveField(j, "intermediate_size", c.intermediateSize);
    c.numHiddenLayers = positiveField(j, "num_hidden_layers", c.numHiddenLayers);
    c.numAttentionHeads = positiveField(j, "num_attention_heads", c.numAttentionHeads);
    c.numChannels = positiveField(j, "num_channels", c.numChannels);
    c.imageSize = positiveField(j, "image_size", c.imageSize);
    c.patchSize = positiveField(j, "patch_size", c.patchSize);
    c.hiddenAct = j.value("hidden_act", c.hiddenAct);
    c.layerNormEps = j.value("layer_norm_eps", c.layerNormEps);
    if (c.hiddenSize % c.numAttentionHeads)
      throw io::FormatError("vision_config: hidden_size is not a multiple of num_attention_heads");
    if (c.imageSize % c.patchSize) throw io::FormatError("vision_config: image_size is not a multiple of patch_size");
    if (!(c.layerNormEps > 0)) throw io::FormatError("vision_config: layer_norm_eps must be positive");
    clip::activationOf(c.hiddenAct, "vision_config");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(std::string("vision_config: ") + e.what());
  }
}

LlavaVisionConfig llavaVisionConfigFromJson(const nlohmann::json& j) {
  try {
    if (!j.contains("vision_config") || !j["vision_config"].is_object())
      throw io::FormatError("LLaVA config has no vision_config object");
    LlavaVisionConfig c;
    c.vision = clipVisionConfigFromJson(j["vision_config"]);
    std::string strategy;
    if (j.contains("mm_projector_type") || j.contains("mm_vision_select_layer") || j.contains("mm_hidden_size")) {
      // Original LLaVA (LlavaLlamaForCausalLM): builder.py's defaults.
      const std::string type = j.value("mm_projector_type", std::string("linear"));
      if (type == "linear")
        c.projector = LlavaProjectorType::Linear;
      else if (type == "mlp2x_gelu")
        c.projector = LlavaProjectorType::Mlp2xGelu;
      else
        throw io::FormatError("unsupported mm_projector_type \"" + type + "\"");
      c.textHiddenSize = j.value("hidden_size", c.textHiddenSize);
      c.featureLayer = j.value("mm_vision_select_layer", c.featureLayer);
      strategy = j.value("mm_vision_select_feature", std::string("patch"));
      if (j.contains("mm_hidden_size") && j["mm_hidden_size"].get<int>() != c.vision.hiddenSize)
        throw io::FormatError("mm_hidden_size differs from vision_config.hidden_size");
    } else {
      // transformers LlavaConfig: the projector is always linear_1, act, linear_2.
      const std::string act = j.value("projector_hidden_act", std::string("gelu"));
      if (act != "gelu") throw io::FormatError("unsupported projector_hidden_act \"" + act + "\"");
      c.projector = LlavaProjectorType::Mlp2xGelu;
      c.textHiddenSize = 4096;  // LlamaConfig's default
      if (j.contains("text_config") && j["text_config"].is_object())
        c.textHiddenSize = j["text_config"].value("hidden_size", c.textHiddenSize);
      c.featureLayer = j.value("vision_feature_layer", c.featureLayer);
      strategy = j.value("vision_feature_select_strategy", std::string("default"));
    }
    if (strategy == "default" || strategy == "patch")
      c.keepCls = false;
    else if (strategy == "full" || strategy == "cls_patch")
      c.keepCls = true;
    else
      throw io::FormatError("unsupported vision feature select strategy \"" + strategy + "\"");
    const int layers = c.vision.numHiddenLayers;
    if (c.featureLayer < -(layers + 1) || c.featureLayer > layers)
      throw io::FormatError("vision feature layer " + std::to_string(c.featureLayer) + " outside the " +
                            std::to_string(layers) + "-layer tower");
    if (c.textHiddenSize < 1) throw io::FormatError("text hidden_size must be positive");
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(std::string("LLaVA config: ") + e.what());
  }
}

LlavaVisionConfig readLlavaVisionConfig(const std::filesystem::path& modelDir) {
  const auto path = modelDir / "config.json";
  const auto root = io::readJsonFile(path);
  try {
    return llavaVisionConfigFromJson(root);
  } catch (const io::FormatError& e) {
    throw io::FormatError(path.string() + ": " + e.what());
  }
}

WeightNaming llavaVisionWeightNaming(LlavaLayout layout, LlavaProjectorType projector) {
  LayoutNames n = layoutNames(layout);
  // The original layout's `linear` projector is the nn.Linear itself: model.mm_projector.weight.
  if (layout == LlavaLayout::Original && projector == LlavaProjectorType::Linear) n.projector1 = n.projectorRoot;
  WeightNaming naming;
  naming.checkpointKey = [n](const std::string& name) {
    static const std::string vision = "vision_model.", p1 = "projector.linear_1.", p2 = "projector.linear_2.";
    if (startsWith(name, vision)) return n.vision + name.substr(vision.size());
    if (startsWith(name, p2)) return n.projector2 + name.substr(p2.size());
    if (startsWith(name, p1)) return n.projector1 + name.substr(p1.size());
    return name;
  };
  naming.ignore = [n](const std::string& key) {
    if (startsWith(key, n.vision))
      return startsWith(key, n.vision + "post_layernorm.") || key == n.vision + "embeddings.position_ids";
    return !startsWith(key, n.projectorRoot);  // the language model, image_newline, ...
  };
  return naming;
}

LlavaLayout detectLlavaLayout(const io::Checkpoint& checkpoint) {
  for (const LlavaLayout layout : {LlavaLayout::Transformers, LlavaLayout::Original})
    if (checkpoint.contains(layoutNames(layout).vision + "embeddings.class_embedding")) return layout;
  throw io::FormatError("LLaVA checkpoint holds no CLIP vision tower (vision_tower.vision_model.* or "
                        "model.vision_tower.vision_tower.vision_model.*)");
}

struct LlavaVisionModel::Impl {
  LlavaVisionConfig config;
  std::shared_ptr<LlavaVisionNet> net;
  c10::Device device{c10::kCPU};
};

LlavaVisionModel::LlavaVisionModel(const LlavaVisionConfig& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->net = std::make_shared<LlavaVisionNet>(config);
  impl_->net->eval();
}
LlavaVisionModel::~LlavaVisionModel() = default;
LlavaVisionModel::LlavaVisionModel(LlavaVisionModel&&) noexcept = default;
LlavaVisionModel& LlavaVisionModel::operator=(LlavaVisionModel&&) noexcept = default;

void checkLlavaVisionConfig(const LlavaVisionConfig& c, const io::Checkpoint& tower, const WeightNaming& towerNaming,
                            const io::Checkpoint& projector, const WeightNaming& projectorNaming,
                            const std::string& configName) {
  auto key = [](const WeightNaming& naming, const std::string& name) {
    return naming.checkpointKey ? naming.checkpointKey(name) : name;
  };
  const io::ConfigCheck check(tower, configName);
  const auto& v = c.vision;
  const std::string emb = "vision_model.embeddings.";
  check.shape(key(towerNaming, emb + "patch_embedding.weight"), {v.hiddenSize, v.numChannels, v.patchSize, v.patchSize},
              "vision_config hidden_size, num_channels and patch_size");
  const int64_t side = v.imageSize / v.patchSize;  // the config reader checked patch_size > 0
  check.shape(key(towerNaming, emb + "position_embedding.weight"), {side * side + 1, v.hiddenSize},
              "vision_config image_size, patch_size and hidden_size");
  check.count(key(towerNaming, "vision_model.encoder.layers."), ".self_attn.q_proj.weight", v.numHiddenLayers,
              "vision_config num_hidden_layers");
  check.shape(key(towerNaming, "vision_model.encoder.layers.0.mlp.fc1.weight"), {v.intermediateSize, v.hiddenSize},
              "vision_config intermediate_size and hidden_size");
  const io::ConfigCheck projectorCheck(projector, configName);
  projectorCheck.shape(key(projectorNaming, "projector.linear_1.weight"), {c.textHiddenSize, v.hiddenSize},
                       "the text hidden_size and vision_config hidden_size");
  if (c.projector == LlavaProjectorType::Mlp2xGelu) {
    projectorCheck.shape(key(projectorNaming, "projector.linear_2.weight"), {c.textHiddenSize, c.textHiddenSize},
                         "the text hidden_size");
  }
}

LlavaVisionModel LlavaVisionModel::load(const std::filesystem::path& modelDir, c10::Device device) {
  const LlavaVisionConfig config = readLlavaVisionConfig(modelDir);
  const auto checkpoint = io::Checkpoint::open(modelDir);
  const WeightNaming naming = llavaVisionWeightNaming(detectLlavaLayout(checkpoint), config.projector);
  checkLlavaVisionConfig(config, checkpoint, naming, checkpoint, naming, (modelDir / "config.json").string());
  LlavaVisionModel model(config);
  model.loadWeights(checkpoint);
  model.to(device);
  return model;
}

const LlavaVisionConfig& LlavaVisionModel::config() const { return impl_->config; }

std::vector<std::pair<std::string, std::vector<int64_t>>> LlavaVisionModel::expectedTensors() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : impl_->net->named_parameters(true)) out.emplace_back(p.key(), p.value().sizes().vec());
  return out;
}

void LlavaVisionModel::loadWeights(const io::Checkpoint& checkpoint, LlavaLayout layout) {
  loadModuleWeights(*impl_->net, checkpoint, "LLaVA vision tower", llavaVisionWeightNaming(layout, impl_->config.projector));
}

void LlavaVisionModel::loadWeights(const io::Checkpoint& checkpoint) {
  loadWeights(checkpoint, detectLlavaLayout(checkpoint));
}

void LlavaVisionModel::loadWeights(const io::Checkpoint& tower, const io::Checkpoint& projector,
                                   LlavaLayout projectorLayout) {
  // The projector first, into a module of its own: when the tower then fails to load (or the
  // projector did), nothing of this model has changed.
  const auto& c = impl_->config;
  Projector fresh(c.vision.hiddenSize, c.textHiddenSize, c.projector);
  const WeightNaming full = llavaVisionWeightNaming(projectorLayout, c.projector);
  WeightNaming projectorNaming;
  projectorNaming.checkpointKey = [full](const std::string& name) { return full.checkpointKey("projector." + name); };
  const std::string root = layoutNames(projectorLayout).projectorRoot;
  projectorNaming.ignore = [root](const std::string& key) { return !startsWith(key, root); };
  loadModuleWeights(fresh, projector, "LLaVA projector", projectorNaming);

  WeightNaming towerNaming;
  towerNaming.checkpointKey = [](const std::string& name) { return "vision_model." + name; };
  towerNaming.ignore = [](const std::string& key) {
    return !startsWith(key, "vision_model.") || startsWith(key, "vision_model.post_layernorm.") ||
           key == "vision_model.embeddings.position_ids";
  };
  loadModuleWeights(*impl_->net->visionModel, tower, "CLIP vision tower", towerNaming);

  at::NoGradGuard noGrad;
  auto target = impl_->net->projector->named_parameters(true);
  for (const auto& p : fresh.named_parameters(true)) target[p.key()].copy_(p.value());
}

void LlavaVisionModel::to(c10::Device device) {
  impl_->net->to(device);
  impl_->device = device;
}

void LlavaVisionModel::to(c10::Device device, c10::ScalarType dtype) {
  if (!at::isFloatingType(dtype)) throw std::invalid_argument("LLaVA vision tower dtype must be floating point");
  impl_->net->to(device, dtype);
  impl_->device = device;
}

c10::Device LlavaVisionModel::device() const { return impl_->device; }
c10::ScalarType LlavaVisionModel::dtype() const { return impl_->net->visionModel->embeddings->classEmbedding.scalar_type(); }

at::Tensor LlavaVisionModel::visionHiddenStates(const at::Tensor& pixelValues) const {
  const auto& c = impl_->config.vision;
  if (pixelValues.dim() != 4 || pixelValues.size(1) != c.numChannels || pixelValues.size(2) != c.imageSize ||
      pixelValues.size(3) != c.imageSize || !at::isFloatingType(pixelValues.scalar_type()))
    throw std::invalid_argument("CLIP vision pixel_values must be float [B, " + std::to_string(c.numChannels) + ", " +
                                std::to_string(c.imageSize) + ", " + std::to_string(c.imageSize) + "]");
  c10::InferenceMode guard;
  auto& vm = *impl_->net->visionModel;
  const at::Tensor pixels = pixelValues.to(impl_->device, vm.embeddings->classEmbedding.scalar_type());
  // hidden_states = (pre_layrnorm(embeddings), layer 1, ..., layer N).
  at::Tensor h = vm.preNorm->forward(vm.embeddings->forward(pixels));
  const auto& layers = vm.encoder->layerPtrs;
  const int n = static_cast<int>(layers.size());
  const int fl = impl_->config.featureLayer;
  const int index = fl < 0 ? n + 1 + fl : fl;
  const at::Tensor noMask;
  for (int i = 0; i < index; ++i) h = layers[static_cast<std::size_t>(i)]->forward(h, noMask);
  return h;
}

at::Tensor LlavaVisionModel::project(const at::Tensor& features) const {
  if (features.dim() < 1 || features.size(-1) != impl_->config.vision.hiddenSize)
    throw std::invalid_argument("LLaVA projector input must end in the vision hidden size " +
                                std::to_string(impl_->config.vision.hiddenSize));
  c10::InferenceMode guard;
  const auto& w = impl_->net->projector->linear1->weight;
  return impl_->net->projector->forward(features.to(impl_->device, w.scalar_type()));
}

at::Tensor LlavaVisionModel::imageFeatures(const at::Tensor& pixelValues) const {
  const at::Tensor h = visionHiddenStates(pixelValues);
  return project(impl_->config.keepCls ? h : h.narrow(1, 1, h.size(1) - 1));
}

}  // namespace caig
