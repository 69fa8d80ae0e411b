#pragma once
// Losses for preference training of the prompt model and the reward model, on plain tensors
// (so they are checked against hand computations), plus the corrupted inputs of PCPO.
//
// DPO:  -log sigma(beta [(log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))])
// PCPO: -log sigma(beta_pc [(log pi(y_w|x) - log pi(y_w|x~)) - (log ref(y_w|x) - log ref(y_w|x~))])
// with x~ a corrupted input (DESIGN.md: 50% the product image with 75% of its 32-px patches
// zeroed, 50% another product's question and answer with this image).
// Torch-light header.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace caig {

// Per-sequence log-probability of the answer tokens only. logits [B, T, V] (position t
// predicts token t + 1), tokens [B, T] int64, answerMask [B, T] nonzero where tokens[b, t] is an
// answer token (prompt and padding positions 0; position 0 cannot be an answer token). Returns
// [B] in logits' precision (at least fp32). Throws std::invalid_argument on shape mismatch.
at::Tensor answerLogProbs(const at::Tensor& logits, const at::Tensor& tokens, const at::Tensor& answerMask);

struct DpoLoss {
  at::Tensor loss;             // scalar: mean over pairs
  at::Tensor chosenRewards;    // [B] beta (log pi - log ref)(y_w), detached: the implicit reward
  at::Tensor rejectedRewards;  // [B] same for y_l
};
// Inputs [B] sequence log-probs (answerLogProbs).
DpoLoss dpoLoss(const at::Tensor& policyChosen, const at::Tensor& policyRejected, const at::Tensor& refChosen,
                const at::Tensor& refRejected, double beta = 0.5);
// Mean PCPO term over [B] log-probs of the chosen answer given the real and the corrupted input.
at::Tensor pcpoLoss(const at::Tensor& policyChosen, const at::Tensor& policyChosenCorrupted,
                    const at::Tensor& refChosen, const at::Tensor& refChosenCorrupted, double betaPc = 0.5);

// ---- corrupted inputs -------------------------------------------------------------------
// A copy of `image` [3, H, W] (any dtype/device) with round(fraction * n) of its n patch x patch
// cells (edge cells partial) set to zero, chosen by a generator seeded with `seed`.
at::Tensor maskImagePatches(const at::Tensor& image, uint64_t seed, double fraction = 0.75, int64_t patch = 32);
// For each of `count` (>= 2) records, the index of another record (never itself) whose question
// and answer go with this record's image. Seeded; throws std::invalid_argument for count < 2.
std::vector<int64_t> otherRecordIndices(int64_t count, uint64_t seed);
enum class Corruption { MaskedImage, OtherRecordText };
// Which corruption each of `count` records gets (probability `maskedShare` of MaskedImage).
std::vector<Corruption> chooseCorruptions(int64_t count, uint64_t seed, double maskedShare = 0.5);

// ---- reward model ---------------------------------------------------------------------
// Index [B] of the last non-padding position of each row of attentionMask [B, T] (left or right
// padding); throws std::invalid_argument for an all-padding row.
at::Tensor lastTokenIndices(const at::Tensor& attentionMask);
// hidden [B, T, H] -> [B, H] at those positions.
at::Tensor lastTokenHidden(const at::Tensor& hidden, const at::Tensor& attentionMask);
// Cross-entropy of [B, 2] (left better, right better) logits against labels [B] int64 (0: the
// left creative is better, 1: the right one); callers put both orders of every pair in the batch.
// With point predictions [B, 2] and CTRs [B, 2] (both defined), adds pointWeight * MSE.
at::Tensor pairwiseRewardLoss(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& points = {},
                              const at::Tensor& ctrs = {}, double pointWeight = 0.5);

}  // namespace caig
