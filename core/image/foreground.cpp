#include "core/image/foreground.h"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace caig {
namespace {

cv::Mat blur(const cv::Mat& m, int r) {
  cv::Mat out;
  cv::boxFilter(m, out, CV_32F, cv::Size(2 * r + 1, 2 * r + 1), cv::Point(-1, -1), true, cv::BORDER_REPLICATE);
  return out;
}

// One blur-fusion pass: F and B are the current estimates (CV_32FC3 in [0, 1]), a the alpha
// (CV_32FC1). Returns the new F; `blurredB` receives the local background colour.
cv::Mat fusion(const cv::Mat& I, const cv::Mat& F, const cv::Mat& B, const cv::Mat& a, const cv::Mat& a3, int r,
               cv::Mat& blurredB) {
  constexpr float kEps = 1e-5f;
  const cv::Mat oneMinus3 = cv::Scalar::all(1.0) - a3;
  const cv::Mat blurredA = blur(a, r);
  cv::Mat denomF, denomB;
  cv::merge(std::vector<cv::Mat>(3, blurredA + kEps), denomF);
  cv::merge(std::vector<cv::Mat>(3, (1.0 - blurredA) + kEps), denomB);
  const cv::Mat blurredF = blur(F.mul(a3), r) / denomF;
  blurredB = blur(B.mul(oneMinus3), r) / denomB;
  // The compositing residual of the blurred estimates, given to F in proportion to a.
  const cv::Mat residual = I - a3.mul(blurredF) - oneMinus3.mul(blurredB);
  cv::Mat out = blurredF + a3.mul(residual);
  cv::min(cv::max(out, 0.0), 1.0, out);
  return out;
}

}  // namespace

cv::Mat estimateForeground(const cv::Mat& image, const cv::Mat& alpha, const ForegroundOptions& options) {
  if (image.type() != CV_8UC3 || alpha.type() != CV_8UC1 || image.size() != alpha.size()) {
    throw std::invalid_argument("estimateForeground: an 8-bit BGR image and an 8-bit alpha of its size");
  }
  cv::Mat out = image.clone();
  const cv::Mat edge = (alpha > 0) & (alpha < 255);
  if (cv::countNonZero(edge) == 0) return out;
  cv::Mat I, a, a3;
  image.convertTo(I, CV_32FC3, 1.0 / 255);
  alpha.convertTo(a, CV_32F, 1.0 / 255);
  cv::merge(std::vector<cv::Mat>(3, a), a3);
  const int side = std::min(image.cols, image.rows);
  const int wide = std::max(1, std::min(options.wideRadius, side / 4));
  const int narrow = std::max(1, std::min(options.narrowRadius, wide));
  cv::Mat blurredB, unused;
  const cv::Mat F1 = fusion(I, I, I, a, a3, wide, blurredB);
  const cv::Mat F = fusion(I, F1, blurredB, a, a3, narrow, unused);
  cv::Mat F8;
  F.convertTo(F8, CV_8UC3, 255.0);
  F8.copyTo(out, edge);
  return out;
}

}  // namespace caig
