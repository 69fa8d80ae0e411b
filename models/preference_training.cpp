#include "models/preference_training.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <set>
#include <stdexcept>

#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/preference_losses.h"

namespace caig {
namespace {

// Restores the model's adapter switch however the scope ends.
class AdaptersSwitch {
 public:
  AdaptersSwitch(LlamaModel& model, bool enabled) : model_(model), previous_(model.adaptersEnabled()) {
    model_.setAdaptersEnabled(enabled);
  }
  ~AdaptersSwitch() { model_.setAdaptersEnabled(previous_); }
  AdaptersSwitch(const AdaptersSwitch&) = delete;
  AdaptersSwitch& operator=(const AdaptersSwitch&) = delete;

 private:
  LlamaModel& model_;
  bool previous_;
};

class TrainingSwitch {
 public:
  TrainingSwitch(LoraAdapters& lora, bool training) : lora_(lora), previous_(lora.training()) {
    lora_.setTraining(training);
  }
  ~TrainingSwitch() { lora_.setTraining(previous_); }
  TrainingSwitch(const TrainingSwitch&) = delete;
  TrainingSwitch& operator=(const TrainingSwitch&) = delete;

 private:
  LoraAdapters& lora_;
  bool previous_;
};

at::Tensor linearInit(int64_t out, int64_t in, at::Generator& gen, c10::Device device, c10::ScalarType dtype) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return at::empty({out, in}, at::TensorOptions().dtype(at::kFloat))
      .uniform_(-bound, bound, gen)
      .to(device, dtype)
      .set_requires_grad(true);
}

}  // namespace

std::pair<at::Tensor, at::Tensor> padEmbeddings(const std::vector<at::Tensor>& sequences) {
  if (sequences.empty()) throw std::invalid_argument("no sequences to pad");
  int64_t T = 0;
  const int64_t H = sequences.front().size(-1);
  for (const auto& s : sequences) {
    if (s.dim() != 2 || s.size(1) != H || s.size(0) < 1) throw std::invalid_argument("sequences must be [T, hidden]");
    T = std::max(T, s.size(0));
  }
  const auto B = static_cast<int64_t>(sequences.size());
  at::Tensor mask = at::zeros({B, T}, at::TensorOptions().dtype(at::kLong));
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = sequences[static_cast<std::size_t>(b)];
    // Concatenation, not copy_ into a slice: keeps the autograd path of spliced embeddings.
    rows.push_back(s.size(0) == T ? s : at::cat({s, at::zeros({T - s.size(0), H}, s.options())}, 0));
    mask[b].narrow(0, 0, s.size(0)).fill_(1);
  }
  return {at::stack(rows, 0), mask};
}

// ---- reward model ------------------------------------------------------------------------

RewardHeads RewardHeads::create(int64_t hidden, bool pointHead, uint64_t seed, c10::Device device,
                                c10::ScalarType dtype) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  RewardHeads h;
  h.scoreWeight = linearInit(2, hidden, gen, device, dtype);
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  h.scoreBias = at::empty({2}, at::TensorOptions().dtype(at::kFloat))
                    .uniform_(-bound, bound, gen)
                    .to(device, dtype)
                    .set_requires_grad(true);
  if (pointHead) {
    h.pointWeight = linearInit(2, hidden, gen, device, dtype);
    h.pointBias = at::zeros({2}, at::TensorOptions().dtype(dtype).device(device)).set_requires_grad(true);
  }
  return h;
}

std::vector<std::pair<std::string, at::Tensor>> RewardHeads::namedParameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out = {{"score.weight", scoreWeight}, {"score.bias", scoreBias}};
  if (pointWeight.defined()) out.insert(out.end(), {{"point_head.weight", pointWeight}, {"point_head.bias", pointBias}});
  return out;
}

