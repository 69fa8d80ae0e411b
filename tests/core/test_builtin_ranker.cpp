// The built-in ranker on realistic creatives: the demo product shots (exact alphas) composited
// with plain OpenCV on plain, gradient and busy backgrounds.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <random>
#include <unistd.h>

#include "core/ranking/builtin_ranker.h"
#include "core/image/image_io.h"

namespace caig {
namespace {

namespace fs = std::filesystem;

struct Shot {
  cv::Mat bgr, alpha;  // cropped to the product's box
};

const Shot& demoShot(const std::string& name) {
  static std::map<std::string, Shot> shots;
  auto it = shots.find(name);
  if (it != shots.end()) return it->second;
  const fs::path dir = fs::path(CAIG_SOURCE_DIR) / "resources/demo";
  cv::Mat bgr = loadImage(dir / (name + ".png"));
  cv::Mat alpha = loadImage(dir / (name + ".alpha.png"));
  if (bgr.channels() == 4) cv::cvtColor(bgr, bgr, cv::COLOR_BGRA2BGR);
  if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
  const cv::Rect box = cv::boundingRect(alpha > 127);
  return shots[name] = Shot{bgr(box).clone(), alpha(box).clone()};
}

// The product scaled so its box fills `fill` of the canvas, centred, alpha-blended over `bg`.
Creative composite(const std::string& product, const cv::Mat& bg, double fill) {
  const Shot& s = demoShot(product);
  const double f = fill * std::min(bg.cols, bg.rows) / std::max(s.bgr.cols, s.bgr.rows);
  const cv::Size size(std::max(1, int(s.bgr.cols * f)), std::max(1, int(s.bgr.rows * f)));
  cv::Mat p, a;
  cv::resize(s.bgr, p, size, 0, 0, cv::INTER_AREA);
  cv::resize(s.alpha, a, size, 0, 0, cv::INTER_AREA);
  Creative c{bg.clone(), cv::Mat::zeros(bg.size(), CV_8UC1)};
  const cv::Rect at((bg.cols - size.width) / 2, (bg.rows - size.height) / 2, size.width, size.height);
  cv::Mat roi = c.image(at);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const double w = a.at<uchar>(y, x) / 255.0;
      for (int ch = 0; ch < 3; ++ch) {
        roi.at<cv::Vec3b>(y, x)[ch] = cv::saturate_cast<uchar>(w * p.at<cv::Vec3b>(y, x)[ch] + (1 - w) * roi.at<cv::Vec3b>(y, x)[ch]);
      }
    }
  }
  a.copyTo(c.productAlpha(at));
  return c;
}

cv::Mat plain(int side, cv::Scalar bgr) { return cv::Mat(side, side, CV_8UC3, bgr); }

cv::Mat gradient(int side, cv::Scalar top, cv::Scalar bottom) {
  cv::Mat m(side, side, CV_8UC3);
  for (int y = 0; y < side; ++y) m.row(y).setTo(top + (bottom - top) * (double(y) / (side - 1)));
  return m;
}

// Many random shapes in random colours: a cluttered scene.
cv::Mat busy(int side, unsigned seed, int shapes = 120) {
  cv::RNG rng(seed);
  cv::Mat m = plain(side, cv::Scalar(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)));
  for (int k = 0; k < shapes; ++k) {
    const cv::Scalar col(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    const cv::Point p(rng.uniform(0, side), rng.uniform(0, side)), q(rng.uniform(0, side), rng.uniform(0, side));
    if (k % 3 == 0) cv::line(m, p, q, col, rng.uniform(1, 4));
    else if (k % 3 == 1) cv::circle(m, p, rng.uniform(3, side / 8), col, rng.uniform(-1, 3));
    else cv::rectangle(m, p, p + cv::Point(rng.uniform(4, side / 6), rng.uniform(4, side / 6)), col, -1);
  }
  return m;
}

double feature(const BuiltinRanker& r, const Creative& c, const std::string& name) {
  const auto& names = BuiltinRanker::featureNames();
  const auto k = std::find(names.begin(), names.end(), name) - names.begin();
  return r.features(c)[k];
}

