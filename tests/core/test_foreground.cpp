// Foreground colour at a cutout's soft edge (core/image/foreground.h): a product shot on a
// coloured backdrop, pasted onto white, must not carry the backdrop's colour in its edge.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "core/generation/composition.h"
#include "core/image/foreground.h"
#include "core/image/image_io.h"

namespace caig {
namespace {

const std::filesystem::path kDemo = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

// a F + (1 - a) B, rounded to 8 bits, for an image F and a flat colour B.
cv::Mat composite(const cv::Mat& F, const cv::Mat& alpha, const cv::Scalar& B) {
  cv::Mat f, a, a3, out;
  F.convertTo(f, CV_32FC3);
  alpha.convertTo(a, CV_32F, 1.0 / 255);
  cv::merge(std::vector<cv::Mat>(3, a), a3);
  const cv::Mat b(F.size(), CV_32FC3, B);
  cv::Mat mix = f.mul(a3) + b.mul(cv::Scalar::all(1.0) - a3);
  mix.convertTo(out, CV_8UC3);
  return out;
}

// Mean absolute colour error over the soft edge (0 < alpha < 255), in 8-bit levels.
double edgeError(const cv::Mat& x, const cv::Mat& truth, const cv::Mat& alpha) {
  cv::Mat d;
  cv::absdiff(x, truth, d);
  const cv::Scalar m = cv::mean(d, (alpha > 0) & (alpha < 255));
  return (m[0] + m[1] + m[2]) / 3;
}

// A pure foreground colour at every pixel (a shot's own edge pixels are already mixed with its
// backdrop, so they cannot serve as the truth): a colour gradient with a fine stripe texture.
cv::Mat productColours(cv::Size size) {
  cv::Mat F(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const double u = double(x) / size.width, v = double(y) / size.height;
      const double stripe = 25 * std::sin((x + 2 * y) * 0.35);
      F.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uchar>(60 + 120 * u + stripe), cv::saturate_cast<uchar>(90 + 60 * v - stripe),
                    cv::saturate_cast<uchar>(200 - 130 * u + stripe));
    }
  }
  return F;
}

TEST(Foreground, PastedEdgesCarryNoneOfTheOldBackdrop) {
  // The demo products' real silhouettes and soft edges, filled with known product colours.
  for (const char* name : {"mug", "perfume", "jar"}) {
    SCOPED_TRACE(name);
    cv::Mat alpha = loadImage(kDemo / (std::string(name) + ".alpha.png"));
    cv::extractChannel(alpha, alpha, 0);
    ASSERT_GT(cv::countNonZero((alpha > 0) & (alpha < 255)), 500) << "the demo masks have soft edges";
    const cv::Mat F = productColours(alpha.size());
    const cv::Scalar green(30, 200, 40), white(255, 255, 255);
    const cv::Mat shot = composite(F, alpha, green);   // the product photographed on green
    const cv::Mat truth = composite(F, alpha, white);  // what it looks like on white
    const cv::Mat whiteCanvas(F.size(), CV_8UC3, white);
    const cv::Mat naive = pasteBack(whiteCanvas, shot, alpha, 0.0);
    const cv::Mat fg = estimateForeground(shot, alpha);
    const cv::Mat fixedEdges = pasteBack(whiteCanvas, fg, alpha, 0.0);
    const double before = edgeError(naive, truth, alpha), after = edgeError(fixedEdges, truth, alpha);
    std::printf("[ FG ] %-8s edge colour error on white: pasted as shot %.1f levels, foreground estimated %.1f\n", name,
                before, after);
    EXPECT_LT(after, 0.4 * before);
    // Opaque and transparent pixels are untouched.
    cv::Mat same;
    cv::compare(fg, shot, same, cv::CMP_NE);
    cv::Mat changed;
    cv::cvtColor(same, changed, cv::COLOR_BGR2GRAY);
    EXPECT_EQ(cv::countNonZero(changed & ((alpha == 0) | (alpha == 255))), 0);
  }
}

TEST(Foreground, PrepareProductUsesItAndCanBeTurnedOff) {
  const cv::Mat F = loadImage(kDemo / "mug.png");
  cv::Mat alpha = loadImage(kDemo / "mug.alpha.png");
  cv::extractChannel(alpha, alpha, 0);
  EXPECT_EQ(cv::norm(prepareProduct(F, alpha).bgr, estimateForeground(F, alpha), cv::NORM_INF), 0.0);
  CompositionParams raw;
  raw.estimateForeground = false;
  EXPECT_EQ(cv::norm(prepareProduct(F, alpha, raw).bgr, F, cv::NORM_INF), 0.0);
  EXPECT_THROW(estimateForeground(F, cv::Mat(10, 10, CV_8UC1)), std::invalid_argument);
  // Without a soft edge there is nothing to estimate.
  const cv::Mat hard = (alpha > 127);
  EXPECT_EQ(cv::norm(estimateForeground(F, hard), F, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace caig
