#include "models/preference_losses.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>

#include <cmath>
#include <stdexcept>

namespace caig {

at::Tensor answerLogProbs(const at::Tensor& logits, const at::Tensor& tokens, const at::Tensor& answerMask) {
  if (logits.dim() != 3 || tokens.dim() != 2 || answerMask.sizes() != tokens.sizes() ||
      logits.size(0) != tokens.size(0) || logits.size(1) != tokens.size(1))
    throw std::invalid_argument("answerLogProbs: logits [B, T, V], tokens and answer mask [B, T]");
  const int64_t T = tokens.size(1);
  if (T < 2) return at::zeros({tokens.size(0)}, logits.options().dtype(at::promote_types(logits.scalar_type(), at::kFloat)));
  const at::Tensor logp =
      at::log_softmax(logits.narrow(1, 0, T - 1), -1, at::promote_types(logits.scalar_type(), at::kFloat));
  const at::Tensor next = tokens.narrow(1, 1, T - 1).to(logits.device(), at::kLong);
  const at::Tensor picked = logp.gather(-1, next.unsqueeze(-1)).squeeze(-1);  // [B, T-1]
  const at::Tensor mask = answerMask.narrow(1, 1, T - 1).to(logits.device()) != 0;
  // where(), not a product: a -inf log-prob at a masked position must not poison the sum.
  return at::where(mask, picked, at::zeros_like(picked)).sum(1);
}

DpoLoss dpoLoss(const at::Tensor& policyChosen, const at::Tensor& policyRejected, const at::Tensor& refChosen,
                const at::Tensor& refRejected, double beta) {
  const at::Tensor chosen = policyChosen - refChosen;
  const at::Tensor rejected = policyRejected - refRejected;
  DpoLoss out;
  out.loss = -at::log_sigmoid(beta * (chosen - rejected)).mean();
  out.chosenRewards = (beta * chosen).detach();
  out.rejectedRewards = (beta * rejected).detach();
  return out;
}

at::Tensor pcpoLoss(const at::Tensor& policyChosen, const at::Tensor& policyChosenCorrupted,
                    const at::Tensor& refChosen, const at::Tensor& refChosenCorrupted, double betaPc) {
  const at::Tensor margin = (policyChosen - policyChosenCorrupted) - (refChosen - refChosenCorrupted);
  return -at::log_sigmoid(betaPc * margin).mean();
}

at::Tensor maskImagePatches(const at::Tensor& image, uint64_t seed, double fraction, int64_t patch) {
  if (image.dim() != 3 || image.size(0) != 3) throw std::invalid_argument("maskImagePatches: image must be [3, H, W]");
  if (patch < 1 || !(fraction >= 0.0 && fraction <= 1.0))
    throw std::invalid_argument("maskImagePatches: patch size >= 1 and fraction in [0, 1]");
  const int64_t H = image.size(1), W = image.size(2);
  const int64_t rows = (H + patch - 1) / patch, cols = (W + patch - 1) / patch, n = rows * cols;
  const auto count = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor order = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
  at::Tensor out = image.clone();
  const auto* cells = order.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t r = cells[i] / cols, c = cells[i] % cols;
    out.narrow(1, r * patch, std::min(patch, H - r * patch)).narrow(2, c * patch, std::min(patch, W - c * patch)).zero_();
  }
  return out;
}

std::vector<int64_t> otherRecordIndices(int64_t count, uint64_t seed) {
  if (count < 2) throw std::invalid_argument("another record's text needs at least two records");
  at::Generator gen = at::detail::createCPUGenerator(seed);
  // An offset in [1, count) per record: uniform over the other records, never itself.
  const at::Tensor offsets = at::randint(1, count, {count}, gen, at::TensorOptions().dtype(at::kLong));
  std::vector<int64_t> out(static_cast<std::size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[static_cast<std::size_t>(i)] = (i + offsets[i].item<int64_t>()) % count;
  return out;
}

std::vector<Corruption> chooseCorruptions(int64_t count, uint64_t seed, double maskedShare) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor u = at::rand({std::max<int64_t>(count, 0)}, gen, at::TensorOptions().dtype(at::kDouble));
  std::vector<Corruption> out;
  for (int64_t i = 0; i < count; ++i)
    out.push_back(u[i].item<double>() < maskedShare ? Corruption::MaskedImage : Corruption::OtherRecordText);
  return out;
}

at::Tensor lastTokenIndices(const at::Tensor& attentionMask) {
  if (attentionMask.dim() != 2) throw std::invalid_argument("attention mask must be [batch, tokens]");
  const at::Tensor keep = attentionMask != 0;
  if (!keep.any(1).all().item<bool>()) throw std::invalid_argument("a row of the batch is all padding");
  const int64_t T = attentionMask.size(1);
  const at::Tensor pos = at::arange(T, attentionMask.options().dtype(at::kLong)).expand_as(keep);
  return at::where(keep, pos, at::full_like(pos, -1)).amax(1);
}

at::Tensor lastTokenHidden(const at::Tensor& hidden, const at::Tensor& attentionMask) {
  if (hidden.dim() != 3 || attentionMask.dim() != 2 || hidden.size(0) != attentionMask.size(0) ||
      hidden.size(1) != attentionMask.size(1))
    throw std::invalid_argument("lastTokenHidden: hidden [B, T, H] and mask [B, T]");
  const at::Tensor idx = lastTokenIndices(attentionMask).to(hidden.device());
  return hidden.gather(1, idx.view({-1, 1, 1}).expand({hidden.size(0), 1, hidden.size(2)})).squeeze(1);
}

at::Tensor pairwiseRewardLoss(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& points,
                              const at::Tensor& ctrs, double pointWeight) {
  if (logits.dim() != 2 || logits.size(1) != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0))
    throw std::invalid_argument("pairwiseRewardLoss: logits [B, 2] and labels [B]");
  at::Tensor loss = at::cross_entropy_loss(logits, labels.to(logits.device(), at::kLong));
  if (points.defined() && ctrs.defined()) {
    if (points.sizes() != logits.sizes() || ctrs.sizes() != logits.sizes())
      throw std::invalid_argument("pairwiseRewardLoss: points and CTRs must be [B, 2]");
    loss = loss + pointWeight * at::mse_loss(points, ctrs.to(points.device(), points.scalar_type()));
  }
  return loss;
}

}  // namespace caig
