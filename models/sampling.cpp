#include "models/sampling.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

namespace caig {
namespace {

void checkOptions(const SamplingOptions& o) {
  if (o.maxNewTokens < 0) throw std::invalid_argument("maxNewTokens must not be negative");
  if (!(o.temperature >= 0.0)) throw std::invalid_argument("temperature must be >= 0 (0: greedy)");
  if (!(o.topP > 0.0 && o.topP <= 1.0)) throw std::invalid_argument("topP must be in (0, 1]");
  if (o.topK < 0) throw std::invalid_argument("topK must not be negative (0: off)");
  if (!(o.repetitionPenalty > 0.0)) throw std::invalid_argument("repetitionPenalty must be positive (1: off)");
}

// Inverse-CDF draw from one row of probabilities (CPU double) with the row's own generator:
// platform-independent given the probabilities, and a zero-probability token is never chosen.
int64_t drawToken(const at::Tensor& probs, at::Generator& generator) {
  const at::Tensor u = at::rand({1}, generator, at::TensorOptions().dtype(at::kDouble));
  const double* p = probs.data_ptr<double>();
  const int64_t n = probs.numel();
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += p[i];
  const double target = u.item<double>() * total;
  double running = 0.0;
  int64_t last = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] <= 0.0) continue;
    running += p[i];
    last = i;
    if (running > target) return i;
  }
  if (last < 0) throw std::runtime_error("sampling: every token was removed (NaN logits?)");
  return last;  // rounding left the target at the very end
}

}  // namespace

at::Tensor processLogits(const at::Tensor& logits, const std::vector<std::vector<int64_t>>& history,
                         const SamplingOptions& o) {
  if (logits.dim() != 2) throw std::invalid_argument("logits must be [batch, vocab]");
  checkOptions(o);
  c10::InferenceMode guard;
  at::Tensor l = logits.to(at::kFloat).clone();
  const int64_t B = l.size(0), V = l.size(1);
  const float inf = std::numeric_limits<float>::infinity();
  if (o.repetitionPenalty != 1.0) {
    if (!history.empty() && static_cast<int64_t>(history.size()) != B)
      throw std::invalid_argument("repetition penalty history must have one entry per row");
    for (int64_t b = 0; b < static_cast<int64_t>(history.size()); ++b) {
      std::set<int64_t> seen;
      for (const int64_t id : history[static_cast<std::size_t>(b)])
        if (id >= 0 && id < V) seen.insert(id);
      if (seen.empty()) continue;
      const at::Tensor ids =
          at::tensor(std::vector<int64_t>(seen.begin(), seen.end()), at::kLong).to(l.device());
      at::Tensor row = l.select(0, b);
      const at::Tensor s = row.index_select(0, ids);
      row.index_copy_(0, ids, at::where(s < 0, s * o.repetitionPenalty, s / o.repetitionPenalty));
    }
  }
  if (o.temperature > 0.0 && o.temperature != 1.0) l = l / o.temperature;
  if (o.topK > 0 && o.topK < V) {
    // transformers' TopKLogitsWarper: remove what is below the k-th largest logit.
    const at::Tensor kth = std::get<0>(l.topk(o.topK, -1)).narrow(-1, o.topK - 1, 1);
    l = l.masked_fill(l < kth, -inf);
  }
  if (o.topP < 1.0) {
    // transformers' TopPLogitsWarper: sort ascending, drop the low tail whose cumulative
    // probability stays <= 1 - top_p, always keeping the most likely token.
    const auto sorted = l.sort(-1, /*descending=*/false);
    const at::Tensor& sortedLogits = std::get<0>(sorted);
    const at::Tensor& sortedIdx = std::get<1>(sorted);
    at::Tensor remove = sortedLogits.softmax(-1).cumsum(-1) <= (1.0 - o.topP);
    remove.narrow(-1, V - 1, 1).fill_(false);
    l = l.masked_fill(remove.scatter(1, sortedIdx, remove), -inf);
  }
  return l;
}

LlamaKvCache repeatCacheRows(const LlamaKvCache& cache, int64_t rows) {
  if (cache.batch() != 1) throw std::invalid_argument("repeatCacheRows needs a one-row cache");
  if (rows < 1) throw std::invalid_argument("repeatCacheRows needs at least one row");
  c10::InferenceMode guard;
  LlamaKvCache out;
  out.length = cache.length;
  for (const auto& k : cache.keys) out.keys.push_back(k.repeat({rows, 1, 1, 1}));
  for (const auto& v : cache.values) out.values.push_back(v.repeat({rows, 1, 1, 1}));
  return out;
}

