#pragma once
// The two training jobs on top of the trainer (models/trainer.h), both on a LoRA-adapted
// LlamaModel fed input embeddings (so a LLaVA caller splices image features in first):
//  - the pairwise reward model: a trainable score head Linear(hidden, 2) (+ optional point head)
//    on the last non-padding token's final-norm hidden state, cross-entropy over both orders of
//    every pair (+ 0.5 * MSE on the two CTRs);
//  - a DPO / PCPO round: policy = base + LoRA, reference = the same model with its adapters
//    disabled (no second copy), loss = DPO + pcpoWeight * PCPO (DESIGN.md).
// Torch-light header.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "models/llama.h"
#include "models/lora.h"
#include "models/trainer.h"

namespace caig {

// Right-pads [T_i, hidden] sequences into embeds [B, T, hidden] and a mask [B, T] (1 = real).
std::pair<at::Tensor, at::Tensor> padEmbeddings(const std::vector<at::Tensor>& sequences);

// ---- reward model ------------------------------------------------------------------------

struct RewardHeads {
  at::Tensor scoreWeight, scoreBias;  // [2, hidden], [2]: logits (left better, right better)
  at::Tensor pointWeight, pointBias;  // [2, hidden], [2]: CTRs (left, right); undefined without
  // nn.Linear's initialisation (U(-1/sqrt(hidden), 1/sqrt(hidden))), seeded, fp32 (fp64 for a
  // double model), requires_grad.
  static RewardHeads create(int64_t hidden, bool pointHead, uint64_t seed, c10::Device device,
                            c10::ScalarType dtype = c10::kFloat);
  // "score.weight", "score.bias", "point_head.weight", "point_head.bias" (LlavaRewardModel's names).
  std::vector<std::pair<std::string, at::Tensor>> namedParameters() const;
  void save(const std::filesystem::path& file) const;  // safetensors, atomic
  void load(const std::filesystem::path& file);        // checks names and shapes; io::FormatError
};

struct RewardExample {
  at::Tensor embeds;  // [T, hidden]: one ordered pair (left, right)
  int64_t label = 0;  // 0: the left one is better, 1: the right one
  double ctrLeft = std::numeric_limits<double>::quiet_NaN();  // point targets (both or neither)
  double ctrRight = std::numeric_limits<double>::quiet_NaN();
};

struct RewardForward {
  at::Tensor logits;  // [B, 2] fp32
  at::Tensor points;  // [B, 2], undefined without a point head
};
RewardForward rewardForward(const LlamaModel& model, const RewardHeads& heads, const at::Tensor& embeds,
                            const at::Tensor& attentionMask, const LlamaForwardOptions& options);

struct RewardJobOptions {
  double pointWeight = 0.5;
  bool checkpointLayers = false;
};
// A job over `examples` (kept by reference: they must outlive the job). Checkpoints hold the
// adapter folder files and reward_heads.safetensors.
TrainingJob rewardModelJob(const LlamaModel& model, LoraAdapters& lora, RewardHeads& heads,
                           const std::vector<RewardExample>& examples, int64_t batchSize,
                           const RewardJobOptions& options = {});
// Share of examples whose argmax logit is their label (no grad, dropout off).
double pairwiseAccuracy(const LlamaModel& model, const RewardHeads& heads, const std::vector<RewardExample>& examples,
                        int64_t batchSize = 8);

// ---- DPO / PCPO ------------------------------------------------------------------------------

struct PreferenceRecord {
  at::Tensor prompt;           // [Tp, hidden] input embeddings x
  at::Tensor chosen;           // [Ta] int64 answer ids y_w
  at::Tensor rejected;         // [Tb] int64 answer ids y_l
  at::Tensor corruptedPrompt;  // [Tc, hidden] x~; undefined: no PCPO term for this record
};

struct PreferenceJobOptions {
  double beta = 0.5;
  double betaPc = 0.5;
  double pcpoWeight = 1.0;
  bool checkpointLayers = false;
};

// log p(answer | prompt) summed over the answer tokens, one per (prompt, answer) pair: [B]. The
// model runs with its adapters as they are set.
at::Tensor promptAnswerLogProbs(const LlamaModel& model, const std::vector<at::Tensor>& prompts,
                                const std::vector<at::Tensor>& answers, const LlamaForwardOptions& options);
// Reference log-probs: the same model with adapters disabled, no graph (restores the flag).
at::Tensor referenceLogProbs(LlamaModel& model, const std::vector<at::Tensor>& prompts,
                             const std::vector<at::Tensor>& answers);

TrainingJob preferenceJob(LlamaModel& model, LoraAdapters& lora, const std::vector<PreferenceRecord>& records,
                          int64_t batchSize, const PreferenceJobOptions& options = {});
// The implicit reward margins (log pi - log ref)(y_w) - (log pi - log ref)(y_l) of each record [N].
at::Tensor preferenceMargins(LlamaModel& model, const std::vector<PreferenceRecord>& records);

}  // namespace caig
