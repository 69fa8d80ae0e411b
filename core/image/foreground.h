#pragma once
// Foreground colour at a cutout's soft edge. An edge pixel of a product shot is a mix of the
// product and the old backdrop, I = a F + (1 - a) B; pasting I onto a new background keeps the
// old backdrop's share and draws a halo (grey on a white-paper shot, green on a green screen).
// estimateForeground solves for F with Forte and Pitie's blur-fusion estimator ("Approximate
// fast foreground colour estimation", ICIP 2021): local means of the foreground and background
// colours from box blurs weighted by a and 1 - a, then the compositing residual given to F, at
// a wide radius and then a narrow one. O(pixels), a few milliseconds per megapixel.

#include <opencv2/core.hpp>

namespace caig {

struct ForegroundOptions {
  int wideRadius = 90;   // first pass: the colours of the whole neighbourhood (clamped to side / 4)
  int narrowRadius = 6;  // second pass: the colours right at the edge
};

// `image` CV_8UC3, `alpha` CV_8UC1 of its size. Returns the image with every pixel of
// 0 < alpha < 255 replaced by its estimated foreground colour; opaque and transparent pixels
// are returned bit-identical. Throws std::invalid_argument for other types or sizes.
cv::Mat estimateForeground(const cv::Mat& image, const cv::Mat& alpha, const ForegroundOptions& options = {});

}  // namespace caig
