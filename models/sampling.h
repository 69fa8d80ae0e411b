#pragma once
// Sampled text generation for the LLaMA-family decoder: a KV cache sized once for the prompt and
// the token budget, batched rows that stop independently, and transformers' logits processors in
// transformers' order (repetition penalty, temperature, top-k, top-p). Every row draws from its
// own CPU generator seeded `seed + row`, so a row's tokens do not depend on the batch it runs
// in (up to fp32 noise in the batched matmuls) and the same seed gives the same output.
// Torch-light header: the work lives in sampling.cpp.

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "models/llama.h"

namespace caig {

struct SamplingOptions {
  int64_t maxNewTokens = 77;
  double temperature = 1.0;  // 0: greedy (argmax after the repetition penalty)
  double topP = 1.0;         // nucleus: keep the smallest set of tokens whose probability reaches topP
  int64_t topK = 0;          // 0: off
  // transformers' RepetitionPenaltyLogitsProcessor over the prompt ids (when known) and the
  // generated ids: a seen token's logit l becomes l / p when l > 0, l * p otherwise. 1: off.
  double repetitionPenalty = 1.0;
  // A row ends after producing one of these; the stop token is the row's last token.
  std::vector<int64_t> stopTokenIds;
  uint64_t seed = 0;
};

// Called once per generated token, row by row within a step. Returning false cancels the whole
// generation (the token just reported is kept).
using TokenCallback = std::function<bool(int64_t row, int64_t token)>;

struct GenerationResult {
  std::vector<std::vector<int64_t>> tokens;  // per row, stop token included when one ended it
  bool cancelled = false;                    // by the callback or the flag; tokens hold what came so far
};

// The processors on one step's logits [B, vocab] (float, any device) -> processed float logits
// (-inf where top-k / top-p removed a token). `history[b]` lists the ids the repetition penalty
// sees for row b (ids outside the vocabulary are ignored). Temperature 0 is treated as 1 here.
at::Tensor processLogits(const at::Tensor& logits, const std::vector<std::vector<int64_t>>& history,
                         const SamplingOptions& options);

// Prefills promptEmbeds [B, T, hidden] and samples up to maxNewTokens per row. The repetition
// penalty sees only generated ids (the prompt ids are unknown): use the overload below to add them.
GenerationResult generate(const LlamaModel& model, const at::Tensor& promptEmbeds, const SamplingOptions& options,
                          const TokenCallback& callback = {}, const std::atomic<bool>* cancel = nullptr);
// Same, with the prompt ids each row's repetition penalty starts from.
GenerationResult generate(const LlamaModel& model, const at::Tensor& promptEmbeds,
                          const std::vector<std::vector<int64_t>>& promptIds, const SamplingOptions& options,
                          const TokenCallback& callback = {}, const std::atomic<bool>* cancel = nullptr);

// The decoding loop alone, for callers that prefilled themselves: `cache` holds the prompt (with
// room for maxNewTokens more positions), `nextLogits` [B, vocab] are the logits at its last
// position, `promptIds` (empty or B rows) seed the repetition penalty. The cache is consumed.
GenerationResult generateFromCache(const LlamaModel& model, LlamaKvCache& cache, const at::Tensor& nextLogits,
                                   const std::vector<std::vector<int64_t>>& promptIds,
                                   const SamplingOptions& options, const TokenCallback& callback = {},
                                   const std::atomic<bool>* cancel = nullptr);

// A cache holding `rows` copies of a one-row cache (same length and capacity), so one prefill
// serves several sampled continuations.
LlamaKvCache repeatCacheRows(const LlamaKvCache& cache, int64_t rows);

}  // namespace caig
