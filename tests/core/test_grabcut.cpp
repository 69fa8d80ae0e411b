// The GrabCut fallback on product-like shots whose true masks are known: the demo shots and the
// composites in tests/data/cutout (see its README.md for how they were made; the generator is
// the disabled test MakeCutoutFixtures below).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "core/cutout/grabcut_cutout.h"
#include "core/image/image_io.h"

namespace caig {
namespace {

namespace fs = std::filesystem;
const fs::path kCutoutData = fs::path(CAIG_TEST_DATA) / "cutout";
const fs::path kDemo = fs::path(CAIG_SOURCE_DIR) / "resources/demo";

cv::Mat loadAlpha(const fs::path& path) {
  cv::Mat a = loadImage(path);
  cv::extractChannel(a, a, 0);
  return a;
}

double iou(const cv::Mat& a, const cv::Mat& b) {
  const cv::Mat x = a > 127, y = b > 127;
  const int inter = cv::countNonZero(x & y), uni = cv::countNonZero(x | y);
  return uni == 0 ? 0.0 : double(inter) / uni;
}

// The soft edge: mean |alpha - truth| (0..1) over the pixels within 3 px of the true outline
// (the band where mattes differ; IoU hardly sees it).
double edgeError(const cv::Mat& alpha, const cv::Mat& truth) {
  const cv::Mat k = cv::getStructuringElement(cv::MORPH_ELLIPSE, {7, 7});
  cv::Mat inside = truth > 127, grown, shrunk;
  cv::dilate(inside, grown, k);
  cv::erode(inside, shrunk, k);
  const cv::Mat band = grown & ~shrunk;
  cv::Mat d;
  cv::absdiff(alpha, truth, d);
  return cv::mean(d, band)[0] / 255.0;
}

struct CutoutScore {
  double iou = 0, edge = 0, hardEdge = 0;
};

// Runs the engine on a shot and scores it against its known alpha, printing the figures: IoU,
// the edge error, and the edge error of the same mask made hard (what the refinement gains).
CutoutScore measure(const fs::path& shot, const fs::path& truth) {
  const cv::Mat image = loadImage(shot);
  const cv::Mat expected = loadAlpha(truth);
  GrabCutCutout engine;
  const auto start = std::chrono::steady_clock::now();
  const cv::Mat alpha = engine.alpha(image);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(alpha.type(), CV_8UC1);
  EXPECT_EQ(alpha.size(), image.size());
  CutoutScore s;
  s.iou = iou(alpha, expected);
  s.edge = edgeError(alpha, expected);
  const cv::Mat hard = alpha > 127;
  s.hardEdge = edgeError(hard, expected);
  // CAIG_CUTOUT_DUMP=dir keeps the masks for a look.
  if (const char* dump = std::getenv("CAIG_CUTOUT_DUMP"); dump && *dump) {
    saveImage(fs::path(dump) / shot.filename(), alpha);
  }
  std::printf("[ grabcut  ] %-28s %4dx%-4d IoU %.3f  edge error %.3f (hard mask %.3f)  (%.0f ms)\n",
              shot.filename().c_str(), image.cols, image.rows, s.iou, s.edge, s.hardEdge, ms);
  return s;
}

TEST(GrabCut, DemoShotsOnStudioPaper) {
  // Measured IoU: perfume 1.000 (its contact shadow is darker backdrop, not product: 0.953 when
  // lightness counted in full), mug 0.999, jar 0.999 (white jar on white paper: found by the
  // centre prior and its edges). Edge error over the 3 px either side of the true outline, where
  // the masks are soft: 0.013 / 0.016 / 0.013, half the hard mask's (0.026 / 0.033 / 0.031);
  // the guided filter used before gave 0.142 / 0.096 / 0.107 (a halo of partial alpha outside).
  const std::pair<const char*, double> shots[] = {{"perfume", 0.93}, {"mug", 0.98}, {"jar", 0.98}};
  for (const auto& [name, floor] : shots) {
    SCOPED_TRACE(name);
    const CutoutScore s = measure(kDemo / (std::string(name) + ".png"), kDemo / (std::string(name) + ".alpha.png"));
    EXPECT_GE(s.iou, floor);
    EXPECT_LT(s.edge, 0.03);
    EXPECT_LT(s.edge, 0.75 * s.hardEdge) << "the soft edge is closer to the truth than a hard one";
  }
}

TEST(GrabCut, CompositesOnPlainAndBusyBackgrounds) {
  // plain_*: studio-like backdrops; busy_*: crops of darknet's example photos. Floors sit a
  // little under the measured IoU (in brackets). On busy photos an automatic seed cannot know
  // which object is the product: the eagle standing behind the perfume is in the centre box
  // and kept with it (0.637); the mug's dark inside, enclosed, is left out as a hole (0.900).
  // On busy photos the colour-line edge is no better than a hard one (the local backdrop mean
  // mixes several objects; where the backdrop varies too much the edge stays hard): edge error
  // 0.109 against 0.104 for the mug on the dog photo.
  const std::pair<const char*, double> shots[] = {
      {"plain_white_box", 0.98},     // 1.000
      {"plain_slate_mug", 0.96},     // 0.989
      {"plain_sand_perfume", 0.97},  // 0.994
      {"busy_dog_mug", 0.87},        // 0.900
      {"busy_horses_jar", 0.96},     // 0.991
      {"busy_eagle_perfume", 0.58},  // 0.637
      {"busy_person_box", 0.98},     // 0.999
  };
  for (const auto& [name, floor] : shots) {
    SCOPED_TRACE(name);
    const fs::path shot = kCutoutData / (std::string(name) + ".png");
    ASSERT_TRUE(fs::exists(shot)) << shot;
    EXPECT_GE(measure(shot, kCutoutData / (std::string(name) + ".alpha.png")).iou, floor);
  }
}

// A product standing on a table top that runs out of the frame at the bottom: the floor's colour
// differs from the wall's (so a single backdrop colour calls it product), but it is one plain band
// across the whole bottom edge, and the cutout must leave it out.
TEST(GrabCut, LeavesOutAFloorStripAtTheFrameBottom) {
  const int side = 384, floorTop = 270;
  cv::Mat shot(side, side, CV_8UC3);
  cv::RNG rng(3);
  for (int y = 0; y < side; ++y) {
    const cv::Scalar c = y < floorTop ? cv::Scalar(222, 224, 226) * (1.0 - 0.05 * y / side)
                                      : cv::Scalar(112, 141, 168) * (1.0 + 0.15 * (y - floorTop) / (side - floorTop));
    shot.row(y).setTo(c);
  }
  cv::Mat noise(shot.size(), CV_16SC3);
  rng.fill(noise, cv::RNG::NORMAL, 0, 2);
  cv::Mat noisy;
  shot.convertTo(noisy, CV_16SC3);
  noisy += noise;
  noisy.convertTo(shot, CV_8UC3);
  // The demo mug, cut out with its exact alpha, standing on the table.
  const cv::Mat mug = loadImage(kDemo / "mug.png");
  const cv::Mat mugAlpha = loadAlpha(kDemo / "mug.alpha.png");
  const cv::Rect box = cv::boundingRect(mugAlpha > 0);
  const double f = 200.0 / box.height;
  cv::Mat m, a;
  cv::resize(mug(box), m, {}, f, f, cv::INTER_AREA);
  cv::resize(mugAlpha(box), a, m.size(), 0, 0, cv::INTER_AREA);
  const cv::Rect at((side - m.cols) / 2, 330 - m.rows, m.cols, m.rows);
  cv::Mat truth = cv::Mat::zeros(shot.size(), CV_8UC1);
  a.copyTo(truth(at));
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x) {
      const float w = a.at<uchar>(y, x) / 255.f;
      cv::Vec3b& p = shot.at<cv::Vec3b>(at.y + y, at.x + x);
      const cv::Vec3b q = m.at<cv::Vec3b>(y, x);
      for (int k = 0; k < 3; ++k) p[k] = cv::saturate_cast<uchar>(w * q[k] + (1 - w) * p[k]);
    }
  }
  GrabCutCutout engine;
  const cv::Mat alpha = engine.alpha(shot);
  const double v = iou(alpha, truth);
  const int floorKept = cv::countNonZero((alpha > 127)(cv::Rect(0, 340, side, side - 340)));
  std::printf("[ grabcut  ] mug on a table top           IoU %.3f, %d pixels of the floor strip kept\n", v, floorKept);
  if (const char* dump = std::getenv("CAIG_CUTOUT_DUMP"); dump && *dump) {
    saveImage(fs::path(dump) / "floor_strip.png", shot);
    saveImage(fs::path(dump) / "floor_strip.alpha.png", alpha);
  }
  EXPECT_GE(v, 0.9);
  EXPECT_LT(floorKept, side);  // less than one row's worth below the mug
}

