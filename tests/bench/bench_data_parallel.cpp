// Data-parallel training on this machine: LoRA (r=16, the seven projections) training steps of a
// mid-size random LLaMA decoder (hidden 512, 8 layers, vocab 32000; the reward model's decoder
// shape scaled down), one global batch of 4 sequences x 128 tokens per optimiser step.
//
// Rows, each run in fresh worker processes started the way `caig ... --nproc N` starts them:
//   1 process x 1 thread   the baseline every ratio is against
//   2 processes x 1 thread data-parallel over Gloo on loopback, 2 sequences per rank
//   1 process x 2 threads  the other way to use two cores (LibTorch's intra-op threads)
// Per row: steps/s, the speed-up over the baseline, the scaling efficiency (speed-up / cores), and
// the share of rank 0's step spent inside the gradient all-reduce (which includes waiting for the
// slower rank). A last row times the all-reduce of the same LoRA gradients alone.
//
//   bench_data_parallel [steps]     (default 4 timed steps per row, after one warm-up step)

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/training/distributed.h"
#include "models/data_parallel.h"
#include "models/llama.h"
#include "models/lora.h"
#include "models/trainer.h"
#include "tests/bench/mid_llama.h"

namespace fs = std::filesystem;
using namespace caig;

namespace {

constexpr int64_t kGlobalBatch = 4, kTokens = 128, kVocab = 32000;  // midLlama's vocabulary

using bench::midLlama;

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// One worker: trains `steps` timed steps and, on rank 0, writes its figures to `out`.
int worker(int steps, const fs::path& out) {
  at::set_num_threads(envInt("CAIG_THREADS", 1));
  std::unique_ptr<DataParallel> parallel;
  if (auto options = dataParallelFromEnvironment(); options && options->worldSize > 1)
    parallel = std::make_unique<DataParallel>(*options);
  const int world = parallel ? parallel->worldSize() : 1, rank = parallel ? parallel->rank() : 0;
  const int64_t localBatch = kGlobalBatch / world;

  at::manual_seed(0);  // the same base weights on every rank
  LlamaModel model(midLlama());
  LoraConfig lc;
  lc.rank = 16;
  lc.alpha = 32;
  lc.targetModules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  LoraAdapters adapters(model, lc);
  const auto params = adapters.namedParameters();
  TrainerOptions o;
  o.learningRate = 1e-4;
  o.totalSteps = steps + 1;
  Trainer trainer(params, o);
  if (parallel) {
    trainer.setDataParallel(parallel.get());
    trainer.broadcastState(*parallel);
  }
  // This rank's rows of the global batch.
  auto gen = at::detail::createCPUGenerator(1);
  const at::Tensor all = at::randint(kVocab, {kGlobalBatch, kTokens}, gen, at::TensorOptions().dtype(at::kLong));
  const at::Tensor ids = all.narrow(0, rank * localBatch, localBatch).contiguous();
  const at::Tensor targets = ids.narrow(1, 1, kTokens - 1).reshape({-1});
  const double share = static_cast<double>(localBatch) / kGlobalBatch;  // of the global mean
  auto step = [&] {
    return trainer.trainStep([&](int64_t) {
      const at::Tensor logits = model.trainForward(model.embedForTraining(ids), {}).logits;
      const at::Tensor loss =
          at::cross_entropy_loss(logits.narrow(1, 0, kTokens - 1).reshape({-1, logits.size(2)}), targets) * share;
      return MicroBatch{loss, localBatch * kTokens};
    });
  };
  step();  // warm-up: allocations, Gloo's first buckets
  double comm = 0, loss = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    const StepReport r = step();
    comm += r.communicationSeconds;
    loss = r.loss;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The all-reduce alone, on gradients of the LoRA parameters' sizes.
  double reduceSeconds = 0;
  int64_t bytes = 0;
  if (parallel) {
    std::vector<at::Tensor> grads;
    for (const auto& p : params) {
      grads.push_back(at::ones_like(p.second).detach());
      bytes += p.second.numel() * static_cast<int64_t>(sizeof(float));
    }
    parallel->allReduceSum(grads);  // warm
    const auto t0 = std::chrono::steady_clock::now();
    constexpr int kReduces = 20;
    for (int i = 0; i < kReduces; ++i) parallel->allReduceSum(grads);
    reduceSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / kReduces;
  } else {
    for (const auto& p : params) bytes += p.second.numel() * static_cast<int64_t>(sizeof(float));
  }
  if (rank == 0) {
    std::ofstream(out) << nlohmann::json{{"seconds", seconds}, {"steps", steps},
                                         {"comm", comm},       {"loss", loss},
                                         {"bytes", bytes},     {"reduce", reduceSeconds},
                                         {"world", world},     {"threads", at::get_num_threads()}}
                              .dump();
  }
  return 0;
}

struct Row {
  const char* name;
  int processes, threads;
  nlohmann::json result;
};

nlohmann::json runRow(int processes, int threads, int steps, const fs::path& out) {
  fs::remove(out);
  ::setenv("CAIG_THREADS", std::to_string(threads).c_str(), 1);
  LocalLaunchOptions launch;
  launch.processes = processes;
  const int status = runLocalWorkers({"--worker", std::to_string(steps), out.string()}, launch);
  if (status != 0 || !fs::exists(out))
    throw std::runtime_error("a worker failed (status " + std::to_string(status) + ")");
  std::ifstream in(out);
  return nlohmann::json::parse(in);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 4 && std::string(argv[1]) == "--worker") return worker(std::atoi(argv[2]), argv[3]);
    const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 4;
    const fs::path out = fs::temp_directory_path() / ("caig-bench-dp-" + std::to_string(::getpid()) + ".json");
    std::vector<Row> rows = {{"1 process x 1 thread (baseline)", 1, 1, {}},
                             {"2 processes x 1 thread (Gloo)", 2, 1, {}},
                             {"1 process x 2 threads", 1, 2, {}}};
    for (Row& r : rows) r.result = runRow(r.processes, r.threads, steps, out);
    fs::remove(out);

