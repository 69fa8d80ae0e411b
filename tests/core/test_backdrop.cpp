// The built-in backdrop renderer: deterministic, any size, no banding, and composing keeps the
// product's pixels while the shadow stays under it.

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/backdrop/backdrop_renderer.h"
#include "core/backdrop/backdrop_spec.h"

namespace caig {
namespace {

std::uint64_t hashBytes(const cv::Mat& m) {
  std::uint64_t h = 1469598103934665603ull;
  for (int y = 0; y < m.rows; ++y) {
    const uchar* p = m.ptr<uchar>(y);
    for (std::size_t i = 0; i < m.cols * m.elemSize(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

BackdropSpec busySpec() {
  BackdropSpec s;
  s.layout = BackdropLayout::FloorHorizon;
  s.floorMaterial = SurfaceMaterial::Wood;
  s.wallMaterial = SurfaceMaterial::Concrete;
  s.podium.shape = PodiumShape::Cylinder;
  s.podium.material = SurfaceMaterial::Marble;
  s.bokeh = 0.6;
  s.depthBlur = 0.4;
  s.seed = 42;
  return s;
}

TEST(Backdrop, SameSeedSameBytesOtherSeedOtherBytes) {
  BackdropSpec s = busySpec();
  const cv::Mat a = renderBackdrop(s, {320, 240});
  const cv::Mat b = renderBackdrop(s, {320, 240});
  EXPECT_EQ(hashBytes(a), hashBytes(b));
  s.seed = 43;
  EXPECT_NE(hashBytes(a), hashBytes(renderBackdrop(s, {320, 240})));
}

TEST(Backdrop, EveryLayoutAndMaterialRendersAtAdSizes) {
  const cv::Size sizes[] = {{1, 1}, {7, 3}, {333, 517}, {1200, 628}, {1080, 1920}};
  int i = 0;
  for (const cv::Size size : sizes) {
    BackdropSpec s = busySpec();
    s.layout = static_cast<BackdropLayout>(i % 5);
    s.wallMaterial = static_cast<SurfaceMaterial>(i % 5);
    s.podium.shape = static_cast<PodiumShape>(i % 3);
    ++i;
    const cv::Mat img = renderBackdrop(s, size);
    ASSERT_EQ(img.type(), CV_8UC3);
    ASSERT_EQ(img.size(), size);
  }
  EXPECT_THROW(renderBackdrop(BackdropSpec{}, {0, 10}), SpecError);
  EXPECT_THROW(renderBackdrop(BackdropSpec{}, {20000, 10}), SpecError);
}

TEST(Backdrop, OutOfRangeNumbersAreClampedAndNonsenseRejected) {
  BackdropSpec s;
  s.vignette = 3.0;
  s.horizon = -1.0;
  s.podium.width = 9.0;
  const auto notes = clampSpec(s);
  EXPECT_EQ(notes.size(), 3u);
  EXPECT_EQ(s.vignette, 1.0);
  EXPECT_EQ(s.horizon, 0.2);
  EXPECT_EQ(s.podium.width, 1.5);

  nlohmann::json j = toJson(BackdropSpec{});
  j["grain"] = 7;
  std::vector<std::string> changed;
  EXPECT_EQ(backdropSpecFromJson(j, &changed).grain, 1.0);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_NE(changed[0].find("grain"), std::string::npos);

  for (const auto& [key, bad] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"layout", "tornado"}, {"wallColour", "#12345"}, {"wallColour", "#zz0000"}, {"grain", "lots"}}) {
    nlohmann::json k = toJson(BackdropSpec{});
    k[key] = bad;
    EXPECT_THROW(backdropSpecFromJson(k), SpecError) << key;
  }
  BackdropSpec nan;
  nan.bokeh = std::nan("");
  EXPECT_THROW(renderBackdrop(nan, {8, 8}), SpecError);
}

TEST(Backdrop, JsonRoundTrip) {
  BackdropSpec s = busySpec();
  s.wallColour = cv::Vec3b(10, 20, 30);
  s.podium.top = 0.77;
  const BackdropSpec back = backdropSpecFromJson(nlohmann::json::parse(toJson(s).dump()));
  EXPECT_TRUE(back == s);
  EXPECT_EQ(toJson(s)["wallColour"], "#1e140a");  // RGB order in JSON
}

// A smooth vertical falloff must not quantise into bands: in the ideal gradient adjacent rows
// differ, so long runs of identical row means would be visible steps.
TEST(Backdrop, SmoothSweepDoesNotBand) {
  BackdropSpec s;
  s.layout = BackdropLayout::LinearGradient;
  s.lightAngle = 0;
  s.wallColour = cv::Vec3b(200, 200, 200);
  s.floorColour = cv::Vec3b(150, 150, 150);  // 50 levels over 1000 rows: 20 rows per level
  s.vignette = 0;
  s.grain = 0;
  s.gradeStrength = 0;
  s.wallMaterial = SurfaceMaterial::Paper;
  s.materialContrast = 0;
  const cv::Mat img = renderBackdrop(s, {64, 1000});
  // Each row quantised as a whole (what banding is): a row is "the same" as the previous one
  // when every pixel is identical.
  int longestRun = 1, run = 1;
  for (int y = 1; y < img.rows; ++y) {
    run = cv::norm(img.row(y), img.row(y - 1), cv::NORM_INF) == 0 ? run + 1 : 1;
    longestRun = std::max(longestRun, run);
  }
  EXPECT_LT(longestRun, 3);
  // And the mean still follows the gradient: top lighter than bottom.
  EXPECT_GT(cv::mean(img.rowRange(0, 100))[0], cv::mean(img.rowRange(900, 1000))[0] + 20);
}

struct Placed {
  cv::Mat bgr, alpha;
};

// A dark rounded box standing at the lower middle of a 400x400 canvas.
Placed syntheticProduct() {
  Placed p{cv::Mat(400, 400, CV_8UC3, cv::Scalar(40, 90, 160)), cv::Mat::zeros(400, 400, CV_8UC1)};
  cv::rectangle(p.alpha, cv::Rect(150, 120, 100, 180), cv::Scalar(255), cv::FILLED, cv::LINE_AA);
  cv::GaussianBlur(p.alpha, p.alpha, cv::Size(3, 3), 0);
  cv::randu(p.bgr, cv::Scalar::all(0), cv::Scalar::all(255));
  return p;
}

TEST(Backdrop, ComposeKeepsOpaqueProductPixels) {
  const Placed p = syntheticProduct();
  BackdropSpec s = busySpec();
  s.reflection = 0.8;
  const cv::Mat ad = renderAd(s, p.bgr, p.alpha);
  const cv::Mat opaque = p.alpha == 255;
  ASSERT_GT(cv::countNonZero(opaque), 10000);
  cv::Mat diff;
  cv::absdiff(ad, p.bgr, diff);
  cv::Mat diffMax;
  cv::cvtColor(diff, diffMax, cv::COLOR_BGR2GRAY);
  EXPECT_EQ(cv::countNonZero(diffMax & opaque), 0);
  EXPECT_THROW(composeProduct(s, cv::Mat(10, 10, CV_8UC3), p.bgr, p.alpha), std::invalid_argument);
}

TEST(Backdrop, ContactShadowDarkensOnlyNearTheBase) {
  const Placed p = syntheticProduct();
  BackdropSpec s;
  s.grain = 0;
  s.shadowOpacity = 0.8;
  const cv::Mat bg = renderBackdrop(s, p.alpha.size());
  const cv::Mat with = composeProduct(s, bg, p.bgr, p.alpha);
  BackdropSpec none = s;
  none.shadowOpacity = 0;
  const cv::Mat without = composeProduct(none, bg, p.bgr, p.alpha);
  cv::Mat g1, g0;
  cv::cvtColor(with, g1, cv::COLOR_BGR2GRAY);
  cv::cvtColor(without, g0, cv::COLOR_BGR2GRAY);
  cv::Mat darker = (g0 - g1) > 2;  // saturating: only pixels the shadow darkened
  darker &= p.alpha == 0;
  ASSERT_GT(cv::countNonZero(darker), 50) << "no visible shadow";
  // Every darkened pixel is near the base (row 299): not above mid-height, not far below or aside.
  const cv::Rect box = cv::boundingRect(darker);
  EXPECT_GT(box.y, 200);
  EXPECT_LT(box.y + box.height, 340);
  EXPECT_GT(box.x, 80);
  EXPECT_LT(box.x + box.width, 320);
  // Right under the base the shadow is clearly visible.
  EXPECT_GT(g0.at<uchar>(303, 200) - g1.at<uchar>(303, 200), 20);
}

// Room for copy at the bottom: the podium under the product ends above the band (its body
// shortened, the shadow where it meets the floor included), so a call to action set there does
// not sit on the podium; with no room left it is left out.
TEST(Backdrop, ThePodiumStaysOutOfABottomCopyBand) {
  const cv::Size size(540, 960);
  cv::Mat alpha = cv::Mat::zeros(size, CV_8UC1);
  cv::rectangle(alpha, cv::Rect(190, 300, 160, 300), cv::Scalar(255), cv::FILLED);  // base at row 599
  BackdropSpec s = busySpec();
  s.podium.height = 0.3;
  const int band = static_cast<int>(0.8 * size.height);
  const auto backdrops = [&](double copyBottom) {
    const BackdropSpec fitted = fitSpecToProduct(s, alpha, copyBottom);
    BackdropSpec bare = fitted;
    bare.podium.shape = PodiumShape::None;
    return std::make_pair(renderBackdrop(fitted, size), renderBackdrop(bare, size));
  };
  // Without room for copy the podium reaches into those rows (what the measure sees) ...
  const auto [free, freeBare] = backdrops(0.0);
  EXPECT_GT(cv::norm(free.rowRange(band, size.height), freeBare.rowRange(band, size.height), cv::NORM_L1), 1e5);
  // ... with it, the rows of the band are the backdrop's alone, and the podium is still there above.
  const BackdropSpec fitted = fitSpecToProduct(s, alpha, 0.2);
  EXPECT_EQ(fitted.podium.shape, PodiumShape::Cylinder);
  EXPECT_LT(fitted.podium.height, 0.3);
  EXPECT_GT(fitted.podium.height, 0.05);
  const auto [kept, keptBare] = backdrops(0.2);
  EXPECT_EQ(cv::norm(kept.rowRange(band, size.height), keptBare.rowRange(band, size.height), cv::NORM_INF), 0.0);
  EXPECT_GT(cv::norm(kept.rowRange(600, band), keptBare.rowRange(600, band), cv::NORM_L1), 1e5);
  // A product standing just above the band leaves no room: no podium.
  cv::Mat low = cv::Mat::zeros(size, CV_8UC1);
  cv::rectangle(low, cv::Rect(190, 460, 160, 300), cv::Scalar(255), cv::FILLED);  // base at row 759
  EXPECT_EQ(fitSpecToProduct(s, low, 0.2).podium.shape, PodiumShape::None);
  EXPECT_EQ(fitSpecToProduct(s, low, 0.0).podium.shape, PodiumShape::Cylinder);
}

}  // namespace
}  // namespace caig
