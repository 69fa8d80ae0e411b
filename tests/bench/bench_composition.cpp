// Composition (layout + paste-back) and the GrabCut cutout at 1024x1024 on a demo product shot,
// next to a plain OpenCV baseline measured in the same process.

#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "baseline.h"
#include "core/generation/composition.h"
#include "core/project/demo_products.h"
#include "core/cutout/grabcut_cutout.h"

namespace {

using namespace caig;

const DemoProduct& product1024() {
  static const DemoProduct p = renderDemoProducts(1024).at(0);  // the perfume bottle
  return p;
}

// Placement, product layer, 20x20 mask and canny control on a 1024 canvas.
void BM_Layout1024(benchmark::State& state) {
  const ProductShot shot = prepareProduct(product1024().shot, product1024().alpha);
  for (auto _ : state) {
    Layout l = layoutProduct(shot, {1024, 1024});
    benchmark::DoNotOptimize(l.control.data);
  }
}
BENCHMARK(BM_Layout1024)->Unit(benchmark::kMillisecond);

void BM_PasteBack1024(benchmark::State& state) {
  const Layout l = layoutProduct(prepareProduct(product1024().shot, product1024().alpha), {1024, 1024});
  cv::Mat generated(1024, 1024, CV_8UC3);
  cv::randu(generated, cv::Scalar::all(0), cv::Scalar::all(255));
  for (auto _ : state) {
    cv::Mat out = pasteBack(generated, l);
    benchmark::DoNotOptimize(out.data);
  }
}
BENCHMARK(BM_PasteBack1024)->Unit(benchmark::kMillisecond);

// GrabCut at its 512 working side, plus the 1024 upsampling and edge refinement.
void BM_GrabCut1024(benchmark::State& state) {
  GrabCutCutout engine;
  for (auto _ : state) {
    cv::Mat a = engine.alpha(product1024().shot);
    benchmark::DoNotOptimize(a.data);
  }
}
BENCHMARK(BM_GrabCut1024)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