    const double base = rows[0].result["steps"].get<double>() / rows[0].result["seconds"].get<double>();
    std::printf(
        "LoRA r=16 training step, random LLaMA (hidden 512, 8 layers, vocab 32000), global batch %lld x %lld tokens, "
        "%d timed steps per row\n",
        static_cast<long long>(kGlobalBatch), static_cast<long long>(kTokens), steps);
    std::printf("%-34s %9s %9s %9s %11s %10s\n", "configuration", "s/step", "steps/s", "speed-up", "efficiency",
                "all-reduce");
    for (const Row& r : rows) {
      const double sps = r.result["steps"].get<double>() / r.result["seconds"].get<double>();
      const double comm = r.result["comm"].get<double>() / r.result["seconds"].get<double>();
      const int cores = r.processes * r.threads;
      char commText[32] = "-";
      if (r.processes > 1) std::snprintf(commText, sizeof commText, "%.1f%%", 100.0 * comm);
      std::printf("%-34s %9.3f %9.3f %8.2fx %10.0f%% %10s\n", r.name, 1.0 / sps, sps, sps / base,
                  100.0 * sps / base / cores, commText);
    }
    const nlohmann::json& dp = rows[1].result;
    std::printf(
        "all-reduce alone of the %.2f MiB of LoRA gradients, 2 processes: %.2f ms (%.0f MiB/s), %.2f%% of the "
        "baseline's step\n",
        dp["bytes"].get<double>() / (1 << 20), 1e3 * dp["reduce"].get<double>(),
        dp["bytes"].get<double>() / (1 << 20) / dp["reduce"].get<double>(), 100.0 * dp["reduce"].get<double>() * base);
    std::printf("final loss: 1 process %.6f, 2 processes %.6f (the same steps)\n", rows[0].result["loss"].get<double>(),
                dp["loss"].get<double>());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data_parallel: %s\n", e.what());
    return 1;
  }
}
