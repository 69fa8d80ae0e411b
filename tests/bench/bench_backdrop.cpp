// Built-in engines' cost, single-threaded, each next to a plain OpenCV baseline measured in the
// same process so that figures read as ratios on any machine.

#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "baseline.h"
#include "core/backdrop/backdrop_renderer.h"
#include "core/prompts/prompt_writer.h"

namespace {

using namespace caig;

// One description per style (the spec the template writer makes for it), rendered at 1024.
void BM_RenderStyle1024(benchmark::State& state) {
  cv::setNumThreads(1);
  static TemplatePromptWriter writer;
  const auto ids = writer.styleIds();
  const std::string id = ids.at(static_cast<std::size_t>(state.range(0)));
  TemplatePromptWriter w = writer;
  for (const auto& other : ids) w.styleWeights[other] = other == id ? 1.0 : 0.0;
  const ProductBrief brief{"Amber Eau de Parfum 50 ml", "fragrance", {}};
  BackdropSpec spec = w.write(brief, 1, 5)[0].spec;
  spec.podium.top = 0.85;
  state.SetLabel(id);
  for (auto _ : state) {
    cv::Mat img = renderBackdrop(spec, {1024, 1024});
    benchmark::DoNotOptimize(img.data);
  }
}
BENCHMARK(BM_RenderStyle1024)->DenseRange(0, 11)->Unit(benchmark::kMillisecond);

// Reference cost for the prompt writer: cv::cvtColor of a 256x256 image to Lab.
void BM_Baseline_Lab256(benchmark::State& state) {
  cv::setNumThreads(1);
  cv::Mat src(256, 256, CV_8UC3), dst;
  cv::randu(src, cv::Scalar::all(0), cv::Scalar::all(255));
  for (auto _ : state) {
    cv::cvtColor(src, dst, cv::COLOR_BGR2Lab);
    benchmark::DoNotOptimize(dst.data);
  }
}
BENCHMARK(BM_Baseline_Lab256)->Unit(benchmark::kMicrosecond);

void BM_WritePrompt(benchmark::State& state) {
  cv::setNumThreads(1);
  static TemplatePromptWriter writer;
  cv::Mat img(64, 64, CV_8UC3, cv::Scalar(30, 120, 200));
  const ProductBrief brief{"Amber Eau de Parfum 50 ml", "fragrance", dominantColours(img, cv::Mat())};
  std::uint64_t seed = 0;
  for (auto _ : state) benchmark::DoNotOptimize(writer.write(brief, 1, seed++));
}
BENCHMARK(BM_WritePrompt)->Unit(benchmark::kMicrosecond);

void BM_DominantColours768(benchmark::State& state) {
  cv::setNumThreads(1);
  cv::Mat img(768, 768, CV_8UC3), alpha(768, 768, CV_8UC1, cv::Scalar(255));
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  for (auto _ : state) benchmark::DoNotOptimize(dominantColours(img, alpha, 3));
}
BENCHMARK(BM_DominantColours768)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
