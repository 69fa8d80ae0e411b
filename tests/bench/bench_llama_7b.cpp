// A LLaVA-7B-shaped language model (LLaMA: hidden 4096, 32 layers, 11008 MLP, vocab 32000;
// random weights, std 0.02) on this machine's CPU: greedy decoding in bf16, then with the linear
// layers quantised to weight-only int8 (LlamaModel::quantizeInt8), with the process's resident
// memory after each. fp32 does not fit a 24 GiB machine (27 GB of weights), so bf16 is the
// baseline. Memory-bound decoding has a floor: the bytes of weights read per token over the
// memory bandwidth, measured here first (a 1 GiB copy, the same threads).
//
//   bench_llama_7b [--layers 32] [--prompt 32] [--new 8] [--threads N]

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sys/resource.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "models/device_info.h"
#include "models/llama.h"

using namespace caig;

namespace {

double gib(double bytes) {
  return bytes / double(1ull << 30);
}

double peakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct Decode {
  double prefillSeconds = 0, tokensPerSecond = 0;
  at::Tensor tokens;
};

Decode decode(const LlamaModel& model, const at::Tensor& prompt, int64_t newTokens) {
  Decode d;
  auto t0 = std::chrono::steady_clock::now();
  (void)model.forward(prompt, nullptr, true, true);  // prefill alone, for its time
  d.prefillSeconds = seconds(t0);
  GreedyOptions o;
  o.maxNewTokens = newTokens;
  t0 = std::chrono::steady_clock::now();
  d.tokens = model.generateGreedy(prompt, o).tokens;
  const double total = seconds(t0);
  // generateGreedy prefills again: the decode steps are what is left.
  d.tokensPerSecond = static_cast<double>(newTokens - 1) / std::max(1e-9, total - d.prefillSeconds);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t layers = 32, promptTokens = 32, newTokens = 8;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (a == "--layers")
      layers = v;
    else if (a == "--prompt")
      promptTokens = v;
    else if (a == "--new")
      newTokens = std::max<int64_t>(2, v);
    else if (a == "--threads")
      threads = static_cast<int>(v);
  }
  if (threads > 0)
    at::set_num_threads(threads);
  else
    configureCpuThreads();

  // The floor's bandwidth: copy 1 GiB (read 1 + write 1) a few times.
  double bandwidth = 0;  // bytes/s, read + write
  {
    const at::Tensor src = at::ones({int64_t(1) << 28}), dst = at::empty_like(src);
    dst.copy_(src);
    const auto start = std::chrono::steady_clock::now();
    constexpr int kCopies = 4;
    for (int i = 0; i < kCopies; ++i) dst.copy_(src);
    bandwidth = 2.0 * kCopies * double(src.numel() * 4) / seconds(start);
  }  // freed before the model is built, so the RSS column is the model's
  auto t0 = std::chrono::steady_clock::now();

  LlamaConfig c;  // the defaults are LLaMA-7B's; LLaVA-1.5-7B's language model is this
  c.numLayers = layers;
  c.maxPositions = 4096;
  std::printf(
      "LLaMA-7B-shaped decoder (hidden %lld, %lld layers, MLP %lld, vocab %lld), random weights; %d threads; "
      "prompt %lld tokens, %lld new\n",
      (long long)c.hiddenSize, (long long)c.numLayers, (long long)c.intermediateSize, (long long)c.vocabSize,
      at::get_num_threads(), (long long)promptTokens, (long long)newTokens);
  std::printf("memory bandwidth (1 GiB copies): %.1f GB/s\n", bandwidth / 1e9);

  t0 = std::chrono::steady_clock::now();
  LlamaModel model = LlamaModel::uninitialised(c, at::kBFloat16);
  {
    at::NoGradGuard noGrad;
    auto gen = at::detail::createCPUGenerator(1);
    for (const auto& [name, p] : model.namedParameters()) {
      if (name.find("norm") != std::string::npos)
        p.fill_(1.0);
      else
        p.normal_(0.0, 0.02, gen);
    }
  }
  const double buildSeconds = seconds(t0);
  const at::Tensor prompt = at::randint(c.vocabSize, {1, promptTokens}, at::TensorOptions().dtype(at::kLong));

  std::printf("%-26s %10s %11s %12s %12s %14s %14s\n", "weights", "weights GB", "prefill s", "tokens/s", "vs bf16",
              "floor tokens/s", "RSS GiB");
  const double bf16Bytes = static_cast<double>(model.weightBytes());
  const Decode bf16 = decode(model, prompt, newTokens);
  const double bf16Rss = static_cast<double>(processRssBytes());
  // Decoding reads every weight once per token except the embedding table (one row).
  const double embedBytes = double(c.vocabSize * c.hiddenSize) * 2;
  std::printf("%-26s %10.2f %11.2f %12.3f %11.2fx %14.3f %14.2f\n", "bf16", bf16Bytes / 1e9, bf16.prefillSeconds,
              bf16.tokensPerSecond, 1.0, bandwidth / (bf16Bytes - embedBytes), gib(bf16Rss));

  t0 = std::chrono::steady_clock::now();
  model.quantizeInt8();
  const double quantiseSeconds = seconds(t0);
  const double int8Bytes = static_cast<double>(model.weightBytes());
  const Decode int8 = decode(model, prompt, newTokens);
  const double int8Rss = static_cast<double>(processRssBytes());
  std::printf("%-26s %10.2f %11.2f %12.3f %11.2fx %14.3f %14.2f\n", "int8 linears (bf16 compute)", int8Bytes / 1e9,
              int8.prefillSeconds, int8.tokensPerSecond, int8.tokensPerSecond / bf16.tokensPerSecond,
              bandwidth / (int8Bytes - embedBytes), gib(int8Rss));
  int64_t same = 0;
  for (int64_t i = 0; i < newTokens; ++i)
    same += bf16.tokens[0][i].item<int64_t>() == int8.tokens[0][i].item<int64_t>();
  std::printf(
      "random weights built in %.1f s, quantised in %.1f s; peak RSS %.2f GiB; int8 greedy tokens equal to "
      "bf16's: %lld of %lld\n",
      buildSeconds, quantiseSeconds, gib(peakRssBytes()), (long long)same, (long long)newTokens);
  return 0;
}