TEST(GrabCut, InterfaceAndErrors) {
  GrabCutCutout engine;
  EXPECT_EQ(engine.name(), "grabcut");
  // A blank backdrop has nothing product-like.
  const cv::Mat blank(200, 300, CV_8UC3, cv::Scalar(240, 240, 240));
  try {
    engine.alpha(blank);
    FAIL() << "no exception";
  } catch (const CutoutError& e) {
    EXPECT_NE(std::string(e.what()).find("mask by hand"), std::string::npos) << e.what();
  }
  EXPECT_THROW(engine.alpha(cv::Mat()), CutoutError);
  EXPECT_THROW(engine.alpha(cv::Mat(100, 100, CV_16UC3)), CutoutError);

  // BGRA input: the alpha channel is ignored, the colours decide.
  cv::Mat shot(240, 240, CV_8UC3, cv::Scalar(235, 238, 240));
  cv::rectangle(shot, cv::Rect(80, 60, 80, 120), cv::Scalar(40, 60, 200), cv::FILLED);
  cv::Mat bgra;
  cv::cvtColor(shot, bgra, cv::COLOR_BGR2BGRA);
  const cv::Mat a = engine.alpha(shot), b = engine.alpha(bgra);
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
  cv::Mat truth = cv::Mat::zeros(shot.size(), CV_8UC1);
  truth(cv::Rect(80, 60, 80, 120)).setTo(255);
  EXPECT_GE(iou(a, truth), 0.98);
  // the interior is solid and the far background empty (no soft noise away from edges)
  EXPECT_EQ(cv::countNonZero(a(cv::Rect(90, 70, 60, 100)) != 255), 0);
  EXPECT_EQ(cv::countNonZero(a(cv::Rect(0, 0, 60, 240))), 0);
}

