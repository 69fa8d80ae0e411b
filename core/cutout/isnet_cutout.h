#pragma once
// The neural cutout engine: ISNet (DIS) weights from a model folder made by importIsnet
// (config.json + isnet.safetensors), run by models/ in LibTorch on CUDA when there is one,
// else on the CPU. Torch-free header: Qt code may include it.

#include <filesystem>
#include <memory>
#include <string>

#include "core/cutout/cutout.h"

namespace caig {

struct IsnetCutoutOptions {
  int size = 0;          // network input side; 0: the model's own (1024). A multiple of 32.
  bool useCuda = true;   // use CUDA when LibTorch sees a device
};

class IsnetCutout : public CutoutEngine {
 public:
  // Throws CutoutError when the folder is missing or its weights do not match ISNet.
  explicit IsnetCutout(const std::filesystem::path& modelDir, const IsnetCutoutOptions& options = {});
  ~IsnetCutout() override;

  std::string name() const override { return "isnet"; }
  cv::Mat alpha(const cv::Mat& image) override;

  // The network's mask at its own resolution (CV_32FC1, size x size, values in [0, 1]) for a
  // BGR/BGRA image; an image already size x size goes in without resampling.
  cv::Mat probability(const cv::Mat& image);
  int size() const;
  std::string device() const;  // "cpu" or "cuda:0"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
