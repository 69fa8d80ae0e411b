// Click import at scale: a generated 1,000,000-row CSV (8 products, 16 small PNG swatches
// referenced by relative path, so image decoding is a fixed cost and the rows dominate),
// (a) parsed and checked as a dry run, (b) imported into a fresh project. Rows/s as counters,
// next to the shared OpenCV baseline measured in the same process.

#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <random>

#include "baseline.h"
#include "core/clicks/click_data.h"
#include "core/image/image_io.h"
#include "core/project/project.h"

namespace {

using namespace caig;
namespace fs = std::filesystem;

constexpr int kRows = 1000000;

// The generated folder lives for the whole process (made once, removed at exit).
struct ClickFixture {
  fs::path dir;
  fs::path csv;
  ClickFixture() {
    dir = fs::temp_directory_path() / ("caig_bench_clicks_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir / "img");
    for (int i = 0; i < 16; ++i) {
      cv::Mat m(32, 32, CV_8UC3, cv::Scalar(15 * i, 100, 255 - 15 * i));
      cv::circle(m, {16, 16}, 4 + i % 8, cv::Scalar(0, 20 * i, 90), -1);
      saveImage(dir / ("img/s" + std::to_string(i) + ".png"), m);
    }
    csv = dir / "clicks.csv";
    std::ofstream out(csv, std::ios::binary);
    out << "creative_id,image_path,product_id,product_name,category,impressions,clicks\n";
    std::mt19937 rng(7);
    for (int r = 0; r < kRows; ++r) {
      const int product = r % 8;
      const int impressions = 500 + static_cast<int>(rng() % 5000);
      out << "cr" << r << ",img/s" << (r % 16) << ".png,P" << product << ",Product " << product << ",cat"
          << product % 3 << ',' << impressions << ',' << rng() % (impressions / 20 + 1) << '\n';
    }
  }
  ~ClickFixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const ClickFixture& fixture() {
  static const ClickFixture f;
  return f;
}

void BM_ClickImport_DryRun1M(benchmark::State& state) {
  const auto& f = fixture();
  const fs::path projectDir = f.dir / "dry_project";
  auto project = Project::create(projectDir);
  ImportOptions dry;
  dry.dryRun = true;
  for (auto _ : state) {
    const ImportReport r = importClicks(project, f.csv, dry);
    if (r.rowsImported != kRows) state.SkipWithError("not every row accepted");
    benchmark::DoNotOptimize(r.rowsImported);
  }
  state.counters["rows/s"] = benchmark::Counter(double(kRows) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ClickImport_DryRun1M)->Unit(benchmark::kSecond)->Iterations(1);

void BM_ClickImport_Full1M(benchmark::State& state) {
  const auto& f = fixture();
  int n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const fs::path projectDir = f.dir / ("project" + std::to_string(n++));
    auto project = Project::create(projectDir);
    state.ResumeTiming();
    const ImportReport r = importClicks(project, f.csv);
    if (r.rowsImported != kRows) state.SkipWithError("not every row imported");
    state.PauseTiming();
    std::error_code ec;
    fs::remove_all(projectDir, ec);
    state.ResumeTiming();
  }
  state.counters["rows/s"] = benchmark::Counter(double(kRows) * state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ClickImport_Full1M)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
