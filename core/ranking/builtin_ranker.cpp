#include "core/ranking/builtin_ranker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <opencv2/imgproc.hpp>
#include <random>

#include <nlohmann/json.hpp>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

constexpr const char* kFormat = "caig-builtin-ranker";
constexpr int kVersion = 1;  // of the feature set; bump when a feature changes meaning
constexpr int kAnalysisSide = 384;  // features are measured at this long side: size-invariant, fast

// Features, their units, and the standardisation constants z = (f - mean) / scale. The constants
// are rounded from the features of 90 test creatives (the demo products on random plain, gradient
// and busy backgrounds at 0.4-0.78 fill: means 18, 56, 0.24, 0.02, 90, 0.67, 0.51, 0.63, 1.97),
// with colourfulness and saturation pulled toward calmer studio backdrops (random colours are
// louder than real ads). They only set the units of the weights; training adapts to any data.
//   contrast_luma   |L* inside - L* outside| along the product's border, per 45-degree sector, mean (L* 0..100)
//   contrast_colour CIE76 Delta E between the same two bands, per sector, mean
//   product_area    share of the canvas covered by the product (alpha > 127)
//   clutter         Canny edge density of the background only (product and a margin excluded)
//   colourfulness   Hasler-Suesstrunk M of the whole ad (0 = grey, ~100 = extremely colourful)
//   bg_saturation   mean HSV saturation of the background, 0..1
//   bg_brightness   mean L*/100 of the background
//   harmony         hue relation of background and product: 1 for analogous, complementary or
//                   neutral (achromatic) pairs, down to 0 for strong colours 90 degrees apart
//   sharpness       log10(1 + variance of the Laplacian) over the product's pixels
const std::vector<std::string> kNames = {"contrast_luma", "contrast_colour", "product_area",
                                         "clutter",       "colourfulness",   "bg_saturation",
                                         "bg_brightness", "harmony",         "sharpness"};
const FeatureVector kMeans = {20.0, 45.0, 0.25, 0.03, 60.0, 0.45, 0.60, 0.70, 2.1};
const FeatureVector kScales = {10.0, 25.0, 0.13, 0.04, 30.0, 0.25, 0.20, 0.28, 0.45};

// NEUTRAL PRIOR, in logit per standard deviation of a feature: small so that no single feature
// decides, signs from ad-design common sense, never from click data.
//   contrast +0.3 / +0.2: the product must separate from its background (figure-ground).
//   product_area +0.2: a larger product reads at feed-thumbnail size (CAIG still caps it at 0.78).
//   clutter -0.4: busy backgrounds compete with the product for attention (the strongest rule).
//   colourfulness +0.1: colourful images draw the eye in a feed, a weak effect.
//   bg_saturation -0.1: a loud backdrop pulls the eye off the product.
//   bg_brightness +0.1: bright, clean backdrops are the e-commerce convention.
//   harmony +0.2: analogous/complementary palettes look designed, clashing ones do not.
//   sharpness +0.2: a soft product looks low quality.
const FeatureVector kPrior = {0.3, 0.2, 0.2, -0.4, 0.1, -0.1, 0.1, 0.2, 0.2};

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

cv::Mat ellipseKernel(int radius) {
  return cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * radius + 1, 2 * radius + 1));
}

// Mean Lab colour per 45-degree sector around `centre` of the pixels set in `band`.
struct SectorMeans {
  std::array<cv::Vec3d, 8> sum{};
  std::array<int, 8> count{};
};

SectorMeans sectorMeans(const cv::Mat3f& lab, const cv::Mat1b& band, cv::Point2d centre) {
  SectorMeans s;
  for (int y = 0; y < band.rows; ++y) {
    const uchar* m = band.ptr<uchar>(y);
    const cv::Vec3f* p = lab.ptr<cv::Vec3f>(y);
    for (int x = 0; x < band.cols; ++x) {
      if (!m[x]) continue;
      const double angle = std::atan2(y - centre.y, x - centre.x) + CV_PI;  // 0..2pi
      const int k = std::min(7, static_cast<int>(angle / (CV_PI / 4)));
      s.sum[k] += cv::Vec3d(p[x][0], p[x][1], p[x][2]);
      s.count[k]++;
    }
  }
  return s;
}

