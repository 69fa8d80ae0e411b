#pragma once
// The reference cost every image benchmark is reported against, so that figures from different
// machines compare as ratios: a 5x5 Gaussian blur of a 1024x1024 BGR image, one thread.

#include <benchmark/benchmark.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace caig::bench {

inline void BM_Baseline_GaussianBlur1024(benchmark::State& state) {
  cv::setNumThreads(1);
  cv::Mat src(1024, 1024, CV_8UC3), dst;
  cv::randu(src, cv::Scalar::all(0), cv::Scalar::all(255));
  for (auto _ : state) {
    cv::GaussianBlur(src, dst, cv::Size(5, 5), 0);
    benchmark::DoNotOptimize(dst.data);
  }
}
BENCHMARK(BM_Baseline_GaussianBlur1024)->Unit(benchmark::kMillisecond);

}  // namespace caig::bench
