#pragma once
// CLIP image preprocessing as LLaVA feeds its vision tower in `image_aspect_ratio: pad` mode:
//   PIL convert('RGB') -> expand2square with the CLIP mean colour (LLaVA: int(mean * 255), i.e.
//   (122, 116, 104)) -> transformers' CLIPImageProcessor: resize the shortest side to S with
//   Pillow's BICUBIC, centre crop S x S, scale 1/255, normalise with the CLIP mean/std
//   -> [1, 3, S, S] float32 (S = 336 for ViT-L/14-336).
// The resize reproduces Pillow's Resample.c bit for bit (separable, horizontal pass first,
// bicubic a = -0.5 with its support widened by the scale when downsampling, coefficients in
// 22-bit fixed point, each pass rounded and clamped to uint8), so the tensors equal
// transformers' up to float rounding (tests compare against Pillow 9.4 output).
// Also the reward model's side-by-side input: two creatives resized to 512 x 512 each and put
// left | right into one 1024 x 512 image, which then goes through the same preprocessing.

#include <ATen/core/Tensor.h>

#include <array>
#include <opencv2/core.hpp>
#include <vector>

namespace caig {

inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

struct ClipPreprocessOptions {
  int size = 336;           // shortest side after resizing, and the centre crop
  bool padToSquare = true;  // LLaVA's pad mode; false = plain CLIP (resize shortest side, crop)
  std::array<float, 3> mean = kClipMean;
  std::array<float, 3> std = kClipStd;
};

// PIL's Image.convert('RGB') of an OpenCV image: BGR -> RGB, BGRA loses its alpha (not
// composited, as PIL), grey is replicated. Returns CV_8UC3 in RGB order. Throws
// std::invalid_argument for other types.
cv::Mat toRgb8(const cv::Mat& image);

// Pillow's Image.resize(size, Image.BICUBIC) of a CV_8UC1/CV_8UC3 image (channels independent,
// any order). Throws std::invalid_argument for other types or empty sizes.
cv::Mat pillowResizeBicubic(const cv::Mat& image, cv::Size size);

// LLaVA's expand2square: the image pasted on a square canvas of `background` (in the image's
// channel order), centred on the short axis with the offset rounded down.
cv::Mat expandToSquare(const cv::Mat& image, const cv::Scalar& background);

// The background LLaVA pads with: int(mean * 255) per channel, RGB order.
cv::Scalar clipPadColour(const std::array<float, 3>& mean = kClipMean);

// The 8-bit RGB image the vision tower sees (after pad, resize and crop, before scaling).
cv::Mat clipPreprocessPixels(const cv::Mat& image, const ClipPreprocessOptions& options = {});

// [1, 3, S, S] float32 CPU tensor of `image` (BGR, BGRA or grey 8-bit, as core loads them).
at::Tensor clipPreprocess(const cv::Mat& image, const ClipPreprocessOptions& options = {});
// [N, 3, S, S] of several images.
at::Tensor clipPreprocessBatch(const std::vector<cv::Mat>& images, const ClipPreprocessOptions& options = {});

// The reward model's pair image: `left` and `right` (BGR/BGRA/grey) each resized to side x side
// with Pillow's bicubic and concatenated left | right: BGR 8-bit (OpenCV order, so it goes
// straight into clipPreprocess), 2*side wide, side high.
cv::Mat sideBySide(const cv::Mat& left, const cv::Mat& right, int side = 512);

}  // namespace caig
