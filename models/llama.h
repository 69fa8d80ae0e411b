#pragma once
// A LLaMA-family decoder-only language model (LLaMA, Qwen2, Mistral: the transformers
// LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM architecture) in LibTorch:
// RMSNorm, rotary position embeddings (rotate_half convention, optional linear or dynamic
// NTK scaling), grouped-query attention with optional q/k/v biases, a SiLU-gated MLP and a tied
// or untied lm_head. Prefill takes token ids or input embeddings (so a multimodal model can
// splice image features in); decoding continues from a KV cache allocated once per sequence
// budget. Parameter names are transformers' own (model.layers.N.self_attn.q_proj.weight, ...);
// LlamaKeyLayout maps them onto other checkpoint layouts (LLaVA's) in one place.
// Torch-light header: the modules live in llama.cpp.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

namespace caig::io {
class Checkpoint;
}

namespace caig {

enum class RopeScaling { None, Linear, Dynamic };

struct LlamaConfig {
  std::string modelType = "llama";  // "llama", "qwen2", "mistral"
  int64_t vocabSize = 32000;
  int64_t hiddenSize = 4096;
  int64_t intermediateSize = 11008;
  int64_t numLayers = 32;
  int64_t numHeads = 32;
  int64_t numKvHeads = 32;
  int64_t headDim = 128;  // hiddenSize / numHeads unless the config says head_dim
  int64_t maxPositions = 2048;
  double rmsNormEps = 1e-6;
  double ropeTheta = 10000.0;
  RopeScaling ropeScaling = RopeScaling::None;
  double ropeScalingFactor = 1.0;
  bool attentionBias = false;  // q/k/v (and o, for LLaMA's attention_bias) projections
  bool outputBias = false;     // o_proj bias (LLaMA attention_bias true); Qwen2 has none
  bool tieWordEmbeddings = false;
  int64_t bosTokenId = -1;  // -1: none
  int64_t eosTokenId = -1;  // the first one when the config lists several
};

// A transformers config.json object (model_type llama / qwen2 / mistral) with the library's
// defaults for omitted fields, or a LLaVA config's `text_config` (its model_type defaults to
// llama). Throws io::FormatError for an unknown model_type, a missing hidden_act "silu" or
// inconsistent sizes.
LlamaConfig llamaConfigFromJson(const nlohmann::json& config);
// config.json of a model folder; a LLaVA config (model_type "llava" or a text_config) gives
// its language model. Throws io::FileError / io::FormatError naming the file.
LlamaConfig readLlamaConfig(const std::filesystem::path& modelDir);

// Where the language model's tensors live in a checkpoint. Every checkpoint key is
// `prefix` + the transformers name (model.layers.0.mlp.up_proj.weight, lm_head.weight).
// Checkpoint keys starting with one of `foreignPrefixes` (or, with a non-empty prefix, keys
// outside it) belong to other parts of a larger model and are ignored; all others must match.
struct LlamaKeyLayout {
  std::string prefix;
  std::vector<std::string> foreignPrefixes;