void RewardHeads::save(const std::filesystem::path& file) const {
  io::NamedTensors tensors;
  for (const auto& [name, t] : namedParameters()) tensors.emplace_back(name, t.detach());
  io::saveSafetensors(file, tensors, {{"format", "pt"}});
}

void RewardHeads::load(const std::filesystem::path& file) {
  const auto st = io::SafetensorsFile::open(file);
  const auto expected = namedParameters();
  for (const auto& [name, t] : expected)
    if (!st.contains(name) || st.info(name).shape != t.sizes().vec())
      throw io::FormatError(file.string() + ": reward head tensor " + name + " is missing or mis-shaped");
  if (st.tensors().size() != expected.size())
    throw io::FormatError(file.string() + ": unexpected tensors beside the reward heads");
  at::NoGradGuard noGrad;
  for (const auto& [name, t] : expected) {
    at::Tensor dst = t;
    dst.copy_(st.tensor(name));
  }
}

RewardForward rewardForward(const LlamaModel& model, const RewardHeads& heads, const at::Tensor& embeds,
                            const at::Tensor& attentionMask, const LlamaForwardOptions& options) {
  LlamaForwardOptions o = options;
  o.logits = false;
  const LlamaOutput out = model.trainForward(embeds, attentionMask, o);
  at::AutoGradMode gradMode(options.grad);
  const at::Tensor last = lastTokenHidden(out.hidden, attentionMask).to(heads.scoreWeight.scalar_type());
  RewardForward r;
  r.logits = at::linear(last, heads.scoreWeight, heads.scoreBias);
  if (heads.pointWeight.defined()) r.points = at::linear(last, heads.pointWeight, heads.pointBias);
  return r;
}

TrainingJob rewardModelJob(const LlamaModel& model, LoraAdapters& lora, RewardHeads& heads,
                           const std::vector<RewardExample>& examples, int64_t batchSize,
                           const RewardJobOptions& options) {
  TrainingJob job;
  job.records = static_cast<int64_t>(examples.size());
  job.batchSize = batchSize;
  job.lossOn = [&model, &lora, &heads, &examples, options](const std::vector<int64_t>& indices) {
    TrainingSwitch training(lora, true);
    std::vector<at::Tensor> seqs;
    std::vector<int64_t> labels;
    std::vector<double> ctrs;
    bool points = heads.pointWeight.defined();
    for (const int64_t i : indices) {
      const auto& e = examples[static_cast<std::size_t>(i)];
      seqs.push_back(e.embeds);
      labels.push_back(e.label);
      ctrs.insert(ctrs.end(), {e.ctrLeft, e.ctrRight});
      points = points && !std::isnan(e.ctrLeft) && !std::isnan(e.ctrRight);
    }
    const auto [embeds, mask] = padEmbeddings(seqs);
    LlamaForwardOptions fo;
    fo.checkpointLayers = options.checkpointLayers;
    const RewardForward r = rewardForward(model, heads, embeds, mask, fo);
    const at::Tensor labelTensor = at::tensor(labels, at::TensorOptions().dtype(at::kLong));
    at::Tensor ctrTensor;
    if (points) ctrTensor = at::tensor(ctrs, at::TensorOptions().dtype(at::kDouble)).view({-1, 2});
    MicroBatch mb;
    mb.loss = pairwiseRewardLoss(r.logits, labelTensor, points ? r.points : at::Tensor(), ctrTensor, options.pointWeight);
    mb.tokens = mask.sum().item<int64_t>();
    return mb;
  };
  job.saveWeights = [&lora, &heads](const std::filesystem::path& dir) {
    lora.save(dir);
    heads.save(dir / "reward_heads.safetensors");
  };
  job.loadWeights = [&lora, &heads](const std::filesystem::path& dir) {
    lora.loadWeights(dir / "adapter_model.safetensors");
    heads.load(dir / "reward_heads.safetensors");
  };
  return job;
}