// Circular mean hue of a region in the a*b* plane: the mean (a*, b*) vector. Its length is the
// region's dominant chroma (a many-hued region averages out to near grey).
cv::Vec2d meanAb(const cv::Mat3f& lab, const cv::Mat1b& mask) {
  const cv::Scalar m = cv::mean(lab, mask);
  return {m[1], m[2]};
}

uint32_t fnv1a(const void* data, std::size_t n, uint32_t h = 2166136261u) {
  const auto* b = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 16777619u;
  return h;
}

}  // namespace

BuiltinRanker::BuiltinRanker() : weights_(kPrior) {
  std::vector<double> identity(kBuiltinFeatureCount * kBuiltinFeatureCount, 0.0);
  for (int k = 0; k < kBuiltinFeatureCount; ++k) identity[k * kBuiltinFeatureCount + k] = 1.0;
  setCovariance(std::move(identity));
}

void BuiltinRanker::setCovariance(std::vector<double> covariance) {
  constexpr int F = kBuiltinFeatureCount;
  basisFactor_.clear();
  covariance_.clear();
  if (covariance.empty()) return;
  if (covariance.size() != std::size_t(F * F)) throw RankerError("builtin ranker: the weight covariance must be 9 x 9");
  cv::Matx<double, F, F> m(covariance.data());
  for (int k = 0; k < F; ++k) {
    for (int l = 0; l < F; ++l) {
      if (!std::isfinite(m(k, l)) || std::abs(m(k, l) - m(l, k)) > 1e-9 * (1 + std::abs(m(k, l)))) {
        throw RankerError("builtin ranker: the weight covariance must be finite and symmetric");
      }
    }
  }
  cv::Mat1d L(F, F);
  for (int i = 0; i < F; ++i) {
    for (int j = 0; j < F; ++j) L(i, j) = m(i, j);
  }
  if (!choleskyLower(L)) throw RankerError("builtin ranker: the weight covariance is not positive definite");
  covariance_ = std::move(covariance);
  basisFactor_.assign(F * F, 0.0);
  for (int i = 0; i < F; ++i) {
    for (int j = i; j < F; ++j) basisFactor_[i * F + j] = L(j, i);  // L^T (L is lower)
  }
}

std::vector<double> BuiltinRanker::uncertaintyBasis(const Creative& c, const RankContext&) {
  if (basisFactor_.empty()) return {};
  FeatureVector scratch;
  const FeatureVector z = standardise(cached(c, scratch));
  constexpr int F = kBuiltinFeatureCount;
  std::vector<double> out(F, 0.0);
  for (int i = 0; i < F; ++i) {
    for (int j = 0; j < F; ++j) out[i] += basisFactor_[i * F + j] * z[j];
  }
  return out;
}

const std::vector<std::string>& BuiltinRanker::featureNames() { return kNames; }
const FeatureVector& BuiltinRanker::featureMeans() { return kMeans; }
const FeatureVector& BuiltinRanker::featureScales() { return kScales; }
const FeatureVector& BuiltinRanker::priorWeights() { return kPrior; }

std::string BuiltinRanker::id() const {
  std::string s = "builtin@" + std::to_string(kVersion);
  if (!trained_) return s;
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", fnv1a(weights_.data(), sizeof(double) * weights_.size()));
  return s + ":" + hex;
}

std::string BuiltinRanker::status() const {
  if (!trained_) return "uncalibrated until trained on your clicks";
  std::string s = "trained on " + std::to_string(trainedPairs_) + " click pairs";
  if (!heldOutAccuracy_) return s + " (no held-out pairs: accuracy unknown)";
  char buf[96];
  std::snprintf(buf, sizeof buf, "; held-out pairwise accuracy %.1f%% on %d pairs", 100 * *heldOutAccuracy_,
                heldOutPairs_);
  return s + buf;
}