GenerationResult generateFromCache(const LlamaModel& model, LlamaKvCache& cache, const at::Tensor& nextLogits,
                                   const std::vector<std::vector<int64_t>>& promptIds, const SamplingOptions& o,
                                   const TokenCallback& callback, const std::atomic<bool>* cancel) {
  checkOptions(o);
  if (nextLogits.dim() != 2 || nextLogits.size(0) != cache.batch())
    throw std::invalid_argument("next-token logits must be [cache batch, vocab]");
  const int64_t B = nextLogits.size(0);
  if (!promptIds.empty() && static_cast<int64_t>(promptIds.size()) != B)
    throw std::invalid_argument("prompt ids must have one entry per row");
  // The last sampled token is never fed back, so maxNewTokens - 1 more positions are needed.
  if (o.maxNewTokens > 0 && cache.capacity() - cache.length < o.maxNewTokens - 1)
    throw std::invalid_argument("KV cache has room for " + std::to_string(cache.capacity() - cache.length) +
                                " positions, " + std::to_string(o.maxNewTokens - 1) + " needed");
  c10::InferenceMode guard;
  GenerationResult result;
  result.tokens.resize(static_cast<std::size_t>(B));
  std::vector<std::vector<int64_t>> history = promptIds;
  history.resize(static_cast<std::size_t>(B));
  std::vector<at::Generator> generators;
  for (int64_t b = 0; b < B; ++b)
    generators.push_back(at::make_generator<at::CPUGeneratorImpl>(o.seed + static_cast<uint64_t>(b)));
  const std::set<int64_t> stops(o.stopTokenIds.begin(), o.stopTokenIds.end());

  std::vector<int64_t> active(static_cast<std::size_t>(B));  // original row of each cache row
  for (int64_t b = 0; b < B; ++b) active[static_cast<std::size_t>(b)] = b;
  at::Tensor logits = nextLogits;
  for (int64_t step = 0; step < o.maxNewTokens; ++step) {
    if (cancel && cancel->load()) {
      result.cancelled = true;
      break;
    }
    // NaN logits would sample token 0 or end the text at once: an empty prompt that looks fine.
    if (!at::isfinite(logits).all().item<bool>()) {
      throw std::runtime_error(
          "the language model's next-token scores are not finite (NaN or Inf): its weights are broken, or they "
          "overflow in this precision (try fp32)");
    }
    std::vector<std::vector<int64_t>> activeHistory;
    if (o.repetitionPenalty != 1.0)
      for (const int64_t row : active) activeHistory.push_back(history[static_cast<std::size_t>(row)]);
    const at::Tensor processed = processLogits(logits, activeHistory, o);
    std::vector<int64_t> next(active.size());
    if (o.temperature == 0.0) {
      const at::Tensor best = processed.argmax(-1).cpu();
      for (std::size_t i = 0; i < active.size(); ++i) next[i] = best[static_cast<int64_t>(i)].item<int64_t>();
    } else {
      const at::Tensor probs = processed.softmax(-1).to(at::kCPU, at::kDouble).contiguous();
      for (std::size_t i = 0; i < active.size(); ++i)
        next[i] = drawToken(probs[static_cast<int64_t>(i)], generators[static_cast<std::size_t>(active[i])]);
    }
    std::vector<int64_t> keep;  // cache rows that go on
    for (std::size_t i = 0; i < active.size() && !result.cancelled; ++i) {
      const int64_t row = active[i];
      result.tokens[static_cast<std::size_t>(row)].push_back(next[i]);
      history[static_cast<std::size_t>(row)].push_back(next[i]);
      if (callback && !callback(row, next[i])) result.cancelled = true;
      if (!stops.count(next[i])) keep.push_back(static_cast<int64_t>(i));
    }
    if (result.cancelled || keep.empty() || step + 1 == o.maxNewTokens) break;
    std::vector<int64_t> feed;
    for (const int64_t i : keep) feed.push_back(next[static_cast<std::size_t>(i)]);
    if (keep.size() < active.size()) {  // drop finished rows: no compute is spent on them
      const at::Tensor idx = at::tensor(keep, at::kLong).to(cache.keys.front().device());
      for (auto& k : cache.keys) k = k.index_select(0, idx);
      for (auto& v : cache.values) v = v.index_select(0, idx);
      std::vector<int64_t> still;
      for (const int64_t i : keep) still.push_back(active[static_cast<std::size_t>(i)]);
      active = std::move(still);
    }
    const at::Tensor ids = at::tensor(feed, at::kLong).unsqueeze(1);
    logits = model.forward(ids, &cache, true, true).logits.select(1, 0);
  }
  return result;
}

GenerationResult generate(const LlamaModel& model, const at::Tensor& promptEmbeds,
                          const std::vector<std::vector<int64_t>>& promptIds, const SamplingOptions& o,
                          const TokenCallback& callback, const std::atomic<bool>* cancel) {
  checkOptions(o);
  if (promptEmbeds.dim() != 3 || promptEmbeds.size(0) < 1 || promptEmbeds.size(1) < 1)
    throw std::invalid_argument("prompt embeddings must be [batch, tokens, hidden]");
  const int64_t B = promptEmbeds.size(0);
  if (o.maxNewTokens == 0) {
    GenerationResult empty;
    empty.tokens.resize(static_cast<std::size_t>(B));
    return empty;
  }
  c10::InferenceMode guard;
  LlamaKvCache cache = model.newCache(B, promptEmbeds.size(1) + o.maxNewTokens);
  const LlamaOutput out = model.forwardEmbeddings(promptEmbeds, &cache, true, true);
  return generateFromCache(model, cache, out.logits.select(1, 0), promptIds, o, callback, cancel);
}

GenerationResult generate(const LlamaModel& model, const at::Tensor& promptEmbeds, const SamplingOptions& o,
                          const TokenCallback& callback, const std::atomic<bool>* cancel) {
  return generate(model, promptEmbeds, {}, o, callback, cancel);
}

}  // namespace caig