double pairwiseAccuracy(const LlamaModel& model, const RewardHeads& heads, const std::vector<RewardExample>& examples,
                        int64_t batchSize) {
  if (examples.empty()) return 0.0;
  int64_t right = 0;
  LlamaForwardOptions fo;
  fo.grad = false;
  for (std::size_t begin = 0; begin < examples.size(); begin += static_cast<std::size_t>(batchSize)) {
    const std::size_t end = std::min(examples.size(), begin + static_cast<std::size_t>(batchSize));
    std::vector<at::Tensor> seqs;
    for (std::size_t i = begin; i < end; ++i) seqs.push_back(examples[i].embeds);
    const auto [embeds, mask] = padEmbeddings(seqs);
    const at::Tensor predicted = rewardForward(model, heads, embeds, mask, fo).logits.argmax(1).cpu();
    for (std::size_t i = begin; i < end; ++i)
      right += predicted[static_cast<int64_t>(i - begin)].item<int64_t>() == examples[i].label ? 1 : 0;
  }
  return static_cast<double>(right) / static_cast<double>(examples.size());
}

// ---- DPO / PCPO ------------------------------------------------------------------------------

at::Tensor promptAnswerLogProbs(const LlamaModel& model, const std::vector<at::Tensor>& prompts,
                                const std::vector<at::Tensor>& answers, const LlamaForwardOptions& options) {
  if (prompts.size() != answers.size() || prompts.empty())
    throw std::invalid_argument("promptAnswerLogProbs: one answer per prompt");
  std::vector<at::Tensor> seqs, tokenRows;
  at::Tensor tokensAll;
  {
    at::AutoGradMode gradMode(options.grad);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const at::Tensor& a = answers[i];
      if (a.dim() != 1 || a.size(0) < 1) throw std::invalid_argument("answers must be non-empty [T] token ids");
      const at::Tensor answerEmbeds = model.embedForTraining(a.unsqueeze(0)).squeeze(0);
      seqs.push_back(at::cat({prompts[i].to(answerEmbeds.device(), answerEmbeds.scalar_type()), answerEmbeds}, 0));
      tokenRows.push_back(at::cat({at::zeros({prompts[i].size(0)}, at::TensorOptions().dtype(at::kLong)), a.cpu()}, 0));
    }
  }
  auto [embeds, mask] = padEmbeddings(seqs);
  const int64_t B = embeds.size(0), T = embeds.size(1);
  at::Tensor tokens = at::zeros({B, T}, at::TensorOptions().dtype(at::kLong));
  at::Tensor answerMask = at::zeros({B, T}, at::TensorOptions().dtype(at::kLong));
  for (int64_t b = 0; b < B; ++b) {
    const auto& row = tokenRows[static_cast<std::size_t>(b)];
    tokens[b].narrow(0, 0, row.size(0)).copy_(row);
    const int64_t tp = prompts[static_cast<std::size_t>(b)].size(0);
    answerMask[b].narrow(0, tp, row.size(0) - tp).fill_(1);
  }
  const LlamaOutput out = model.trainForward(embeds, mask, options);
  at::AutoGradMode gradMode(options.grad);
  return answerLogProbs(out.logits, tokens, answerMask);
}

at::Tensor referenceLogProbs(LlamaModel& model, const std::vector<at::Tensor>& prompts,
                             const std::vector<at::Tensor>& answers) {
  AdaptersSwitch off(model, false);
  LlamaForwardOptions o;
  o.grad = false;
  return promptAnswerLogProbs(model, prompts, answers, o);
}