FeatureVector BuiltinRanker::features(const Creative& c) const {
  if (c.image.empty() || c.image.type() != CV_8UC3) throw RankerError("builtin ranker: image must be 8-bit BGR");
  const bool haveAlpha = !c.productAlpha.empty();
  if (haveAlpha && (c.productAlpha.type() != CV_8UC1 || c.productAlpha.size() != c.image.size())) {
    throw RankerError("builtin ranker: product alpha must be 8-bit single channel of the image's size");
  }
  const double f = double(kAnalysisSide) / std::max(c.image.cols, c.image.rows);
  const cv::Size size(std::max(8, int(std::lround(c.image.cols * f))), std::max(8, int(std::lround(c.image.rows * f))));
  cv::Mat bgr;
  cv::resize(c.image, bgr, size, 0, 0, cv::INTER_AREA);
  cv::Mat1b product;
  if (haveAlpha) {
    cv::Mat a;
    cv::resize(c.productAlpha, a, size, 0, 0, cv::INTER_AREA);
    product = a > 127;
  } else {
    // No cutout: assume the usual layout, the product in the central half of each side.
    product = cv::Mat1b::zeros(size);
    product(cv::Rect(size.width / 4, size.height / 4, size.width / 2, size.height / 2)).setTo(255);
  }

  FeatureVector out = kMeans;  // a feature that cannot be measured stays neutral (z = 0)
  const int band = std::max(3, kAnalysisSide / 48);  // 8 px at 384
  const int gap = 2;                                 // skip feathered edge pixels
  cv::Mat1b inner, innerCore, outer, outerNear, background;
  cv::erode(product, inner, ellipseKernel(gap));
  cv::erode(product, innerCore, ellipseKernel(gap + band));
  inner &= ~innerCore;
  cv::dilate(product, outer, ellipseKernel(gap + band));
  cv::dilate(product, outerNear, ellipseKernel(gap));
  background = ~outer;
  outer &= ~outerNear;

  cv::Mat3f lab;
  bgr.convertTo(lab, CV_32FC3, 1.0 / 255);
  cv::cvtColor(lab, lab, cv::COLOR_BGR2Lab);

  // Contrast along the border, sector by sector, so a product dark on one side and light on
  // the other is compared with what is next to each side.
  const cv::Moments mo = cv::moments(product, true);
  if (mo.m00 > 0) {
    const cv::Point2d centre(mo.m10 / mo.m00, mo.m01 / mo.m00);
    const SectorMeans in = sectorMeans(lab, inner, centre), outS = sectorMeans(lab, outer, centre);
    double luma = 0, colour = 0;
    int weight = 0;
    for (int k = 0; k < 8; ++k) {
      if (in.count[k] == 0 || outS.count[k] == 0) continue;
      const cv::Vec3d d = in.sum[k] / in.count[k] - outS.sum[k] / outS.count[k];
      const int w = in.count[k];
      luma += w * std::abs(d[0]);
      colour += w * cv::norm(d);
      weight += w;
    }
    if (weight > 0) {
      out[0] = luma / weight;
      out[1] = colour / weight;
    }
  }
  if (haveAlpha) out[2] = double(cv::countNonZero(product)) / product.total();

  cv::Mat1b grey;
  cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
  const int bgPixels = cv::countNonZero(background);
  if (bgPixels > 0) {
    cv::Mat1b edges;
    cv::Canny(grey, edges, 60, 140);
    out[3] = double(cv::countNonZero(edges & background)) / bgPixels;
    cv::Mat hsv;
    cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
    out[5] = cv::mean(hsv, background)[1] / 255.0;
    out[6] = cv::mean(lab, background)[0] / 100.0;
  }

  // Hasler & Suesstrunk (2003): M = sigma_rgyb + 0.3 mu_rgyb with rg = R - G, yb = (R + G)/2 - B.
  {
    cv::Mat3f f32;
    bgr.convertTo(f32, CV_32FC3);
    std::vector<cv::Mat1f> ch;
    cv::split(f32, ch);
    const cv::Mat1f rg = ch[2] - ch[1], yb = 0.5f * (ch[2] + ch[1]) - ch[0];
    cv::Scalar mrg, srg, myb, syb;
    cv::meanStdDev(rg, mrg, srg);
    cv::meanStdDev(yb, myb, syb);
    out[4] = std::hypot(srg[0], syb[0]) + 0.3 * std::hypot(mrg[0], myb[0]);
  }

  if (bgPixels > 0 && cv::countNonZero(product) > 0) {
    const cv::Vec2d p = meanAb(lab, product), b = meanAb(lab, background);
    const double chromaP = cv::norm(p), chromaB = cv::norm(b);
    // Weight of the hue relation: 0 when either side is near grey (neutral goes with anything).
    const double hueWeight = std::min(1.0, std::min(chromaP, chromaB) / 20.0);
    const double cosHue = hueWeight > 0 ? p.dot(b) / (chromaP * chromaB) : 1.0;
    out[7] = 1 - hueWeight + hueWeight * std::abs(cosHue);
  }

  if (cv::countNonZero(product) > 0) {
    cv::Mat lap;
    cv::Laplacian(grey, lap, CV_32F);
    cv::Scalar mean, sd;
    cv::meanStdDev(lap, mean, sd, product);
    out[8] = std::log10(1 + sd[0] * sd[0]);
  }
  return out;
}

