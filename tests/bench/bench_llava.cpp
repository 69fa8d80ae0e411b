// LLaVA-side throughput on a mid-size random model built in code (no checkpoint needed): sampled
// tokens/s at batch 1 vs batch 4 (LLaMA hidden 512, 8 layers, vocab 32000), one prefill
// repeated to N rows vs N prefilled rows (what LlavaModel::generate does for N prompts), and
// reward-model pairs/s (CLIP 224/14 hidden 384 x 6 layers + the same LLaMA, 8 pairs a batch).
// Torch runs on one thread, like the OpenCV baseline measured in the same process.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "baseline.h"
#include "models/llava.h"
#include "models/llava_reward.h"
#include "models/sampling.h"
#include "tests/bench/mid_llama.h"

namespace {

using namespace caig;

using bench::midLlama;

LlavaVisionConfig midVision() {
  LlavaVisionConfig c;
  c.vision.hiddenSize = 384;
  c.vision.intermediateSize = 1536;
  c.vision.numHiddenLayers = 6;
  c.vision.numAttentionHeads = 6;
  c.vision.imageSize = 224;
  c.vision.patchSize = 14;  // 256 patches
  c.textHiddenSize = 512;
  return c;
}

// Random Linear weights (libtorch's default init), zero embeddings: costs do not depend on values.
const LlamaModel& model() {
  static const LlamaModel m = [] {
    at::set_num_threads(1);
    return LlamaModel(midLlama());
  }();
  return m;
}

constexpr int64_t kPrompt = 64, kNew = 32;

void BM_SampleTokens(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const at::Tensor embeds = at::randn({batch, kPrompt, 512}) * 0.1;
  SamplingOptions o;
  o.maxNewTokens = kNew;
  if (state.range(1)) {  // every processor on
    o.temperature = 0.8;
    o.topK = 50;
    o.topP = 0.9;
    o.repetitionPenalty = 1.1;
  } else {
    o.temperature = 0.0;  // greedy: the model's cost alone
  }
  for (auto _ : state) {
    const auto r = generate(model(), embeds, o);
    benchmark::DoNotOptimize(r.tokens.data());
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(batch * kNew), benchmark::Counter::kIsIterationInvariantRate);
}
// Args: batch, processors (0: greedy, 1: penalty + temperature + top-k + top-p sampling).
BENCHMARK(BM_SampleTokens)->Args({1, 0})->Args({1, 1})->Args({4, 0})->Args({4, 1})->Unit(benchmark::kMillisecond);

// A LLaVA-length prompt (576 image features + text) for 4 rows: prefill once and repeat the cache
// (arg 0) or prefill 4 identical rows (arg 1).
void BM_PrefillForFourRows(benchmark::State& state) {
  const bool repeat = state.range(0) == 0;
  constexpr int64_t rows = 4, prompt = 600;
  const at::Tensor embeds = at::randn({1, prompt, 512}) * 0.1;
  for (auto _ : state) {
    LlamaKvCache cache;
    if (repeat) {
      LlamaKvCache one = model().newCache(1, prompt + kNew);
      model().forwardEmbeddings(embeds, &one, true, true);
      cache = repeatCacheRows(one, rows);
    } else {
      cache = model().newCache(rows, prompt + kNew);
      model().forwardEmbeddings(embeds.expand({rows, -1, -1}), &cache, true, true);
    }
    benchmark::DoNotOptimize(cache.keys.data());
  }
}
BENCHMARK(BM_PrefillForFourRows)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

const LlavaRewardModel& rewardModel() {
  static const LlavaRewardModel rm = [] {
    at::set_num_threads(1);
    LlavaModel llava(LlavaVisionModel(midVision()), LlamaModel(midLlama()), 31999);
    return LlavaRewardModel(std::move(llava), at::randn({2, 512}) * 0.02, at::zeros({2}));
  }();
  return rm;
}

// 8 pairs (one side-by-side image each, one order) with a 40-token question.
void BM_RewardPairs(benchmark::State& state) {
  constexpr int64_t pairs = 8;
  at::Tensor ids = at::randint(3, 31000, {pairs, 40}, at::TensorOptions().dtype(at::kLong));
  ids.select(1, 1).fill_(31999);
  const at::Tensor pixels = at::randn({pairs, 3, 224, 224});
  for (auto _ : state) benchmark::DoNotOptimize(rewardModel().pairLogits(ids, pixels).data_ptr());
  state.counters["pairs/s"] = benchmark::Counter(static_cast<double>(pairs), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_RewardPairs)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
