// Training step time (forward + backward + AdamW step) on a mid-size random LLaMA (hidden 512,
// 8 layers, vocab 32000, batch 2 x 256 tokens, next-token cross-entropy): LoRA r=16 on the seven
// projections vs full-parameter training, each with and without per-layer gradient
// checkpointing, against forward-only inference of the same batch (the in-process baseline).
// Torch runs on one thread, like the OpenCV baseline (baseline.h) also measured here.
// peak_rss_MB is the process's high-water mark after the benchmark (getrusage): benchmarks run
// in registration order, lightest first, so each figure bounds that configuration's peak.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "baseline.h"
#include "models/llama.h"
#include "models/lora.h"
#include "models/trainer.h"
#include "tests/bench/mid_llama.h"

namespace {

using namespace caig;

constexpr int64_t kBatch = 2, kTokens = 256;

using bench::midLlama;

double peakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

at::Tensor batchIds() {
  auto gen = at::detail::createCPUGenerator(1);
  return at::randint(32000, {kBatch, kTokens}, gen, at::TensorOptions().dtype(at::kLong));
}

void BM_Training_ForwardOnly(benchmark::State& state) {
  at::set_num_threads(1);
  const LlamaModel model(midLlama());
  const at::Tensor ids = batchIds();
  for (auto _ : state) benchmark::DoNotOptimize(model.forward(ids).logits.data_ptr());
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(kBatch * kTokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_rss_MB"] = peakRssMb();
}
BENCHMARK(BM_Training_ForwardOnly)->Unit(benchmark::kMillisecond)->Iterations(3);

// range(0): 1 = LoRA r=16, 0 = full parameters; range(1): 1 = gradient checkpointing.
void BM_Training_Step(benchmark::State& state) {
  at::set_num_threads(1);
  LlamaModel model(midLlama());
  const bool lora = state.range(0) != 0;
  LlamaForwardOptions fo;
  fo.checkpointLayers = state.range(1) != 0;
  std::unique_ptr<LoraAdapters> adapters;
  std::vector<std::pair<std::string, at::Tensor>> params;
  if (lora) {
    LoraConfig c;
    c.rank = 16;
    c.alpha = 32;
    c.targetModules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    adapters = std::make_unique<LoraAdapters>(model, c);
    params = adapters->namedParameters();
  } else {
    model.setRequiresGrad(true);
    params = model.namedParameters();
  }
  TrainerOptions o;
  o.learningRate = 1e-6;
  o.totalSteps = 1000;
  Trainer trainer(params, o);
  const at::Tensor ids = batchIds();
  const at::Tensor targets = ids.narrow(1, 1, kTokens - 1).reshape({-1});
  for (auto _ : state) {
    trainer.trainStep([&](int64_t) {
      const at::Tensor logits = model.trainForward(model.embedForTraining(ids), {}, fo).logits;
      const at::Tensor loss =
          at::cross_entropy_loss(logits.narrow(1, 0, kTokens - 1).reshape({-1, logits.size(2)}), targets);
      return MicroBatch{loss, kBatch * kTokens};
    });
  }
  int64_t trainable = 0;
  for (const auto& p : params) trainable += p.second.numel();
  state.counters["trainable_M"] = static_cast<double>(trainable) / 1e6;
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(kBatch * kTokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_rss_MB"] = peakRssMb();
}
BENCHMARK(BM_Training_Step)
    ->ArgNames({"lora", "checkpoint"})
    ->Args({1, 1})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({0, 0})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