// The product's mean colour along its border (what a "matching" background would copy).
cv::Scalar borderColour(const Creative& c) {
  cv::Mat in = c.productAlpha > 127, core;
  cv::erode(in, core, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(15, 15)));
  return cv::mean(c.image, in & ~core);
}

fs::path tempDir() {
  static int counter = 0;
  const fs::path d = fs::temp_directory_path() /
                     ("caig-ranker-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(d);
  return d;
}

TEST(BuiltinRanker, BusyBackgroundHasMoreClutter) {
  BuiltinRanker r;
  const double plainClutter = feature(r, composite("mug", plain(256, {200, 200, 200}), 0.6), "clutter");
  const double gradClutter = feature(r, composite("mug", gradient(256, {240, 230, 220}, {150, 140, 130}), 0.6), "clutter");
  const double busyClutter = feature(r, composite("mug", busy(256, 3), 0.6), "clutter");
  std::printf("[ FEAT ] clutter: plain %.4f, gradient %.4f, busy %.4f\n", plainClutter, gradClutter, busyClutter);
  EXPECT_LT(plainClutter, 0.005);  // the product's own edges are excluded
  EXPECT_LT(gradClutter, 0.005);
  EXPECT_GT(busyClutter, 0.05);
}

TEST(BuiltinRanker, MatchingBackgroundHasLowerContrast) {
  BuiltinRanker r;
  for (const char* name : {"mug", "perfume", "jar"}) {
    const Creative probe = composite(name, plain(256, {128, 128, 128}), 0.6);
    const cv::Scalar match = borderColour(probe);
    const cv::Scalar opposite(255 - match[0], 255 - match[1], 255 - match[2]);
    const Creative same = composite(name, plain(256, match), 0.6);
    const Creative other = composite(name, plain(256, opposite), 0.6);
    const double lumaSame = feature(r, same, "contrast_luma"), lumaOther = feature(r, other, "contrast_luma");
    const double colSame = feature(r, same, "contrast_colour"), colOther = feature(r, other, "contrast_colour");
    std::printf("[ FEAT ] %s contrast: matching bg L %.1f dE %.1f, opposite bg L %.1f dE %.1f\n", name, lumaSame,
                colSame, lumaOther, colOther);
    EXPECT_LT(colSame, 0.5 * colOther) << name;
    EXPECT_LT(lumaSame, lumaOther) << name;
  }
}

TEST(BuiltinRanker, OtherFeaturesBehaveAsNamed) {
  BuiltinRanker r;
  const cv::Mat bg = plain(256, {235, 235, 235});
  const Creative small = composite("jar", bg, 0.4), large = composite("jar", bg, 0.78);
  EXPECT_GT(feature(r, large, "product_area"), 2 * feature(r, small, "product_area"));

  Creative blurred = large;
  blurred.image = large.image.clone();
  cv::GaussianBlur(large.image, blurred.image, cv::Size(0, 0), 3.0);
  EXPECT_LT(feature(r, blurred, "sharpness"), feature(r, large, "sharpness") - 0.3);

  const Creative grey = composite("mug", plain(256, {128, 128, 128}), 0.6);
  const Creative vivid = composite("mug", plain(256, {20, 200, 250}), 0.6);
  EXPECT_GT(feature(r, vivid, "colourfulness"), feature(r, grey, "colourfulness") + 20);
  EXPECT_GT(feature(r, vivid, "bg_saturation"), 0.8);
  EXPECT_LT(feature(r, grey, "bg_saturation"), 0.05);
  EXPECT_GT(feature(r, composite("mug", bg, 0.6), "bg_brightness"),
            feature(r, composite("mug", plain(256, {40, 40, 40}), 0.6), "bg_brightness") + 0.5);

  // A flat red product: an orange (analogous) background harmonises, a green one (~90 degrees
  // of Lab hue away) does not, a grey one is neutral.
  auto flat = [](cv::Scalar productBgr, cv::Scalar bgBgr) {
    Creative c{plain(128, bgBgr), cv::Mat::zeros(128, 128, CV_8UC1)};
    c.image(cv::Rect(32, 32, 64, 64)).setTo(productBgr);
    c.productAlpha(cv::Rect(32, 32, 64, 64)).setTo(255);
    return c;
  };
  const cv::Scalar red(40, 40, 200);
  const double analogous = feature(r, flat(red, {40, 120, 230}), "harmony");
  const double clash = feature(r, flat(red, {60, 170, 60}), "harmony");
  const double neutral = feature(r, flat(red, {128, 128, 128}), "harmony");
  std::printf("[ FEAT ] harmony of a red product: orange bg %.2f, green bg %.2f, grey bg %.2f\n", analogous, clash,
              neutral);
  EXPECT_GT(analogous, clash + 0.3);
  EXPECT_GT(neutral, 0.9);
}

TEST(BuiltinRanker, WithoutAlphaUsesTheCentrePrior) {
  BuiltinRanker r;
  Creative c = composite("perfume", busy(200, 5), 0.5);
  c.productAlpha.release();
  const FeatureVector f = r.features(c);
  for (double v : f) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(f[2], BuiltinRanker::featureMeans()[2]);  // area unknown: neutral
  Creative bad = c;
  bad.productAlpha = cv::Mat::zeros(10, 10, CV_8UC1);
  EXPECT_THROW(r.features(bad), RankerError);
}

TEST(BuiltinRanker, IsAntisymmetric) {
  BuiltinRanker r;
  const std::vector<Creative> cs = {composite("mug", busy(192, 1), 0.6), composite("mug", plain(192, {230, 240, 245}), 0.7),
                                    composite("jar", gradient(192, {90, 60, 40}, {30, 20, 10}), 0.5)};
  for (const auto& a : cs) {
    EXPECT_NEAR(r.winProbability(a, a, {}), 0.5, 1e-15);
    for (const auto& b : cs) EXPECT_NEAR(r.winProbability(a, b, {}) + r.winProbability(b, a, {}), 1.0, 1e-12);
  }
  EXPECT_EQ(r.id(), "builtin@1");
  EXPECT_EQ(r.status(), "uncalibrated until trained on your clicks");
}

// A pool of varied creatives: 3 products x plain / gradient / busy backgrounds x fills x blur.
std::vector<Creative> creativePool(int count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  const char* products[] = {"mug", "perfume", "jar"};
  std::vector<Creative> pool;
  for (int k = 0; k < count; ++k) {
    const cv::Scalar col(255 * u(rng), 255 * u(rng), 255 * u(rng));
    cv::Mat bg;
    switch (k % 3) {
      case 0: bg = plain(160, col); break;
      case 1: bg = gradient(160, col, col * 0.4); break;
      default: bg = busy(160, seed + k, 20 + int(150 * u(rng))); break;
    }
    Creative c = composite(products[k % 3 == 0 ? (k / 3) % 3 : k % 3], bg, 0.4 + 0.38 * u(rng));
    if (u(rng) < 0.3) cv::GaussianBlur(c.image, c.image, cv::Size(0, 0), 0.5 + 2 * u(rng));
    pool.push_back(c);
  }
  return pool;
}

TEST(BuiltinRanker, TrainingRecoversAHiddenPreferenceAndBeatsThePrior) {
  BuiltinRanker r;
  const auto pool = creativePool(48, 11);
  std::vector<FeatureVector> f;
  for (const auto& c : pool) f.push_back(r.features(c));
  // Hidden "true" audience: unlike the prior, it likes colourful, saturated, darker backdrops.
  const FeatureVector hidden = {0.6, 0.4, 1.0, -1.0, 0.8, 0.8, -1.0, 0.2, 0.4};
  BuiltinRanker oracle;
  oracle.setWeights(hidden);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> pick(0, int(pool.size()) - 1);
  std::vector<std::pair<FeatureVector, FeatureVector>> pairs;
  while (pairs.size() < 800) {
    const int a = pick(rng), b = pick(rng);
    if (a == b) continue;
    const double p = 1 / (1 + std::exp(-oracle.logit(f[a], f[b])));
    if (std::bernoulli_distribution(p)(rng)) pairs.emplace_back(f[a], f[b]);
    else pairs.emplace_back(f[b], f[a]);
  }
  TrainOptions opt;
  opt.validationFraction = 0.25;
  const auto report = r.trainOnFeatures(pairs, opt);
  ASSERT_TRUE(report.validationAccuracy && report.previousValidationAccuracy);
  // The best any model can do on these noisy labels: the hidden model's own held-out accuracy
  // is bounded by sampling noise; compare the trained model with it and with the prior.
  double cos = 0, nw = 0, nh = 0;
  for (int k = 0; k < kBuiltinFeatureCount; ++k) {
    cos += r.weights()[k] * hidden[k];
    nw += r.weights()[k] * r.weights()[k];
    nh += hidden[k] * hidden[k];
  }
  cos /= std::sqrt(nw * nh);
  std::printf("[ TRAIN ] %d train / %d held-out pairs, %d Newton steps, %.1f ms: held-out accuracy %.1f%% "
              "(prior %.1f%%), log-loss %.3f (prior %.3f); cosine(learned, hidden) %.2f\n",
              report.trainPairs, report.validationPairs, report.iterations, 1e3 * report.seconds,
              100 * *report.validationAccuracy, 100 * *report.previousValidationAccuracy, *report.validationLogLoss,
              *report.previousValidationLogLoss, cos);
  EXPECT_EQ(report.validationPairs, 200);
  EXPECT_GT(*report.validationAccuracy, 0.75);
  EXPECT_GT(*report.validationAccuracy, *report.previousValidationAccuracy + 0.05);
  EXPECT_LT(*report.validationLogLoss, *report.previousValidationLogLoss);
  EXPECT_GT(cos, 0.8);
  EXPECT_TRUE(r.trained());
  EXPECT_NE(r.id(), "builtin@1");
  EXPECT_NE(r.status().find("held-out pairwise accuracy"), std::string::npos);

  // The weights' posterior: tighter than the prior's +-1.
  ASSERT_EQ(r.weightCovariance().size(), std::size_t(kBuiltinFeatureCount * kBuiltinFeatureCount));
  for (int k = 0; k < kBuiltinFeatureCount; ++k) {
    EXPECT_GT(r.weightCovariance()[k * kBuiltinFeatureCount + k], 0.0);
    EXPECT_LT(r.weightCovariance()[k * kBuiltinFeatureCount + k], 0.2);
  }
  // ... and honest: over 40 click sets drawn from the hidden model, its logit lies within the
  // trained ranker's 95 % interval for about 95 % of (set, pair) draws. One set alone says
  // little: all its pairs share the same weight error.
  int covered = 0, trials = 0;
  for (unsigned set = 0; set < 40; ++set) {
    std::mt19937 g(100 + set);
    std::vector<std::pair<FeatureVector, FeatureVector>> clicks;
    while (clicks.size() < 400) {
      const int a = pick(g), b = pick(g);
      if (a == b) continue;
      const double p = 1 / (1 + std::exp(-oracle.logit(f[a], f[b])));
      if (std::bernoulli_distribution(p)(g))
        clicks.emplace_back(f[a], f[b]);
      else
        clicks.emplace_back(f[b], f[a]);
    }
    BuiltinRanker fitted;
    TrainOptions all;
    all.validationFraction = 0;
    fitted.trainOnFeatures(clicks, all);
    for (int t = 0; t < 10; ++t) {
      const int a = pick(g), b = (a + 1 + pick(g) % (int(pool.size()) - 1)) % int(pool.size());
      const auto ba = fitted.uncertaintyBasis(pool[a], {}), bb = fitted.uncertaintyBasis(pool[b], {});
      ASSERT_EQ(ba.size(), std::size_t(kBuiltinFeatureCount));
      double d2 = 0;
      for (std::size_t k = 0; k < ba.size(); ++k) d2 += (ba[k] - bb[k]) * (ba[k] - bb[k]);
      covered += std::abs(fitted.logit(f[a], f[b]) - oracle.logit(f[a], f[b])) <= 1.96 * std::sqrt(d2);
      ++trials;
    }
  }
  std::printf("[ TRAIN ] the hidden logit inside the trained 95 %% interval in %d of %d draws\n", covered, trials);
  EXPECT_GT(covered, 0.88 * trials);
  EXPECT_LT(covered, 0.995 * trials);
  // Weights set by hand have no known uncertainty.
  EXPECT_TRUE(oracle.uncertaintyBasis(pool[0], {}).empty());

  // The image-level API computes the same features: same pairs, same weights.
  std::vector<std::pair<Creative, Creative>> imagePairs;
  for (int k = 0; k + 1 < 12; k += 2) imagePairs.emplace_back(pool[k], pool[k + 1]);
  std::vector<std::pair<FeatureVector, FeatureVector>> featurePairs;
  for (int k = 0; k + 1 < 12; k += 2) featurePairs.emplace_back(f[k], f[k + 1]);
  BuiltinRanker viaImages, viaFeatures;
  viaImages.train(imagePairs, {});
  viaFeatures.trainOnFeatures(featurePairs, {});
  for (int k = 0; k < kBuiltinFeatureCount; ++k) EXPECT_DOUBLE_EQ(viaImages.weights()[k], viaFeatures.weights()[k]);
}

TEST(BuiltinRanker, WeightsRoundTripThroughJson) {
  BuiltinRanker r;
  r.setWeights({0.5, -0.25, 0.125, -1.5, 0.1, 0.2, 0.3, 0.4, 1e-17});
  const fs::path dir = tempDir();
  r.save(dir / "w.json");
  EXPECT_FALSE(fs::exists(dir / "w.json.partial"));
  BuiltinRanker back;
  back.load(dir / "w.json");
  EXPECT_EQ(back.weights(), r.weights());
  EXPECT_EQ(back.id(), r.id());
  EXPECT_EQ(back.status(), r.status());
  const Creative a = composite("mug", busy(128, 2), 0.6), b = composite("jar", plain(128, {250, 250, 250}), 0.7);
  EXPECT_EQ(back.winProbability(a, b, {}), r.winProbability(a, b, {}));
  EXPECT_TRUE(back.weightCovariance().empty());  // set by hand: unknown, and stays so
  // A trained ranker's covariance is saved and read back exactly.
  BuiltinRanker trained;
  trained.trainOnFeatures({{trained.features(a), trained.features(b)},
                           {trained.features(b), trained.features(a)},
                           {trained.features(a), trained.features(b)}},
                          {});
  trained.save(dir / "t.json");
  BuiltinRanker trainedBack;
  trainedBack.load(dir / "t.json");
  EXPECT_EQ(trainedBack.weightCovariance(), trained.weightCovariance());
  EXPECT_EQ(trainedBack.uncertaintyBasis(a, {}), trained.uncertaintyBasis(a, {}));
  // The prior's is the identity.
  BuiltinRanker prior;
  prior.save(dir / "p.json");
  BuiltinRanker priorBack;
  priorBack.load(dir / "p.json");
  EXPECT_EQ(priorBack.weightCovariance(), BuiltinRanker().weightCovariance());
  EXPECT_EQ(BuiltinRanker().weightCovariance()[0], 1.0);
  fs::remove_all(dir);
}

// How much CTR a logit is worth, fitted to click pairs: exact when the log CTR ratios are a
// multiple of the logits, 0 when the ranker disagrees with the clicks; kept with the weights.
TEST(BuiltinRanker, CtrScaleIsFittedToTheClickRatios) {
  BuiltinRanker r;
  const auto pool = creativePool(12, 4);
  std::vector<std::pair<FeatureVector, FeatureVector>> pairs;
  std::vector<double> ratios, flipped;
  for (std::size_t k = 0; k + 1 < pool.size(); k += 2) {
    pairs.emplace_back(r.features(pool[k]), r.features(pool[k + 1]));
    ratios.push_back(0.1 * r.logit(pairs.back().first, pairs.back().second));
    flipped.push_back(-ratios.back());
  }
  EXPECT_FALSE(r.ctrScale().has_value());
  r.calibrateCtrScale(pairs, ratios);
  ASSERT_TRUE(r.ctrScale().has_value());
  EXPECT_NEAR(*r.ctrScale(), 0.1, 1e-12);
  const fs::path dir = tempDir();
  r.setWeights(r.weights());  // new weights: the old scale no longer applies
  EXPECT_FALSE(r.ctrScale().has_value());
  r.calibrateCtrScale(pairs, flipped);
  EXPECT_EQ(*r.ctrScale(), 0.0);
  r.calibrateCtrScale(pairs, ratios);
  r.save(dir / "s.json");
  BuiltinRanker back;
  back.load(dir / "s.json");
  EXPECT_EQ(back.ctrScale(), r.ctrScale());
  EXPECT_THROW(r.calibrateCtrScale(pairs, {0.1}), RankerError);
  fs::remove_all(dir);
}

TEST(BuiltinRanker, CorruptWeightFilesAreRejectedWithAClearError) {
  const fs::path dir = tempDir();
  BuiltinRanker good;
  good.save(dir / "good.json");
  std::ifstream in(dir / "good.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = text;
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"format\": \"caig-builtin-ranker\", ", "not valid JSON"},
      {replaced("caig-builtin-ranker", "something-else"), "not a 'caig-builtin-ranker' file"},
      {replaced("\"version\": 1", "\"version\": 7"), "feature set version 7"},
      {replaced("\"clutter\"", "\"clutter_old\""), "no weight for feature 'clutter'"},
      {replaced("\"harmony\":", "\"harmony\": \"x\", \"h2\":"), "weight 'harmony' is not a finite number"},
      {replaced("\"weights\": {", "\"weights\": {\"text_free\": 1.0, "), "unknown feature 'text_free'"},
      {replaced("\"weightCovariance\": [", "\"weightCovariance\": [1.0, "), "'weightCovariance' is not 81 numbers"},
      {replaced("\"weightCovariance\": [\n    1.0", "\"weightCovariance\": [\n    -1.0"), "not positive definite"},
      {replaced("\"weightCovariance\": [\n    1.0,\n    0.0", "\"weightCovariance\": [\n    1.0,\n    0.5"),
       "finite and symmetric"},
  };
  int k = 0;
  for (const auto& [content, expected] : cases) {
    const fs::path file = dir / ("bad" + std::to_string(k++) + ".json");
    std::ofstream(file) << content;
    BuiltinRanker r;
    try {
      r.load(file);
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const RankerError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    }
    EXPECT_FALSE(r.trained());  // a rejected file changes nothing
  }
  BuiltinRanker r;
  EXPECT_THROW(r.load(dir / "missing.json"), RankerError);
  fs::remove_all(dir);
}