// ---- fixture generator ---------------------------------------------------------------------
// Run: build-*/tests/test_core --gtest_also_run_disabled_tests --gtest_filter='*MakeCutoutFixtures'
// with darknet installed (apt-get install darknet; photos in /usr/share/darknet/data, or set
// DARKNET_DATA). It rewrites tests/data/cutout/*.png deterministically.

constexpr int kSide = 256;

cv::Mat plainBackdrop(cv::Scalar colour, unsigned seed) {
  cv::Mat bg(kSide, kSide, CV_32FC3);
  for (int y = 0; y < kSide; ++y) {  // a soft vertical light falloff, like a paper sweep
    const double shade = 1.0 + 0.06 * (0.5 - double(y) / kSide);
    bg.row(y).setTo(colour * shade);
  }
  cv::Mat noise(bg.size(), CV_32FC3);
  cv::RNG(seed).fill(noise, cv::RNG::NORMAL, 0.0, 1.5);
  bg += noise;
  cv::Mat out;
  bg.convertTo(out, CV_8UC3);
  return out;
}

cv::Mat busyBackdrop(const fs::path& photo, cv::Rect crop) {
  cv::Mat out;
  cv::resize(loadImage(photo)(crop), out, {kSide, kSide}, 0, 0, cv::INTER_AREA);
  return out;
}

// A bottle-like object with a label and a cap, drawn 4x larger and reduced for smooth edges.
void syntheticProduct(cv::Mat& bgr, cv::Mat& alpha) {
  const int s = 4, W = 170 * s, H = 220 * s;
  cv::Mat big(H, W, CV_8UC3, cv::Scalar(0, 0, 0)), a = cv::Mat::zeros(H, W, CV_8UC1);
  const cv::Rect body(10 * s, 60 * s, 150 * s, 150 * s);
  for (int x = body.x; x < body.br().x; ++x) {  // cylinder shading across the body
    const double t = double(x - body.x) / body.width;
    const double light = 0.55 + 0.45 * std::sin(3.14159 * (0.15 + 0.8 * t));
    cv::line(big, {x, body.y}, {x, body.br().y - 1}, cv::Scalar(50, 40, 210) * light);
  }
  a(body).setTo(255);
  cv::rectangle(big, cv::Rect(30 * s, 110 * s, 110 * s, 50 * s), cv::Scalar(170, 235, 245), cv::FILLED);
  const cv::Rect cap(55 * s, 10 * s, 60 * s, 50 * s);
  cv::rectangle(big, cap, cv::Scalar(70, 70, 70), cv::FILLED);
  a(cap).setTo(255);
  cv::resize(big, bgr, {136, 176}, 0, 0, cv::INTER_AREA);
  cv::resize(a, alpha, {136, 176}, 0, 0, cv::INTER_AREA);
}

