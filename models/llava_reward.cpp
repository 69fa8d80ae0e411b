#include "models/llava_reward.h"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"

namespace caig {
namespace {

const std::string kScore = "score.", kPoint = "point_head.";

// A [2, hidden] weight (+ [2] bias) under `prefix`, as fp32; `required` says whether its absence
// is an error. Throws io::FormatError naming the file and key.
std::pair<at::Tensor, at::Tensor> readHead(const io::Checkpoint& checkpoint, const std::filesystem::path& dir,
                                           const std::string& prefix, int64_t hidden, bool required) {
  const std::string w = prefix + "weight", b = prefix + "bias";
  if (!checkpoint.contains(w)) {
    if (required)
      throw io::FormatError(dir.string() + ": " + w +
                            " missing: this is not a reward-model checkpoint (a LLaVA with a Linear(hidden, 2) "
                            "score head)");
    if (checkpoint.contains(b)) throw io::FormatError(dir.string() + ": " + b + " without " + w);
    return {};
  }
  const at::Tensor weight = checkpoint.tensor(w);
  if (weight.dim() != 2 || weight.size(0) != 2 || weight.size(1) != hidden || !at::isFloatingType(weight.scalar_type()))
    throw io::FormatError(dir.string() + ": " + w + " must be a floating [2, " + std::to_string(hidden) + "] tensor");
  at::Tensor bias;
  if (checkpoint.contains(b)) {
    bias = checkpoint.tensor(b);
    if (bias.dim() != 1 || bias.size(0) != 2 || !at::isFloatingType(bias.scalar_type()))
      throw io::FormatError(dir.string() + ": " + b + " must be a floating [2] tensor");
    bias = bias.to(at::kFloat).clone();
  }
  return {weight.to(at::kFloat).clone(), bias};
}

}  // namespace

struct LlavaRewardModel::Impl {
  LlavaModel llava;
  at::Tensor scoreWeight, scoreBias, pointWeight, pointBias;  // fp32 on the model's device

  explicit Impl(LlavaModel m) : llava(std::move(m)) {}

  at::Tensor apply(const at::Tensor& hidden, const at::Tensor& w, const at::Tensor& b) const {
    return b.defined() ? at::linear(hidden, w, b) : at::linear(hidden, w);
  }
};

LlavaRewardModel::LlavaRewardModel(LlavaModel llava, at::Tensor scoreWeight, at::Tensor scoreBias,
                                   at::Tensor pointWeight, at::Tensor pointBias) {
  const int64_t hidden = llava.languageModel().config().hiddenSize;
  const auto device = llava.languageModel().device();
  auto check = [&](const at::Tensor& w, const at::Tensor& b, const char* what) {
    if (w.dim() != 2 || w.size(0) != 2 || w.size(1) != hidden)
      throw std::invalid_argument(std::string(what) + " weight must be [2, " + std::to_string(hidden) + "]");
    if (b.defined() && (b.dim() != 1 || b.size(0) != 2))
      throw std::invalid_argument(std::string(what) + " bias must be [2]");
  };
  check(scoreWeight, scoreBias, "score head");
  if (pointWeight.defined()) check(pointWeight, pointBias, "point head");
  auto place = [&](const at::Tensor& t) { return t.defined() ? t.to(device, at::kFloat) : t; };
  impl_ = std::make_unique<Impl>(std::move(llava));
  impl_->scoreWeight = place(scoreWeight);
  impl_->scoreBias = place(scoreBias);
  impl_->pointWeight = place(pointWeight);
  impl_->pointBias = place(pointBias);
}
LlavaRewardModel::~LlavaRewardModel() = default;
LlavaRewardModel::LlavaRewardModel(LlavaRewardModel&&) noexcept = default;
LlavaRewardModel& LlavaRewardModel::operator=(LlavaRewardModel&&) noexcept = default;

LlavaRewardModel LlavaRewardModel::load(const std::filesystem::path& dir, const LlavaLoadOptions& opts) {
  // The head is checked before the (large) model is read.
  const auto checkpoint = io::Checkpoint::open(dir);
  const int64_t hidden = readLlamaConfig(dir).hiddenSize;
  auto score = readHead(checkpoint, dir, kScore, hidden, true);
  auto point = readHead(checkpoint, dir, kPoint, hidden, false);
  LlavaLoadOptions o = opts;
  o.headKeyPrefixes.push_back(kScore);
  o.headKeyPrefixes.push_back(kPoint);
  o.languageHeadOptional = true;
  return LlavaRewardModel(LlavaModel::load(dir, o), std::move(score.first), std::move(score.second),
                          std::move(point.first), std::move(point.second));
}

const LlavaModel& LlavaRewardModel::llava() const { return impl_->llava; }
bool LlavaRewardModel::hasPointHead() const { return impl_->pointWeight.defined(); }

RewardOutput LlavaRewardModel::forward(const at::Tensor& ids, const at::Tensor& pixels) const {
  const at::Tensor embeds = impl_->llava.embedPrompts(ids, pixels);
  c10::InferenceMode guard;
  const LlamaOutput out = impl_->llava.languageModel().forwardEmbeddings(embeds, nullptr, /*logits=*/false);
  const at::Tensor last = out.hidden.select(1, out.hidden.size(1) - 1).to(at::kFloat);  // [B, hidden]
  RewardOutput r;
  r.logits = impl_->apply(last, impl_->scoreWeight, impl_->scoreBias);
  if (hasPointHead()) r.points = impl_->apply(last, impl_->pointWeight, impl_->pointBias);
  return r;
}

at::Tensor LlavaRewardModel::pairLogits(const at::Tensor& ids, const at::Tensor& pixels) const {
  return forward(ids, pixels).logits;
}

PairPreference LlavaRewardModel::scorePair(const at::Tensor& ids, const at::Tensor& pixelsAB,
                                           const at::Tensor& pixelsBA) const {
  if (ids.dim() != 1) throw std::invalid_argument("scorePair takes one prompt row ids [T]");
  auto batched = [](const at::Tensor& p) { return p.dim() == 3 ? p.unsqueeze(0) : p; };
  const at::Tensor ab = batched(pixelsAB), ba = batched(pixelsBA);
  if (ab.dim() != 4 || ab.size(0) != 1 || ba.sizes() != ab.sizes())
    throw std::invalid_argument("scorePair takes two images [1, 3, S, S] of the same size");
  c10::InferenceMode guard;
  const at::Tensor logits = pairLogits(at::stack({ids, ids}, 0), at::cat({ab, ba.to(ab.device())}, 0));
  const at::Tensor leftWins = logits.softmax(-1).select(1, 0).to(at::kCPU, at::kDouble);
  PairPreference p;
  p.probAB = leftWins[0].item<double>();
  p.probBA = leftWins[1].item<double>();
  p.probAWins = 0.5 * (p.probAB + (1.0 - p.probBA));
  p.disagreement = std::abs(p.probAB - (1.0 - p.probBA));
  return p;
}

}  // namespace caig