FeatureVector BuiltinRanker::standardise(const FeatureVector& raw) {
  FeatureVector z;
  for (int k = 0; k < kBuiltinFeatureCount; ++k) z[k] = (raw[k] - kMeans[k]) / kScales[k];
  return z;
}

double BuiltinRanker::logit(const FeatureVector& left, const FeatureVector& right) const {
  const FeatureVector zl = standardise(left), zr = standardise(right);
  double s = 0;
  for (int k = 0; k < kBuiltinFeatureCount; ++k) s += weights_[k] * (zl[k] - zr[k]);
  return s;
}

const FeatureVector& BuiltinRanker::cached(const Creative& c, FeatureVector& scratch) const {
  for (const auto& [data, fv] : cache_) {
    if (data.first == c.image.data && data.second == c.productAlpha.data) return fv;
  }
  scratch = features(c);
  return scratch;
}

double BuiltinRanker::winProbability(const Creative& left, const Creative& right, const RankContext&) {
  FeatureVector a, b;
  return sigmoid(logit(cached(left, a), cached(right, b)));
}

void BuiltinRanker::prepare(const std::vector<Creative>& creatives, const RankContext&) {
  cache_.clear();
  for (const auto& c : creatives) cache_.emplace_back(std::make_pair(c.image.data, c.productAlpha.data), features(c));
}

void BuiltinRanker::release() { cache_.clear(); }

void BuiltinRanker::setWeights(const FeatureVector& w) {
  for (double v : w) {
    if (!std::isfinite(v)) throw RankerError("builtin ranker: weights must be finite");
  }
  weights_ = w;
  trained_ = true;
  setCovariance({});
  ctrScale_.reset();
  heldOutAccuracy_.reset();
  trainedPairs_ = heldOutPairs_ = 0;
}

TrainReport BuiltinRanker::train(const std::vector<std::pair<Creative, Creative>>& pairs, const TrainOptions& options) {
  std::vector<std::pair<FeatureVector, FeatureVector>> fv;
  fv.reserve(pairs.size());
  for (const auto& [won, lost] : pairs) fv.emplace_back(features(won), features(lost));
  return trainOnFeatures(fv, options);
}

