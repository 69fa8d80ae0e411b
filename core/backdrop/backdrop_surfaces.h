#pragma once
// Procedural noise and surface materials for the built-in backdrop renderer. Noise is built
// from small random grids resized bicubically (value noise done by OpenCV's vectorised resize),
// so a full-size fBm costs a few resizes instead of millions of hash calls.

#include <opencv2/core.hpp>

#include "core/backdrop/backdrop_spec.h"

namespace caig::backdrop {

// fBm value noise in about [0,1] of `size`: `octaves` grids, the first `cells` cells across the
// longer side, each next twice as fine with amplitude * `gain`.
cv::Mat1f fbm(cv::Size size, double cells, int octaves, double gain, cv::RNG& rng);

// A material as two fields: `shade` multiplies the surface colour (around 1) and `accent`
// in [0,1] mixes towards the accent colour (veins, grain, pores). `unit` = pixels per 1/1024 of
// the image's geometric-mean side, so patterns keep their look at any ad size.
struct Surface {
  cv::Mat1f shade;
  cv::Mat1f accent;
};
Surface makeSurface(SurfaceMaterial material, cv::Size size, double unit, double contrast,
                    cv::RNG& rng);

}  // namespace caig::backdrop