  static LlamaKeyLayout causalLm();       // LlamaForCausalLM / Qwen2ForCausalLM
  static LlamaKeyLayout llavaHf();        // transformers LLaVA: language_model.model.*, language_model.lm_head.*
  static LlamaKeyLayout llavaOriginal();  // original LLaVA: model.*, lm_head.*, vision tower + projector skipped
  std::string checkpointKey(const std::string& moduleKey) const { return prefix + moduleKey; }
  bool isForeign(const std::string& checkpointKey) const;
};

// Refuses, before the model is built, a config whose sizes the checkpoint's weights do not have
// (vocab_size, hidden_size, num_hidden_layers, heads, intermediate_size): io::FormatError naming
// `configName` and the field.
void checkLlamaConfig(const LlamaConfig& config, const io::Checkpoint& checkpoint, const LlamaKeyLayout& layout,
                      const std::string& configName);

// Per-layer key/value cache: [batch, numKvHeads, capacity, headDim] each, filled up to length.
struct LlamaKvCache {
  std::vector<at::Tensor> keys, values;
  int64_t length = 0;
  int64_t capacity() const { return keys.empty() ? 0 : keys.front().size(2); }
  int64_t batch() const { return keys.empty() ? 0 : keys.front().size(0); }
};

struct LlamaOutput {
  at::Tensor hidden;  // [B, T, hidden]: final-norm output
  at::Tensor logits;  // [B, T, vocab] (or [B, 1, vocab] with lastLogitsOnly); undefined if not asked
};

// A trainable path beside one of the decoder's linear layers (LoRA): with adapters enabled the
// layer computes base(x) + adapter.forward(x). Implementations live outside the model
// (models/lora.h) so the model needs no knowledge of how the delta is parameterised.
class LlamaLinearAdapter {
 public:
  virtual ~LlamaLinearAdapter() = default;
  // x [..., in] in the model's dtype -> the additive output [..., out] in x's dtype.
  virtual at::Tensor forward(const at::Tensor& x) const = 0;
  // Tensors the delta depends on (what gradient checkpointing must hand to autograd).
  virtual std::vector<at::Tensor> parameters() const = 0;
};

// How trainForward runs.
struct LlamaForwardOptions {
  bool grad = true;               // record the autograd graph (false: same maths, no graph)
  bool checkpointLayers = false;  // keep only each decoder layer's input; recompute it in backward
  bool logits = true;             // also return lm_head logits (fp32, or fp64 for a double model)
};

struct GreedyOptions {
  int64_t maxNewTokens = 16;
  int64_t eosTokenId = -1;  // >= 0: stop once every row has produced it (finished rows repeat it)
};

struct GreedyResult {
  at::Tensor tokens;      // [B, N] int64
  at::Tensor stepLogits;  // [B, N, vocab]: the logits that chose each token
};

class LlamaModel {
 public:
  explicit LlamaModel(const LlamaConfig& config);
  ~LlamaModel();
  LlamaModel(LlamaModel&&) noexcept;
  LlamaModel& operator=(LlamaModel&&) noexcept;

  // Parameters allocated in `dtype` but not initialised: their memory is not touched until
  // loadWeights fills (or aliases) it. What the loaders build, so that a 7B model loaded in bf16
  // never exists in fp32 on the way (the constructor above initialises fp32 weights as torch does).
  static LlamaModel uninitialised(const LlamaConfig& config, c10::ScalarType dtype);

  // A transformers folder (config.json + model.safetensors or a sharded index). A LLaVA folder
  // loads its language model (layout chosen from the keys present). Built in `dtype` directly;
  // tensors already stored in `dtype` on the CPU are views of the mapped file (copy-on-write), not
  // copies. Throws io::FileError / io::FormatError.
  static LlamaModel load(const std::filesystem::path& modelDir, c10::Device device = c10::Device("cpu"),
                         c10::ScalarType dtype = c10::kFloat);

  const LlamaConfig& config() const;
  // Checkpoint keys (in `layout`) and shapes the model expects, in module order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expectedTensors(
      const LlamaKeyLayout& layout = LlamaKeyLayout::causalLm()) const;
  // Copies (converting floating dtypes) the weights in; throws io::FormatError naming missing,
  // unexpected and mis-shaped keys, leaving the model untouched.
  void loadWeights(const io::Checkpoint& checkpoint, const LlamaKeyLayout& layout = LlamaKeyLayout::causalLm());
  void to(c10::Device device, c10::ScalarType dtype = c10::kFloat);
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // ids [B, T] int64 -> [B, T, hidden] input embeddings.
  at::Tensor embed(const at::Tensor& ids) const;
  // lm_head on final-norm hidden states [..., hidden] -> [..., vocab].
  at::Tensor lmHead(const at::Tensor& hidden) const;

