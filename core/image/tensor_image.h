#pragma once
// Images <-> LibTorch tensors. Tensors are float32 NCHW with channels in RGB(A) order; the
// value range is explicit in every call because SD's VAE wants [-1, 1] and CLIP/ISNet [0, 1].
// Kept out of image_io.h so that Qt code never includes Torch headers.

#include <ATen/core/Tensor.h>

#include <opencv2/core.hpp>

namespace caig {

enum class PixelRange {
  ZeroToOne,       // 0 -> 0.0, 255 -> 1.0
  MinusOneToOne,   // 0 -> -1.0, 255 -> 1.0
};

// BGR/BGRA 8-bit -> [1, 3|4, H, W] float RGB(A).
at::Tensor imageToTensor(const cv::Mat& image, PixelRange range);
// [1, 3|4, H, W] or [3|4, H, W] float RGB(A) (any device) -> BGR/BGRA 8-bit, rounded and clamped.
cv::Mat tensorToImage(const at::Tensor& tensor, PixelRange range);

}  // namespace caig
