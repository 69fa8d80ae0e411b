#pragma once
// The built-in BackgroundGenerator's core: renders a BackdropSpec at any ad size and composes a
// placed product onto it with a contact shadow and an optional floor reflection. OpenCV only,
// deterministic (the same bytes for the same spec, seed and size), milliseconds per image.

#include <opencv2/core.hpp>

#include "core/backdrop/backdrop_spec.h"

namespace caig {

// Largest side accepted (same bound as image loading).
inline constexpr int kMaxBackdropSide = 16384;

// CV_8UC3 BGR of `size`. Out-of-range spec numbers are clamped (see clampSpec); throws
// SpecError for an empty or oversized `size` or a NaN in the spec.
cv::Mat renderBackdrop(const BackdropSpec& spec, cv::Size size);

// The spec with its podium moved under the product (centred on it, top face at its base, at
// least 1.3x its width) and a floor horizon kept behind it. `productAlpha`: CV_8UC1 canvas.
// `copyBottom`: that fraction of the height at the bottom is room for copy; the podium (and the
// shadow where it meets the floor) ends above it, shortened, or left out where under 2% of the
// height is left for it.
BackdropSpec fitSpecToProduct(const BackdropSpec& spec, const cv::Mat& productAlpha, double copyBottom = 0.0);

// `backdrop` CV_8UC3; `productBgr` CV_8UC3 (or CV_8UC4, alpha channel ignored) and
// `productAlpha` CV_8UC1, all of the backdrop's size, the product already placed. Adds the
// contact shadow (spec.shadowOpacity, shadowSoftness) and reflection (spec.reflection), then
// alpha-blends the product on top: where alpha is 255 the product's pixels come out unchanged.
// Throws std::invalid_argument for mismatched sizes or types.
cv::Mat composeProduct(const BackdropSpec& spec, const cv::Mat& backdrop, const cv::Mat& productBgr,
                       const cv::Mat& productAlpha);

// fitSpecToProduct + renderBackdrop + composeProduct at the product canvas's size.
cv::Mat renderAd(const BackdropSpec& spec, const cv::Mat& productBgr, const cv::Mat& productAlpha,
                 double copyBottom = 0.0);

}  // namespace caig
