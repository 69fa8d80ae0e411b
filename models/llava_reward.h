#pragma once
// The pairwise CTR reward model (CAIG's LlavaLlamaForClass): a LLaVA whose language model's
// final-norm hidden state at the last token goes through `score` = Linear(hidden, 2):
// logit 0 = the left creative is better, logit 1 = the right one (the two creatives are one
// side-by-side image). An optional point head `point_head` = Linear(hidden, 2) regresses the two
// sides' CTRs (our own key name: CAIG's released code does not name it). Torch-light header.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>

#include "models/llava.h"

namespace caig {

// P(A beats B) from both image orders, so the model's left/right bias cancels.
struct PairPreference {
  double probAWins = 0.5;     // (P_AB + (1 - P_BA)) / 2
  double probAB = 0.5;        // P(left wins) with A on the left
  double probBA = 0.5;        // P(left wins) with B on the left
  double disagreement = 0.0;  // |P_AB - (1 - P_BA)|: how much the two orders contradict
};

struct RewardOutput {
  at::Tensor logits;  // [B, 2] float: (left better, right better)
  at::Tensor points;  // [B, 2] float CTR estimates (left, right); undefined without a point head
};

class LlavaRewardModel {
 public:
  // Head weights [2, hidden] (fp32 kept), biases [2] or undefined.
  LlavaRewardModel(LlavaModel llava, at::Tensor scoreWeight, at::Tensor scoreBias = {}, at::Tensor pointWeight = {},
                   at::Tensor pointBias = {});
  ~LlavaRewardModel();
  LlavaRewardModel(LlavaRewardModel&&) noexcept;
  LlavaRewardModel& operator=(LlavaRewardModel&&) noexcept;

  // A LLaVA folder (either layout, see LlavaModel::load) whose checkpoint also holds score.weight
  // [2, hidden] (+ score.bias, point_head.weight/bias); lm_head.weight may be absent. Throws
  // io::FormatError when the head is missing or mis-shaped, io::FileError for missing files.
  static LlavaRewardModel load(const std::filesystem::path& dir, const LlavaLoadOptions& opts = {});

  const LlavaModel& llava() const;
  bool hasPointHead() const;

  // ids [B, T] (one image placeholder per row), pixels [B, 3, S, S] -> [B, 2] float logits.
  at::Tensor pairLogits(const at::Tensor& ids, const at::Tensor& pixels) const;
  // The logits and, when the checkpoint has one, the point head's output.
  RewardOutput forward(const at::Tensor& ids, const at::Tensor& pixels) const;
  // One prompt row ids [T] and the pair composed both ways (pixelsAB: A left, B right), each
  // [1, 3, S, S] or [3, S, S]; both orders run as one batch of 2.
  PairPreference scorePair(const at::Tensor& ids, const at::Tensor& pixelsAB, const at::Tensor& pixelsBA) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
