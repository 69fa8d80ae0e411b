#include "core/cutout/isnet_cutout.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <opencv2/imgproc.hpp>

#include "models/device_info.h"
#include "models/io/errors.h"
#include "models/isnet.h"

namespace fs = std::filesystem;

namespace caig {

struct IsnetCutout::Impl {
  IsnetModel model;
  int size = 1024;
};

IsnetCutout::IsnetCutout(const fs::path& modelDir, const IsnetCutoutOptions& options) {
  const c10::Device device = options.useCuda && torch::cuda::is_available() ? c10::Device("cuda:0") : c10::Device("cpu");
  configureCpuThreads();  // once per process (usually done at start-up already)
  try {
    auto model = IsnetModel::load(modelDir, device);
    const int size = options.size > 0 ? options.size : model.config().inputSize;
    if (size % 32) throw CutoutError("ISNet input size " + std::to_string(size) + " is not a multiple of 32");
    impl_ = std::make_unique<Impl>(Impl{std::move(model), size});
  } catch (const io::FileError& e) {
    throw CutoutError(std::string("ISNet weights not found: ") + e.what() +
                      " (run packaging/fetch-isnet.sh to fetch and convert them)");
  } catch (const io::FormatError& e) {
    throw CutoutError(std::string("ISNet weights unusable: ") + e.what());
  }
}

IsnetCutout::~IsnetCutout() = default;

int IsnetCutout::size() const { return impl_->size; }
std::string IsnetCutout::device() const { return impl_->model.device().str(); }

cv::Mat IsnetCutout::probability(const cv::Mat& image) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 3 && image.channels() != 4))
    throw CutoutError("cutout needs an 8-bit BGR or BGRA image");
  const int s = impl_->size;
  cv::Mat rgb;
  cv::cvtColor(image, rgb, image.channels() == 4 ? cv::COLOR_BGRA2RGB : cv::COLOR_BGR2RGB);
  if (rgb.cols != s || rgb.rows != s) {
    // Area averaging when shrinking avoids aliasing; bilinear when enlarging.
    const bool shrink = rgb.cols > s || rgb.rows > s;
    cv::resize(rgb, rgb, cv::Size(s, s), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  if (!rgb.isContinuous()) rgb = rgb.clone();
  const auto& c = impl_->model.config();
  at::Tensor x = at::from_blob(rgb.data, {1, s, s, 3}, at::kByte).permute({0, 3, 1, 2}).to(at::kFloat);
  x = x.sub_(c.inputMean).mul_(c.inputScale).contiguous();
  at::Tensor mask;
  try {
    mask = impl_->model.forward(x).to(c10::kCPU).contiguous();
  } catch (const std::exception& e) {
    throw CutoutError(std::string("ISNet failed: ") + e.what());
  }
  cv::Mat out(s, s, CV_32FC1);
  std::memcpy(out.data, mask.data_ptr<float>(), sizeof(float) * static_cast<std::size_t>(s) * s);
  return out;
}

cv::Mat IsnetCutout::alpha(const cv::Mat& image) {
  cv::Mat p = probability(image);
  if (p.cols != image.cols || p.rows != image.rows) cv::resize(p, p, image.size(), 0, 0, cv::INTER_LINEAR);
  cv::Mat out;
  p.convertTo(out, CV_8U, 255.0);  // saturating and rounding
  return out;
}

}  // namespace caig