TrainingJob preferenceJob(LlamaModel& model, LoraAdapters& lora, const std::vector<PreferenceRecord>& records,
                          int64_t batchSize, const PreferenceJobOptions& options) {
  TrainingJob job;
  job.records = static_cast<int64_t>(records.size());
  job.batchSize = batchSize;
  job.lossOn = [&model, &lora, &records, options](const std::vector<int64_t>& indices) {
    std::vector<at::Tensor> prompts, chosen, rejected, corrupted, corruptedChosen, cleanForCorrupted;
    int64_t tokens = 0;
    for (const int64_t i : indices) {
      const auto& r = records[static_cast<std::size_t>(i)];
      prompts.push_back(r.prompt);
      chosen.push_back(r.chosen);
      rejected.push_back(r.rejected);
      tokens += 2 * r.prompt.size(0) + r.chosen.size(0) + r.rejected.size(0);
      if (r.corruptedPrompt.defined()) {
        corrupted.push_back(r.corruptedPrompt);
        corruptedChosen.push_back(r.chosen);
        tokens += r.corruptedPrompt.size(0) + r.chosen.size(0);
      }
    }
    // Chosen and rejected in one batch: one forward for the policy, one for the reference.
    std::vector<at::Tensor> allPrompts = prompts, allAnswers = chosen;
    allPrompts.insert(allPrompts.end(), prompts.begin(), prompts.end());
    allAnswers.insert(allAnswers.end(), rejected.begin(), rejected.end());
    const auto n = static_cast<int64_t>(prompts.size());
    const at::Tensor ref = referenceLogProbs(model, allPrompts, allAnswers);
    TrainingSwitch training(lora, true);
    AdaptersSwitch on(model, true);
    LlamaForwardOptions fo;
    fo.checkpointLayers = options.checkpointLayers;
    const at::Tensor pi = promptAnswerLogProbs(model, allPrompts, allAnswers, fo);
    const DpoLoss dpo = dpoLoss(pi.narrow(0, 0, n), pi.narrow(0, n, n), ref.narrow(0, 0, n), ref.narrow(0, n, n),
                                options.beta);
    at::Tensor loss = dpo.loss;
    if (!corrupted.empty() && options.pcpoWeight != 0.0) {
      // PCPO needs log pi(y_w | x) of the records that have an x~: pick them from the batch.
      std::vector<int64_t> withCorruption;
      for (std::size_t k = 0; k < indices.size(); ++k)
        if (records[static_cast<std::size_t>(indices[k])].corruptedPrompt.defined())
          withCorruption.push_back(static_cast<int64_t>(k));
      const at::Tensor pick = at::tensor(withCorruption, at::TensorOptions().dtype(at::kLong)).to(pi.device());
      const at::Tensor refCorrupted = referenceLogProbs(model, corrupted, corruptedChosen);
      const at::Tensor piCorrupted = promptAnswerLogProbs(model, corrupted, corruptedChosen, fo);
      loss = loss + options.pcpoWeight * pcpoLoss(pi.narrow(0, 0, n).index_select(0, pick), piCorrupted,
                                                  ref.narrow(0, 0, n).index_select(0, pick), refCorrupted,
                                                  options.betaPc);
    }
    return MicroBatch{loss, tokens};
  };
  job.saveWeights = [&lora](const std::filesystem::path& dir) { lora.save(dir); };
  job.loadWeights = [&lora](const std::filesystem::path& dir) { lora.loadWeights(dir / "adapter_model.safetensors"); };
  return job;
}

at::Tensor preferenceMargins(LlamaModel& model, const std::vector<PreferenceRecord>& records) {
  std::vector<at::Tensor> prompts, answers;
  for (const auto& r : records) prompts.push_back(r.prompt), answers.push_back(r.chosen);
  for (const auto& r : records) prompts.push_back(r.prompt), answers.push_back(r.rejected);
  const auto n = static_cast<int64_t>(records.size());
  const at::Tensor ref = referenceLogProbs(model, prompts, answers);
  AdaptersSwitch on(model, true);
  LlamaForwardOptions o;
  o.grad = false;
  const at::Tensor pi = promptAnswerLogProbs(model, prompts, answers, o);
  return (pi.narrow(0, 0, n) - ref.narrow(0, 0, n)) - (pi.narrow(0, n, n) - ref.narrow(0, n, n));
}

}  // namespace caig
