// Loading weights: the mapped zero-copy reader against a plain buffered read + copy baseline,
// on the same 64 MiB file in the same process (page cache warm for both). And parsing a header
// of N tensors: the studio's bounded reader against nlohmann's DOM parser with a parse callback
// (what the header parser used before; it rescans the enclosing object for every member).
//   build/tests/bench/bench_safetensors [--benchmark_filter=...]

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/io/checkpoint.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"

namespace {

const std::filesystem::path& benchFile() {
  static const std::filesystem::path path = [] {
    auto p = std::filesystem::temp_directory_path() / "caig-bench-64mib.safetensors";
    caig::io::NamedTensors tensors;
    for (int i = 0; i < 64; ++i) tensors.emplace_back("layer." + std::to_string(i) + ".weight", at::randn({512, 512}));
    caig::io::saveSafetensors(p, tensors);
    return p;
  }();
  return path;
}

// Baseline: read the whole file, parse the header, copy every tensor into its own buffer.
void BM_BufferedReadAndCopy(benchmark::State& state) {
  const auto& path = benchFile();
  for (auto _ : state) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
    const auto header = caig::io::parseSafetensorsHeader(std::string_view(bytes.data() + 8, n), bytes.size() - 8 - n);
    double total = 0;
    for (const auto& t : header.tensors) {
      at::Tensor x = at::empty(t.shape);
      std::memcpy(x.data_ptr(), bytes.data() + 8 + n + t.begin, t.byteSize());
      total += x.sum().item<double>();
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(state.iterations() * std::filesystem::file_size(path));
}

void BM_MappedViews(benchmark::State& state) {
  const auto& path = benchFile();
  for (auto _ : state) {
    const auto ckpt = caig::io::Checkpoint::open(path);
    double total = 0;
    for (const auto& name : ckpt.names()) total += ckpt.tensor(name).sum().item<double>();
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(state.iterations() * std::filesystem::file_size(path));
}

// Opening alone: header parsed and validated, no tensor data touched.
void BM_OpenHeaderOnly(benchmark::State& state) {
  const auto& path = benchFile();
  for (auto _ : state) benchmark::DoNotOptimize(caig::io::Checkpoint::open(path).size());
}

// A header of `n` one-element tensors, as a model with many small tensors has.
std::string headerOf(int64_t n) {
  std::string h = "{";
  for (int64_t i = 0; i < n; ++i) {
    h += (i ? ",\"t" : "\"t") + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" +
         std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}";
  }
  return h + "}";
}

// Baseline: nlohmann's DOM parser with a (no-op) parse callback.
void BM_HeaderJson_CallbackParser(benchmark::State& state) {
  const std::string text = headerOf(state.range(0));
  for (auto _ : state) {
    const auto j = nlohmann::json::parse(text, [](int, nlohmann::json::parse_event_t, nlohmann::json&) { return true; });
    benchmark::DoNotOptimize(j.size());
  }
}

void BM_HeaderJson_BoundedReader(benchmark::State& state) {
  const std::string text = headerOf(state.range(0));
  caig::io::JsonLimits limits;
  limits.maxDepth = 3;
  limits.rejectDuplicateKeys = true;
  for (auto _ : state) benchmark::DoNotOptimize(caig::io::parseJson(text, "bench", limits).size());
}

// The whole header check (reader + entry validation + contiguity) on the same text.
void BM_HeaderParse_Safetensors(benchmark::State& state) {
  const std::string text = headerOf(state.range(0));
  const uint64_t dataBytes = 4 * static_cast<uint64_t>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(caig::io::parseSafetensorsHeader(text, dataBytes).tensors.size());
}

BENCHMARK(BM_HeaderJson_CallbackParser)->Arg(1000)->Arg(10000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HeaderJson_BoundedReader)->Arg(1000)->Arg(10000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HeaderParse_Safetensors)->Arg(1000)->Arg(10000)->Arg(20000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BufferedReadAndCopy)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MappedViews)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpenHeaderOnly)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
