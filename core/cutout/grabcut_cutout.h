#pragma once
// The cutout fallback when the ISNet weights are absent: OpenCV's GrabCut, seeded without user
// input from what product shots usually look like (the image border is background, the product
// sits near the centre, and on studio shots it differs in colour from the backdrop). Good on
// plain backdrops; on busy photos it is a rough start for the mask brush. A backdrop's shadows
// (darker, not another colour) are not product; the soft edge follows the colour line between
// the product and the backdrop next to it.

#include <opencv2/core.hpp>

#include "core/cutout/cutout.h"

namespace caig {

struct GrabCutParams {
  int workingSide = 512;  // GrabCut runs with the long side at most this (speed)
  int iterations = 5;
  double borderFraction = 0.03;  // border band (of the short side, >= 2 px) = sure background
  double centreFraction = 0.5;   // central box (of width and height) = probable product
  // Colour seeds: pixels farther than this (CIELab units) from the border's median colour are
  // probable product. 0 = automatic from the border's spread.
  double colourThreshold = 0.0;
  double minArea = 0.002;  // product area limits, fractions of the image
  double maxArea = 0.97;
  // Half-width of the soft-edge band at full resolution, per working-resolution pixel; alpha
  // there comes from the local product and backdrop colours (0 = a hard edge).
  int refineRadius = 2;
};

class GrabCutCutout : public CutoutEngine {
 public:
  explicit GrabCutCutout(GrabCutParams params = {}) : params_(params) {}
  std::string name() const override { return "grabcut"; }
  // CV_8UC3/CV_8UC4 (alpha channel ignored) -> CV_8UC1, 255 = product, soft 1-2 px edges.
  // Throws CutoutError when nothing product-like stands out from the background.
  cv::Mat alpha(const cv::Mat& image) override;

 private:
  GrabCutParams params_;
};

}  // namespace caig