// A demo product cut out with its exact alpha and scaled so its long side is `side`.
void demoProduct(const std::string& name, int side, cv::Mat& bgr, cv::Mat& alpha) {
  const cv::Mat shot = loadImage(kDemo / (name + ".png"));
  const cv::Mat a = loadAlpha(kDemo / (name + ".alpha.png"));
  const cv::Rect box = cv::boundingRect(a);
  const double f = double(side) / std::max(box.width, box.height);
  const cv::Size to(int(std::lround(box.width * f)), int(std::lround(box.height * f)));
  cv::resize(shot(box), bgr, to, 0, 0, cv::INTER_AREA);
  cv::resize(a(box), alpha, to, 0, 0, cv::INTER_AREA);
}

void writeComposite(const std::string& name, const cv::Mat& bg, const cv::Mat& fg, const cv::Mat& fgAlpha,
                    cv::Point offset) {
  cv::Mat truth = cv::Mat::zeros(bg.size(), CV_8UC1);
  const cv::Rect at((kSide - fg.cols) / 2 + offset.x, (kSide - fg.rows) / 2 + offset.y, fg.cols, fg.rows);
  fgAlpha.copyTo(truth(at));
  cv::Mat out = bg.clone();
  for (int y = 0; y < fg.rows; ++y) {
    for (int x = 0; x < fg.cols; ++x) {
      const float w = fgAlpha.at<uchar>(y, x) / 255.f;
      auto& o = out.at<cv::Vec3b>(at.y + y, at.x + x);
      for (int c = 0; c < 3; ++c) {
        o[c] = cv::saturate_cast<uchar>(fg.at<cv::Vec3b>(y, x)[c] * w + o[c] * (1.f - w));
      }
    }
  }
  fs::create_directories(kCutoutData);
  saveImage(kCutoutData / (name + ".png"), out);
  saveImage(kCutoutData / (name + ".alpha.png"), truth);
}

TEST(GrabCut, DISABLED_MakeCutoutFixtures) {
  const char* env = std::getenv("DARKNET_DATA");
  const fs::path photos = env && *env ? fs::path(env) : fs::path("/usr/share/darknet/data");
  if (!fs::exists(photos / "dog.jpg")) GTEST_SKIP() << "apt-get install darknet (no " << photos << ")";
  cv::Mat bgr, alpha;
  syntheticProduct(bgr, alpha);
  writeComposite("plain_white_box", plainBackdrop({238, 240, 242}, 1), bgr, alpha, {6, 4});
  writeComposite("busy_person_box", busyBackdrop(photos / "person.jpg", {20, 0, 420, 420}), bgr, alpha, {-8, 6});
  demoProduct("mug", 160, bgr, alpha);
  writeComposite("plain_slate_mug", plainBackdrop({80, 72, 64}, 2), bgr, alpha, {-10, 8});
  writeComposite("busy_dog_mug", busyBackdrop(photos / "dog.jpg", {120, 60, 480, 480}), bgr, alpha, {10, -6});
  demoProduct("perfume", 168, bgr, alpha);
  writeComposite("plain_sand_perfume", plainBackdrop({170, 205, 225}, 3), bgr, alpha, {4, -4});
  writeComposite("busy_eagle_perfume", busyBackdrop(photos / "eagle.jpg", {200, 20, 480, 480}), bgr, alpha, {-6, 0});
  demoProduct("jar", 152, bgr, alpha);
  writeComposite("busy_horses_jar", busyBackdrop(photos / "horses.jpg", {150, 30, 470, 470}), bgr, alpha, {0, 10});
}

}  // namespace
}  // namespace caig