TrainReport BuiltinRanker::trainOnFeatures(const std::vector<std::pair<FeatureVector, FeatureVector>>& pairs,
                                           const TrainOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (pairs.empty()) throw RankerError("builtin ranker: no pairs to train on");
  if (!(options.l2 > 0) || !(options.validationFraction >= 0 && options.validationFraction < 1)) {
    throw RankerError("builtin ranker: l2 must be > 0 and the validation fraction in [0, 1)");
  }
  constexpr int F = kBuiltinFeatureCount;
  // The model sees only differences of standardised features; the label is always "first won".
  std::vector<FeatureVector> diff(pairs.size());
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const FeatureVector a = standardise(pairs[i].first), b = standardise(pairs[i].second);
    for (int k = 0; k < F; ++k) diff[i][k] = a[k] - b[k];
  }
  std::vector<std::size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(options.seed));
  int nVal = static_cast<int>(std::lround(options.validationFraction * pairs.size()));
  if (options.validationFraction > 0 && pairs.size() >= 2) nVal = std::clamp(nVal, 1, int(pairs.size()) - 1);
  const std::vector<std::size_t> val(order.begin(), order.begin() + nVal), fit(order.begin() + nVal, order.end());

  auto evaluate = [&](const FeatureVector& w, const std::vector<std::size_t>& idx, double& acc, double& loss) {
    acc = loss = 0;
    for (std::size_t i : idx) {
      double s = 0;
      for (int k = 0; k < F; ++k) s += w[k] * diff[i][k];
      acc += s > 0 ? 1.0 : (s == 0 ? 0.5 : 0.0);
      loss += softplus(-s);
    }
    acc /= idx.size();
    loss /= idx.size();
  };

  const FeatureVector w0 = options.towardCurrent ? weights_ : FeatureVector{};
  auto objective = [&](const FeatureVector& w) {
    double f = 0;
    for (std::size_t i : fit) {
      double s = 0;
      for (int k = 0; k < F; ++k) s += w[k] * diff[i][k];
      f += softplus(-s);
    }
    for (int k = 0; k < F; ++k) f += 0.5 * options.l2 * (w[k] - w0[k]) * (w[k] - w0[k]);
    return f;
  };

  // Newton's method on the penalised log-loss: 9 weights, so each step solves a 9x9 system.
  TrainReport report;
  FeatureVector w = weights_;
  double f = objective(w);
  // Gradient and Hessian of the penalised log-loss at w: Newton's steps, and the posterior below.
  auto derivatives = [&](const FeatureVector& at, cv::Matx<double, F, 1>& g, cv::Matx<double, F, F>& h) {
    h = cv::Matx<double, F, F>::eye() * options.l2;
    for (int k = 0; k < F; ++k) g(k) = options.l2 * (at[k] - w0[k]);
    for (std::size_t i : fit) {
      double s = 0;
      for (int k = 0; k < F; ++k) s += at[k] * diff[i][k];
      const double q = sigmoid(s);
      for (int k = 0; k < F; ++k) {
        g(k) += (q - 1) * diff[i][k];
        for (int l = 0; l < F; ++l) h(k, l) += q * (1 - q) * diff[i][k] * diff[i][l];
      }
    }
  };
  cv::Matx<double, F, 1> g;
  cv::Matx<double, F, F> h;
  for (report.iterations = 0; report.iterations < options.maxIterations; ++report.iterations) {
    derivatives(w, g, h);
    cv::Matx<double, F, 1> step;
    cv::solve(h, g, step, cv::DECOMP_CHOLESKY);
    if (cv::norm(step, cv::NORM_INF) < 1e-9) break;
    FeatureVector next;
    double t = 1;
    for (int tries = 0; tries < 30; ++tries, t *= 0.5) {
      for (int k = 0; k < F; ++k) next[k] = w[k] - t * step(k);
      const double fn = objective(next);
      if (fn <= f) {
        f = fn;
        break;
      }
    }
    w = next;
  }

  report.trainPairs = static_cast<int>(fit.size());
  report.validationPairs = nVal;
  if (!fit.empty()) evaluate(w, fit, report.trainAccuracy, report.trainLogLoss);
  if (nVal > 0) {
    double acc, loss;
    evaluate(w, val, acc, loss);
    report.validationAccuracy = acc;
    report.validationLogLoss = loss;
    evaluate(weights_, val, acc, loss);
    report.previousValidationAccuracy = acc;
    report.previousValidationLogLoss = loss;
  }
  // The Laplace posterior of the weights: the inverse Hessian of the penalised loss at w.
  {
    derivatives(w, g, h);
    const cv::Matx<double, F, F> inv = h.inv(cv::DECOMP_CHOLESKY);
    std::vector<double> cov(F * F);
    for (int k = 0; k < F; ++k) {
      for (int l = 0; l < F; ++l) cov[k * F + l] = 0.5 * (inv(k, l) + inv(l, k));
    }
    setCovariance(std::move(cov));
  }
  weights_ = w;
  trained_ = true;
  ctrScale_.reset();  // fitted to the old weights' logits
  trainedPairs_ = report.trainPairs;
  heldOutAccuracy_ = report.validationAccuracy;
  heldOutPairs_ = nVal;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

void BuiltinRanker::calibrateCtrScale(const std::vector<std::pair<FeatureVector, FeatureVector>>& pairs,
                                      const std::vector<double>& logCtrRatios) {
  if (pairs.size() != logCtrRatios.size()) throw RankerError("builtin ranker: one CTR ratio per pair");
  std::vector<double> logits;
  for (const auto& [a, b] : pairs) logits.push_back(logit(a, b));
  if (const auto scale = fitCtrScale(logits, logCtrRatios)) ctrScale_ = scale;
}

