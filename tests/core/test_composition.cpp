// CAIG's composition rules, checked to the pixel: placement, mask dilation, control edges,
// paste-back.

#include <gtest/gtest.h>

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "core/generation/composition.h"

namespace caig {
namespace {

// A shot with a solid rectangle product (striped so it has inner edges) on noise.
struct Shot {
  cv::Mat bgr, alpha;
};

Shot rectShot(cv::Size size, cv::Rect product, unsigned seed) {
  Shot s;
  s.bgr = cv::Mat(size, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(s.bgr, cv::RNG::UNIFORM, 0, 256);  // busy: edges everywhere
  for (int y = product.y; y < product.br().y; ++y) {
    for (int x = product.x; x < product.br().x; ++x) {
      const bool stripe = ((x - product.x) / 8) % 2 == 0;
      s.bgr.at<cv::Vec3b>(y, x) = stripe ? cv::Vec3b(30, 60, 200) : cv::Vec3b(220, 210, 40);
    }
  }
  s.alpha = cv::Mat::zeros(size, CV_8UC1);
  s.alpha(product).setTo(255);
  return s;
}

ProductShot prepared(const Shot& s, const CompositionParams& p = {}) {
  return prepareProduct(s.bgr, s.alpha, p);
}

// ---- presets ------------------------------------------------------------------------------

TEST(Composition, PresetsAndWorkingSizesAreMultiplesOfEight) {
  ASSERT_EQ(adPresets().size(), 6u);
  EXPECT_EQ(adPreset("1:1-512").size, cv::Size(512, 512));
  EXPECT_EQ(adPreset("1:1-1024").size, cv::Size(1024, 1024));
  EXPECT_EQ(adPreset("1:1-1080").size, cv::Size(1080, 1080));
  EXPECT_EQ(adPreset("4:5").size, cv::Size(1080, 1350));
  EXPECT_EQ(adPreset("9:16").size, cv::Size(1080, 1920));
  EXPECT_EQ(adPreset("1.91:1").size, cv::Size(1200, 628));
  EXPECT_THROW(adPreset("3:2"), CompositionError);

  // Worked by hand: 1080*512/1350 = 409.6 -> 51.2 eighths -> 408; 628*512/1200 = 267.9 -> 264.
  EXPECT_EQ(workingSize(adPreset("1:1-1080").size, 512), cv::Size(512, 512));
  EXPECT_EQ(workingSize(adPreset("4:5").size, 512), cv::Size(408, 512));
  EXPECT_EQ(workingSize(adPreset("9:16").size, 512), cv::Size(288, 512));
  EXPECT_EQ(workingSize(adPreset("1.91:1").size, 512), cv::Size(512, 264));
  EXPECT_EQ(workingSize(adPreset("1.91:1").size, 1024), cv::Size(1024, 536));
  for (const auto& p : adPresets()) {
    for (int side : {512, 768, 1024}) {
      const cv::Size w = workingSize(p.size, side);
      SCOPED_TRACE(p.id + " @" + std::to_string(side));
      EXPECT_EQ(w.width % 8, 0);
      EXPECT_EQ(w.height % 8, 0);
      EXPECT_EQ(std::max(w.width, w.height), side);
      const double aspect = double(p.size.width) / p.size.height;
      EXPECT_NEAR(double(w.width) / w.height, aspect, aspect * 8.0 / std::min(w.width, w.height));
    }
  }
}

// ---- placement ----------------------------------------------------------------------------

TEST(Composition, PlacementFillsExactly078InTheLimitingDimension) {
  struct Case {
    cv::Size canvas;
    cv::Rect source;
    cv::Rect expected;  // worked by hand from floor(0.78 * side) and centring
  };
  const Case cases[] = {
      // tall product on a square: height 399 (= floor 399.36), width round(100*399/250) = 160
      {{512, 512}, {10, 20, 100, 250}, {176, 56, 160, 399}},
      // wide product on 4:5: width 842, height round(100*842/300 = 280.67) = 281
      {{1080, 1350}, {0, 0, 300, 100}, {119, 534, 842, 281}},
      // square product on 1.91:1: height 489 (= floor 489.84) limits
      {{1200, 628}, {5, 5, 200, 200}, {355, 69, 489, 489}},
      // 9:16: width 842 limits, height round(301*842/400 = 633.6) = 634
      {{1080, 1920}, {0, 0, 400, 301}, {119, 643, 842, 634}},
      // shrinking a big product: 2000x1000 on 1024 -> 798 x 399
      {{1024, 1024}, {0, 0, 2000, 1000}, {113, 312, 798, 399}},
  };
  for (const auto& c : cases) {
    const Placement p = defaultPlacement(c.source, c.canvas);
    SCOPED_TRACE(std::to_string(c.canvas.width) + "x" + std::to_string(c.canvas.height));
    EXPECT_EQ(p.target, c.expected);
    const int limW = int(0.78 * c.canvas.width + 1e-9), limH = int(0.78 * c.canvas.height + 1e-9);
    EXPECT_TRUE(p.target.width == limW || p.target.height == limH);
    EXPECT_LE(p.target.width, limW);
    EXPECT_LE(p.target.height, limH);
    // centred to the pixel
    EXPECT_LE(std::abs(p.target.x - (c.canvas.width - p.target.br().x)), 1);
    EXPECT_LE(std::abs(p.target.y - (c.canvas.height - p.target.br().y)), 1);
  }
}

TEST(Composition, LaidOutAlphaBoxIsThePlacementTarget) {
  const Shot s = rectShot({300, 200}, {40, 30, 150, 90}, 1);
  for (cv::Size canvas : {cv::Size(512, 512), cv::Size(1080, 1350), cv::Size(1200, 628)}) {
    const Layout l = layoutProduct(prepared(s), canvas);
    EXPECT_EQ(cv::boundingRect(l.alpha), l.placement.target);
    EXPECT_EQ(cv::countNonZero(l.alpha == 255), l.placement.target.area());
    EXPECT_EQ(l.product.size(), canvas);
    EXPECT_EQ(l.product.type(), CV_8UC3);
  }
}

TEST(Composition, NeverUpscaleKeepsSmallProductsAtTheirSize) {
  CompositionParams p;
  p.allowUpscale = false;
  EXPECT_EQ(defaultPlacement({7, 9, 50, 40}, {512, 512}, p).target, cv::Rect(231, 236, 50, 40));
  // a product larger than the limit still shrinks
  EXPECT_EQ(defaultPlacement({0, 0, 1000, 100}, {512, 512}, p).target.width, 399);
  // upscaling (default) enlarges the same small one to the limit
  EXPECT_EQ(defaultPlacement({7, 9, 50, 40}, {512, 512}).target, cv::Rect(56, 96, 399, 319));
}

// Room for copy: the product keeps out of the reserved band and fills 0.78 of the rows left.
TEST(Composition, RoomForCopyKeepsTheProductOutOfTheBand) {
  const cv::Rect box(0, 0, 300, 600);  // a tall product: the height limits
  CompositionParams params;
  params.copyBottom = 0.2;
  const Placement p = defaultPlacement(box, {1080, 1920}, params);
  EXPECT_EQ(p.target.height, static_cast<int>(std::floor(0.78 * 1536)));
  EXPECT_LE(p.target.br().y, 1536);
  EXPECT_EQ(p.target.y, (1536 - p.target.height) / 2);
  params.copyBottom = 0;
  params.copyTop = 0.2;
  const Placement top = defaultPlacement(box, {1080, 1920}, params);
  EXPECT_EQ(top.target.y, 384 + (1536 - top.target.height) / 2);
  EXPECT_EQ(top.target.size(), p.target.size());
  for (const auto& [t, b] : {std::pair{0.5, 0.0}, std::pair{-0.1, 0.0}, std::pair{0.35, 0.35}}) {
    params.copyTop = t;
    params.copyBottom = b;
    EXPECT_THROW(defaultPlacement(box, {1080, 1920}, params), CompositionError) << t << " " << b;
  }
}

TEST(Composition, UserOverrideAndTransform) {
  const Placement base = defaultPlacement({10, 20, 100, 250}, {512, 512});
  ASSERT_EQ(base.target, cv::Rect(176, 56, 160, 399));
  // a third of 160x399 is 53x133, about the centre (256, 255.5), then moved
  const Placement moved = adjustPlacement(base, 1.0 / 3.0, {30, -12});
  EXPECT_EQ(moved.target, cv::Rect(229 + 30, 189 - 12, 53, 133));
  const cv::Matx23d m = moved.transform();
  const cv::Vec3d tl(10, 20, 1), br(110, 270, 1);
  EXPECT_DOUBLE_EQ((m * tl)[0], moved.target.x);
  EXPECT_DOUBLE_EQ((m * tl)[1], moved.target.y);
  EXPECT_DOUBLE_EQ((m * br)[0], moved.target.br().x);
  EXPECT_DOUBLE_EQ((m * br)[1], moved.target.br().y);
  EXPECT_THROW(adjustPlacement(base, 0.0, {}), CompositionError);

  const Shot s = rectShot({200, 300}, base.source, 2);
  const Layout l = layoutProduct(prepared(s), {512, 512}, moved);
  EXPECT_EQ(cv::boundingRect(l.alpha), moved.target);
  // partly off the canvas: clipped, still laid out
  const Layout clipped = layoutProduct(prepared(s), {512, 512}, adjustPlacement(base, 1.0, {-300, 0}));
  EXPECT_EQ(cv::boundingRect(clipped.alpha), cv::Rect(0, 56, 176 + 160 - 300, 399));
  // entirely off the canvas: an error, not an empty product
  EXPECT_THROW(layoutProduct(prepared(s), {512, 512}, adjustPlacement(base, 1.0, {600, 0})), CompositionError);
}

// ---- mask ---------------------------------------------------------------------------------

TEST(Composition, MaskDilationOfARectangleHasTheExactArea) {
  // 20x20 kernel, anchor (10, 10): the background grows 10 px into the product on the left/top
  // and 9 px on the right/bottom, so the kept (black) box is (w - 19) x (h - 19).
  cv::Mat alpha = cv::Mat::zeros(256, 256, CV_8UC1);
  const cv::Rect r(80, 60, 100, 120);
  alpha(r).setTo(255);
  const cv::Mat mask = inpaintMask(alpha);
  EXPECT_EQ(cv::countNonZero(mask == 0), 81 * 101);
  EXPECT_EQ(cv::countNonZero(mask == 255), 256 * 256 - 81 * 101);
  EXPECT_EQ(cv::boundingRect(mask == 0), cv::Rect(90, 70, 81, 101));

  // The canvas border is not background: a product touching the left edge only loses 9 on the right.
  alpha.setTo(0);
  alpha(cv::Rect(0, 60, 100, 120)).setTo(255);
  EXPECT_EQ(cv::boundingRect(inpaintMask(alpha) == 0), cv::Rect(0, 70, 91, 101));

  // Kernel size is a parameter: 1 = no dilation, the mask is the inverse alpha.
  CompositionParams p;
  p.maskKernel = 1;
  EXPECT_EQ(cv::countNonZero(inpaintMask(alpha, p) == 0), 100 * 120);
}

TEST(Composition, MaskMatchesABruteForceDilationOfAnyShape) {
  cv::Mat alpha = cv::Mat::zeros(96, 128, CV_8UC1);
  cv::circle(alpha, {60, 50}, 30, 255, cv::FILLED);
  cv::rectangle(alpha, cv::Rect(90, 5, 30, 12), 255, cv::FILLED);
  const cv::Mat mask = inpaintMask(alpha);
  int mismatches = 0;
  for (int y = 0; y < alpha.rows; ++y) {
    for (int x = 0; x < alpha.cols; ++x) {
      bool background = false;
      for (int dy = -10; dy <= 9 && !background; ++dy) {
        for (int dx = -10; dx <= 9 && !background; ++dx) {
          const int yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < alpha.rows && xx >= 0 && xx < alpha.cols && alpha.at<uchar>(yy, xx) == 0)
            background = true;
        }
      }
      mismatches += mask.at<uchar>(y, x) != (background ? 255 : 0);
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// ---- control ------------------------------------------------------------------------------

TEST(Composition, ControlHasNoEdgesFromTheBusyBackground) {
  const Shot a = rectShot({300, 240}, {60, 50, 160, 120}, 3);
  const Shot b = rectShot({300, 240}, {60, 50, 160, 120}, 4);  // other noise, same product
  const Layout la = layoutProduct(prepared(a), {512, 512});
  const Layout lb = layoutProduct(prepared(b), {512, 512});
  ASSERT_EQ(la.control.type(), CV_8UC3);
  std::vector<cv::Mat> ch;
  cv::split(la.control, ch);
  EXPECT_EQ(cv::norm(ch[0], ch[1], cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(ch[0], ch[2], cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::countNonZero(ch[0] & (la.alpha == 0)), 0);
  EXPECT_EQ(cv::countNonZero((ch[0] != 0) & (ch[0] != 255)), 0);
  // the stripes inside make edges, and the background makes none: both layouts agree exactly
  const int inside = cv::countNonZero(ch[0]);
  EXPECT_GT(inside, 8 * la.placement.target.height);
  EXPECT_EQ(cv::norm(la.control, lb.control, cv::NORM_INF), 0.0);

  // Canny over the whole shot would have lit up the noise: the test can tell.
  cv::Mat raw;
  cv::Canny(a.bgr, raw, 100, 200);
  EXPECT_GT(cv::countNonZero(raw & (a.alpha == 0)), 1000);
}

TEST(Composition, ControlOutlineClosesTheSilhouetteInsideTheProduct) {
  cv::Mat product(64, 64, CV_8UC3, cv::Scalar(200, 200, 200));
  cv::Mat alpha = cv::Mat::zeros(64, 64, CV_8UC1);
  alpha(cv::Rect(16, 16, 32, 32)).setTo(255);
  const cv::Mat c = controlImage(product, alpha);
  cv::Mat e;
  cv::extractChannel(c, e, 0);
  EXPECT_EQ(cv::countNonZero(e), 4 * 31);  // the 1-px ring of a 32x32 square
  EXPECT_EQ(cv::countNonZero(e & (alpha == 0)), 0);
  CompositionParams p;
  p.controlOutline = false;
  cv::extractChannel(controlImage(product, alpha, p), e, 0);
  EXPECT_EQ(cv::countNonZero(e & (alpha == 0)), 0);
  EXPECT_LT(cv::countNonZero(e), 4 * 31);  // Canny alone drops the sides it puts outside
}

// ---- paste-back ---------------------------------------------------------------------------

TEST(Composition, PasteBackKeepsProductBitIdenticalAndBackgroundUntouched) {
  // Box 390x156 on a 500x500 canvas: fill 0.78 -> 390, so the product is copied at scale 1 and
  // the pasted pixels can be compared with the original shot itself.
  Shot s = rectShot({520, 300}, {70, 80, 390, 156}, 5);
  cv::circle(s.alpha, {70, 80}, 40, 0, cv::FILLED);  // a rounded corner: not only straight edges
  const Layout l = layoutProduct(prepared(s), {500, 500});
  ASSERT_EQ(l.placement.target, cv::Rect(55, 172, 390, 156));
  cv::Mat generated(500, 500, CV_8UC3);
  cv::RNG(6).fill(generated, cv::RNG::UNIFORM, 0, 256);

  for (double feather : {0.0, 1.0, 1.5, 2.0}) {
    SCOPED_TRACE(feather);
    CompositionParams p;
    p.featherPx = feather;
    const cv::Mat out = pasteBack(generated, l, p);
    // the opaque core: at least ceil(feather) + 1 px (Chebyshev) from any non-opaque pixel
    const int k = 2 * (int(std::ceil(feather)) + 1) - 1;
    cv::Mat core;
    cv::erode(l.alpha == 255, core, cv::getStructuringElement(cv::MORPH_RECT, {k, k}), {-1, -1}, 1, cv::BORDER_CONSTANT,
              0);
    ASSERT_GT(cv::countNonZero(core), 300 * 100);
    EXPECT_EQ(cv::norm(out, l.product, cv::NORM_INF, core), 0.0) << "core differs from the layer";
    cv::Mat original = cv::Mat::zeros(500, 500, CV_8UC3);
    s.bgr(l.placement.source).copyTo(original(l.placement.target));
    EXPECT_EQ(cv::norm(out, original, cv::NORM_INF, core), 0.0) << "core differs from the shot";
    // no halo: every transparent pixel keeps the generated value, bit for bit
    EXPECT_EQ(cv::norm(out, generated, cv::NORM_INF, l.alpha == 0), 0.0);
  }

  // The feather ramp: with 1.5 px the product's outermost pixel gets weight 1 / 2.5.
  CompositionParams p;
  const cv::Mat out = pasteBack(generated, l, p);
  const cv::Point edge(l.placement.target.x + 200, l.placement.target.br().y - 1);
  for (int c = 0; c < 3; ++c) {
    const double expect = 0.4 * l.product.at<cv::Vec3b>(edge)[c] + 0.6 * generated.at<cv::Vec3b>(edge)[c];
    EXPECT_NEAR(out.at<cv::Vec3b>(edge)[c], expect, 0.51);
  }
  EXPECT_THROW(pasteBack(generated(cv::Rect(0, 0, 10, 10)).clone(), l, p), CompositionError);
}

// ---- inputs and errors --------------------------------------------------------------------

TEST(Composition, BgraInputEqualsBgrPlusAlpha) {
  const Shot s = rectShot({200, 160}, {30, 40, 90, 70}, 7);
  cv::Mat bgra;
  std::vector<cv::Mat> planes;
  cv::split(s.bgr, planes);
  planes.push_back(s.alpha);
  cv::merge(planes, bgra);
  const Layout a = layoutProduct(prepareProduct(bgra), {256, 256});
  const Layout b = layoutProduct(prepared(s), {256, 256});
  EXPECT_EQ(cv::norm(a.product, b.product, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(a.mask, b.mask, cv::NORM_INF), 0.0);
}

TEST(Composition, EmptyAlphaSaysToPaintAMask) {
  const cv::Mat bgr(100, 100, CV_8UC3, cv::Scalar(1, 2, 3));
  try {
    prepareProduct(bgr, cv::Mat::zeros(100, 100, CV_8UC1));
    FAIL() << "no exception";
  } catch (const CompositionError& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("manual mask"), std::string::npos) << e.what();
  }
  EXPECT_THROW(productBox(cv::Mat::zeros(10, 10, CV_8UC1)), CompositionError);
  EXPECT_THROW(prepareProduct(bgr), CompositionError);                                 // no alpha
  EXPECT_THROW(prepareProduct(bgr, cv::Mat(50, 50, CV_8UC1, 255)), CompositionError);  // size
  EXPECT_THROW(prepareProduct(cv::Mat()), CompositionError);
  EXPECT_THROW(prepareProduct(cv::Mat(10, 10, CV_16UC3)), CompositionError);
}

TEST(Composition, LargeShotsAreDownscaledWithANote) {
  CompositionParams p;
  p.maxInputSide = 1000;
  const Shot s = rectShot({2000, 500}, {400, 100, 1200, 300}, 8);
  const ProductShot shot = prepareProduct(s.bgr, s.alpha, p);
  EXPECT_EQ(shot.bgr.size(), cv::Size(1000, 250));
  EXPECT_EQ(productBox(shot.alpha), cv::Rect(200, 50, 600, 150));
  ASSERT_EQ(shot.notes.size(), 1u);
  EXPECT_NE(shot.notes[0].find("2000x500 to 1000x250"), std::string::npos) << shot.notes[0];
  EXPECT_EQ(layoutProduct(shot, {512, 512}, p).notes, shot.notes);
  EXPECT_TRUE(prepared(rectShot({100, 100}, {10, 10, 50, 50}, 9)).notes.empty());
}

// ---- placement override -------------------------------------------------------------------

// One override, every ad size: the offset is a fraction of the canvas, the scale is relative to
// CAIG's default placement.
TEST(Composition, PlacementOverrideIsAFractionOfTheCanvas) {
  const cv::Rect source(10, 20, 100, 250);
  for (const cv::Size canvas : {cv::Size(512, 512), cv::Size(1080, 1350), cv::Size(1200, 628)}) {
    const Placement base = defaultPlacement(source, canvas);
    const Placement same = applyPlacementOverride(base, PlacementOverride{}, canvas);
    EXPECT_EQ(same.target, base.target);
    const PlacementOverride o{0.5, 0.1, -0.05};
    const Placement moved = applyPlacementOverride(base, o, canvas);
    const cv::Rect halved = adjustPlacement(base, 0.5, {}).target;
    EXPECT_EQ(moved.target.size(), halved.size());
    EXPECT_EQ(moved.target.x - halved.x, static_cast<int>(std::lround(0.1 * canvas.width))) << canvas;
    EXPECT_EQ(moved.target.y - halved.y, static_cast<int>(std::lround(-0.05 * canvas.height))) << canvas;
    EXPECT_EQ(moved.source, source);
    // productPlacement: the default without an override, the override (in range) with one.
    EXPECT_EQ(productPlacement(source, canvas, std::nullopt).target, base.target);
    EXPECT_EQ(productPlacement(source, canvas, o).target, moved.target);
  }
  const Placement base = defaultPlacement(source, {512, 512});
  EXPECT_THROW(applyPlacementOverride(base, {0.05, 0, 0}, {512, 512}), CompositionError);
  EXPECT_THROW(applyPlacementOverride(base, {5.0, 0, 0}, {512, 512}), CompositionError);
  EXPECT_THROW(applyPlacementOverride(base, {1.0, std::nan(""), 0}, {512, 512}), CompositionError);
}

// However far it is dragged or zoomed, at least 10% of the product's width and height stay on
// the canvas; an override inside the limits is kept as it is.
TEST(Composition, ClampedOverrideKeepsTenPercentOfTheProductOnTheCanvas) {
  const cv::Size canvas(1080, 1350);
  const Placement base = defaultPlacement({0, 0, 300, 200}, canvas);
  const PlacementOverride inside{1.2, 0.05, -0.1};
  EXPECT_EQ(clampPlacementOverride(base, inside, canvas), inside);

  for (const double scale : {0.2, 1.0, 3.0}) {
    for (const auto& [dx, dy] : {std::pair{5.0, 0.0}, {-5.0, 0.0}, {0.0, 7.0}, {0.0, -7.0}, {3.0, -3.0}}) {
      const PlacementOverride c = clampPlacementOverride(base, {scale, dx, dy}, canvas);
      EXPECT_EQ(c.scale, scale);
      const cv::Rect t = applyPlacementOverride(base, c, canvas).target;
      const cv::Rect visible = t & cv::Rect({}, canvas);
      EXPECT_GE(visible.width, 0.1 * t.width) << scale << " " << dx << " " << dy;
      EXPECT_GE(visible.height, 0.1 * t.height) << scale << " " << dx << " " << dy;
      // ... and no more than needed: one pixel further would break the rule (or it stays put).
      if (dx > 0) {
        EXPECT_LT(visible.width - 1, 0.1 * t.width + 1);
      }
      if (dy < 0) {
        EXPECT_LT(visible.height - 1, 0.1 * t.height + 1);
      }
      // the laid-out product really is on the canvas
      const ProductShot shot = prepareProduct(cv::Mat(200, 300, CV_8UC3, cv::Scalar(20, 90, 200)),
                                              cv::Mat(200, 300, CV_8UC1, cv::Scalar(255)));
      const Layout l =
          layoutProduct(shot, canvas, productPlacement({0, 0, 300, 200}, canvas, PlacementOverride{scale, dx, dy}));
      EXPECT_GT(cv::countNonZero(l.alpha), 0);
    }
  }
  // Out-of-range and non-finite numbers are brought back.
  EXPECT_EQ(clampPlacementOverride(base, {100.0, 0, 0}, canvas).scale, kMaxPlacementScale);
  EXPECT_EQ(clampPlacementOverride(base, {0.0, 0, 0}, canvas).scale, kMinPlacementScale);
  EXPECT_EQ(clampPlacementOverride(base, {std::nan(""), std::nan(""), 0.1}, canvas),
            (PlacementOverride{1.0, 0.0, 0.1}));
}

}  // namespace
}  // namespace caig
