#include "core/image/tensor_image.h"

#include <ATen/Functions.h>

#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace caig {

at::Tensor imageToTensor(const cv::Mat& image, PixelRange range) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 3 && image.channels() != 4)) {
    throw std::invalid_argument("imageToTensor expects a non-empty 8-bit BGR or BGRA image");
  }
  cv::Mat rgb;
  cv::cvtColor(image, rgb, image.channels() == 4 ? cv::COLOR_BGRA2RGBA : cv::COLOR_BGR2RGB);
  const int c = rgb.channels();
  at::Tensor hwc = at::from_blob(rgb.data, {rgb.rows, rgb.cols, c},
                                 {static_cast<int64_t>(rgb.step[0]), c, 1}, at::kByte);
  at::Tensor out = hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).contiguous();
  if (range == PixelRange::ZeroToOne) return out.div_(255.0);
  return out.div_(127.5).sub_(1.0);
}

cv::Mat tensorToImage(const at::Tensor& tensor, PixelRange range) {
  at::Tensor t = tensor;
  if (t.dim() == 4) {
    if (t.size(0) != 1) throw std::invalid_argument("tensorToImage converts one image, got a batch");
    t = t[0];
  }
  if (t.dim() != 3 || (t.size(0) != 3 && t.size(0) != 4)) {
    throw std::invalid_argument("tensorToImage expects [3|4, H, W] or [1, 3|4, H, W]");
  }
  t = t.detach().to(at::kCPU, at::kFloat);
  t = range == PixelRange::ZeroToOne ? t.mul(255.0) : t.add(1.0).mul(127.5);
  t = t.round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  const int c = static_cast<int>(t.size(2));
  cv::Mat rgb(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC(c), t.data_ptr());
  cv::Mat out;
  cv::cvtColor(rgb, out, c == 4 ? cv::COLOR_RGBA2BGRA : cv::COLOR_RGB2BGR);
  return out;  // cvtColor allocated fresh memory, independent of t
}

}  // namespace caig