void BuiltinRanker::save(const std::filesystem::path& path) const {
  nlohmann::json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  for (int k = 0; k < kBuiltinFeatureCount; ++k) j["weights"][kNames[k]] = weights_[k];
  j["trained"] = trained_;
  j["trainedPairs"] = trainedPairs_;
  j["heldOutPairs"] = heldOutPairs_;
  j["heldOutAccuracy"] = heldOutAccuracy_ ? nlohmann::json(*heldOutAccuracy_) : nlohmann::json();
  if (!covariance_.empty()) j["weightCovariance"] = covariance_;
  if (ctrScale_) j["ctrScale"] = *ctrScale_;
  const std::string text = j.dump(2) + "\n";
  io::AtomicFile out(path);
  out.write(text.data(), text.size());
  out.commit();
}

void BuiltinRanker::load(const std::filesystem::path& path) {
  // A rejected file changes nothing: parse into a copy, then take it.
  BuiltinRanker next;
  next.loadInto(path);
  *this = std::move(next);
}

void BuiltinRanker::loadInto(const std::filesystem::path& path) {
  const std::string where = "builtin ranker weights '" + path.string() + "': ";
  nlohmann::json j;
  try {
    j = io::readJsonFile(path);
  } catch (const std::exception& e) {
    throw RankerError(where + e.what());
  }
  auto fail = [&](const std::string& why) { throw RankerError(where + why); };
  if (!j.is_object() || !j.contains("format") || j["format"] != kFormat) fail(std::string("not a '") + kFormat + "' file");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != kVersion) {
    fail("feature set version " + (j.contains("version") ? j["version"].dump() : std::string("missing")) +
         ", this build reads " + std::to_string(kVersion));
  }
  const auto it = j.find("weights");
  if (it == j.end() || !it->is_object()) fail("no 'weights' object");
  FeatureVector w{};
  for (int k = 0; k < kBuiltinFeatureCount; ++k) {
    const auto v = it->find(kNames[k]);
    if (v == it->end()) fail("no weight for feature '" + kNames[k] + "'");
    if (!v->is_number() || !std::isfinite(v->get<double>())) fail("weight '" + kNames[k] + "' is not a finite number");
    w[k] = v->get<double>();
  }
  for (const auto& [name, value] : it->items()) {
    if (std::find(kNames.begin(), kNames.end(), name) == kNames.end()) fail("unknown feature '" + name + "'");
  }
  const auto count = [&](const char* key) {
    const auto v = j.find(key);
    return v != j.end() && v->is_number_integer() && v->get<int>() >= 0 ? v->get<int>() : 0;
  };
  weights_ = w;
  trained_ = !(j.contains("trained") && j["trained"].is_boolean()) || j["trained"].get<bool>();
  trainedPairs_ = count("trainedPairs");
  heldOutPairs_ = count("heldOutPairs");
  heldOutAccuracy_.reset();
  const auto acc = j.find("heldOutAccuracy");
  if (acc != j.end() && acc->is_number()) heldOutAccuracy_ = acc->get<double>();
  const auto scale = j.find("ctrScale");
  if (scale != j.end()) {
    if (!scale->is_number() || !std::isfinite(scale->get<double>()) || scale->get<double>() < 0) {
      fail("'ctrScale' is not a non-negative number");
    }
    ctrScale_ = scale->get<double>();
  }
  // Optional (files written before it was saved have none: uncertainty unknown).
  std::vector<double> cov;
  const auto ci = j.find("weightCovariance");
  if (ci != j.end()) {
    if (!ci->is_array() || ci->size() != std::size_t(kBuiltinFeatureCount * kBuiltinFeatureCount)) {
      fail("'weightCovariance' is not 81 numbers");
    }
    for (const auto& v : *ci) {
      if (!v.is_number()) fail("'weightCovariance' is not 81 numbers");
      cov.push_back(v.get<double>());
    }
  } else if (!trained_) {
    cov = BuiltinRanker().covariance_;
  }
  try {
    setCovariance(std::move(cov));
  } catch (const RankerError& e) {
    fail(e.what());
  }
}

}  // namespace caig