  // A zeroed cache for `batch` sequences of up to `capacity` positions.
  LlamaKvCache newCache(int64_t batch, int64_t capacity) const;

  // Runs T new positions. Positions continue from cache->length (0 without a cache); the cache,
  // when given, receives the new keys/values (throws std::invalid_argument when they do not fit).
  // Attention is causal over the cached and new positions.
  LlamaOutput forwardEmbeddings(const at::Tensor& embeds, LlamaKvCache* cache = nullptr, bool logits = true,
                                bool lastLogitsOnly = false) const;
  LlamaOutput forward(const at::Tensor& ids, LlamaKvCache* cache = nullptr, bool logits = true,
                      bool lastLogitsOnly = false) const;

  // Greedy decoding with a KV cache sized prompt + maxNewTokens: prefill the prompt, then
  // argmax one token at a time.
  GreedyResult generateGreedy(const at::Tensor& ids, const GreedyOptions& options) const;
  GreedyResult generateGreedyFromEmbeddings(const at::Tensor& embeds, const GreedyOptions& options) const;

  // ---- training -------------------------------------------------------------------------
  // A full-sequence forward outside inference mode (no KV cache). `embeds` [B, T, hidden];
  // `attentionMask` [B, T] (nonzero = real token, 0 = padding; undefined = no padding), right or
  // left padded: padding keys are never attended to, and positions count real tokens only
  // (cumsum(mask) - 1), so a padded row computes exactly what it would alone. Outputs at padding
  // positions are finite but meaningless. With checkpointLayers, gradients reach the layer
  // inputs and every parameter that requires grad (adapters included) as usual, through
  // backward(); torch::autograd::grad works too since those parameters are inputs of the
  // recomputing node. Throws std::invalid_argument on bad shapes.
  LlamaOutput trainForward(const at::Tensor& embeds, const at::Tensor& attentionMask = {},
                           const LlamaForwardOptions& options = {}) const;
  // Token embeddings that may take part in autograd (embed() returns inference tensors).
  at::Tensor embedForTraining(const at::Tensor& ids) const;

  // The transformers names of the linear layers adapters can sit beside, in module order:
  // "model.layers.N.self_attn.{q,k,v,o}_proj", "model.layers.N.mlp.{gate,up,down}_proj".
  std::vector<std::string> adaptableModules() const;
  // Attaches (or, with nullptr, removes) the adapter of one module named as above. Throws
  // std::invalid_argument for an unknown module.
  void setAdapter(const std::string& module, std::shared_ptr<const LlamaLinearAdapter> adapter);
  std::shared_ptr<const LlamaLinearAdapter> adapter(const std::string& module) const;
  // Disabled adapters leave the base model: the DPO reference without a second copy.
  void setAdaptersEnabled(bool enabled);
  bool adaptersEnabled() const;

  // Weight-only int8 for inference on machines without the memory for the float model: every
  // decoder linear layer's weight becomes int8 rows with one fp32 scale per output channel
  // (symmetric, max-abs / 127), and is widened to the model's dtype a cache-sized block at a time
  // in each matmul. The embedding table, lm_head and norms keep the model's dtype. The float
  // weights are freed. Adapters cannot be attached afterwards (merge them first), and those
  // weights are no longer parameters (parameter() throws std::logic_error naming them).
  void quantizeInt8();
  bool isInt8() const;
  // Bytes the weights take in memory (parameters plus int8 rows and scales).
  int64_t weightBytes() const;

  // The live parameters (same storage as the model: in-place changes are the model's), named
  // as transformers names them (model.layers.0.mlp.up_proj.weight, lm_head.weight).
  std::vector<std::pair<std::string, at::Tensor>> namedParameters() const;
  at::Tensor parameter(const std::string& name) const;  // throws std::out_of_range
  // requires_grad of every base parameter: false freezes the model for adapter training.
  void setRequiresGrad(bool requiresGrad);

 private:
  struct Impl;
  explicit LlamaModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