TEST(RankBuiltin, EndToEndTheKnownBestComesFirst) {
  BuiltinRanker r;
  const Creative reference = composite("mug", gradient(256, {200, 190, 180}, {120, 110, 100}), 0.6);
  Creative worst = composite("mug", busy(256, 9, 250), 0.4);
  cv::GaussianBlur(worst.image, worst.image, cv::Size(0, 0), 2.0);
  const Creative match = composite("mug", plain(256, borderColour(reference)), 0.6);
  const Creative best = composite("mug", plain(256, {245, 245, 245}), 0.78);
  const Creative mid = composite("mug", busy(256, 4, 60), 0.6);
  const auto result = rankCreatives(r, {reference, worst, match, best, mid}, {"Teal Stoneware Coffee Mug", "kitchen"});
  std::printf("[ RANK ] builtin prior on 5 mug creatives: ranks");
  for (int k = 0; k < 5; ++k) std::printf(" %d (%.2f +- %.2f, P>ref %.2f)", result.rank[k], result.score[k],
                                          result.stdError[k], result.winVsReference[k]);
  std::printf("\n");
  EXPECT_EQ(result.rank[3], 1);
  EXPECT_EQ(result.rank[1], 5);
  EXPECT_GT(result.winVsReference[3], 0.5);
  EXPECT_LT(result.winVsReference[1], 0.5);
  EXPECT_EQ(result.comparisons, 10);
}

}  // namespace
}  // namespace caig
