#include "core/ranking/ctr_ranker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// log(1 + exp(x)) without overflow.
double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// Negative log posterior: soft cross-entropy of every outcome plus the Gaussian prior.
double objective(const std::vector<double>& s, const std::vector<PairOutcome>& outcomes, double precision) {
  double f = 0;
  for (const auto& o : outcomes) {
    const double d = s[o.i] - s[o.j];
    f += o.weight * (o.p * softplus(-d) + (1 - o.p) * softplus(d));
  }
  for (double v : s) f += 0.5 * precision * v * v;
  return f;
}

// Gradient and Hessian of objective() at s.
void derivatives(const std::vector<double>& s, const std::vector<PairOutcome>& outcomes, double precision,
                 cv::Mat1d& grad, cv::Mat1d& hess) {
  const int n = static_cast<int>(s.size());
  grad = cv::Mat1d::zeros(n, 1);
  hess = cv::Mat1d::eye(n, n) * precision;
  for (int k = 0; k < n; ++k) grad(k) = precision * s[k];
  for (const auto& o : outcomes) {
    const double q = sigmoid(s[o.i] - s[o.j]);
    const double g = o.weight * (q - o.p);
    const double h = o.weight * q * (1 - q);
    grad(o.i) += g;
    grad(o.j) -= g;
    hess(o.i, o.i) += h;
    hess(o.j, o.j) += h;
    hess(o.i, o.j) -= h;
    hess(o.j, o.i) -= h;
  }
}

// x = (L L')^-1 b for each column of b, in place.
void choleskySolve(const cv::Mat1d& l, cv::Mat1d& b) {
  const int n = l.rows;
  for (int c = 0; c < b.cols; ++c) {
    for (int i = 0; i < n; ++i) {
      double v = b(i, c);
      for (int k = 0; k < i; ++k) v -= l(i, k) * b(k, c);
      b(i, c) = v / l(i, i);
    }
    for (int i = n - 1; i >= 0; --i) {
      double v = b(i, c);
      for (int k = i + 1; k < n; ++k) v -= l(k, i) * b(k, c);
      b(i, c) = v / l(i, i);
    }
  }
}

}  // namespace

// Hand-written: OpenCV's DECOMP_CHOLESKY hands n > 64 to a LAPACK path that took 170 ms for
// n = 128 on the development machine; this takes well under a millisecond.
bool choleskyLower(cv::Mat1d& a) {
  const int n = a.rows;
  for (int j = 0; j < n; ++j) {
    double d = a(j, j);
    for (int k = 0; k < j; ++k) d -= a(j, k) * a(j, k);
    if (!(d > 0)) return false;
    a(j, j) = std::sqrt(d);
    for (int i = j + 1; i < n; ++i) {
      double v = a(i, j);
      for (int k = 0; k < j; ++k) v -= a(i, k) * a(j, k);
      a(i, j) = v / a(j, j);
    }
  }
  return true;
}

BradleyTerryFit fitBradleyTerry(int n, const std::vector<PairOutcome>& outcomes, const BradleyTerryOptions& options) {
  if (n < 1) throw RankerError("Bradley-Terry: need at least one creative");
  if (!(options.priorSigma > 0)) throw RankerError("Bradley-Terry: prior sigma must be > 0");
  for (const auto& o : outcomes) {
    if (o.i < 0 || o.i >= n || o.j < 0 || o.j >= n || o.i == o.j) {
      throw RankerError("Bradley-Terry: pair (" + std::to_string(o.i) + ", " + std::to_string(o.j) +
                        ") is not two distinct creatives of " + std::to_string(n));
    }
    if (!(o.p >= 0 && o.p <= 1)) throw RankerError("Bradley-Terry: win probability outside [0, 1]");
    if (!(o.weight >= 0) || !std::isfinite(o.weight)) throw RankerError("Bradley-Terry: negative outcome weight");
  }
  const double precision = 1.0 / (options.priorSigma * options.priorSigma);

  BradleyTerryFit fit;
  std::vector<double> s(n, 0.0);
  cv::Mat1d grad, hess, step;
  double f = objective(s, outcomes, precision);
  for (fit.iterations = 0; fit.iterations < options.maxIterations; ++fit.iterations) {
    derivatives(s, outcomes, precision, grad, hess);
    // The prior makes the Hessian positive definite, so Cholesky always applies.
    if (!choleskyLower(hess)) throw RankerError("Bradley-Terry: Hessian not positive definite");
    step = grad.clone();
    choleskySolve(hess, step);
    double maxStep = 0;
    for (int k = 0; k < n; ++k) maxStep = std::max(maxStep, std::abs(step(k)));
    if (maxStep < options.tolerance) {
      fit.converged = true;
      break;
    }
    // Backtracking: the objective is convex, but a full step can overshoot where outcomes saturate.
    double t = 1.0;
    std::vector<double> next(n);
    for (int tries = 0; tries < 40; ++tries, t *= 0.5) {
      for (int k = 0; k < n; ++k) next[k] = s[k] - t * step(k);
      const double fn = objective(next, outcomes, precision);
      if (fn <= f + 1e-12 * std::abs(f)) {
        f = fn;
        break;
      }
    }
    s = next;
  }

  // Laplace approximation: covariance = H^-1 at the mode. The likelihood only sees differences,
  // so report the covariance of the centred scores, P H^-1 P with P = I - 11'/n: the prior's
  // arbitrary say on the common offset drops out.
  derivatives(s, outcomes, precision, grad, hess);
  if (!choleskyLower(hess)) throw RankerError("Bradley-Terry: Hessian not positive definite");
  cv::Mat1d cov = cv::Mat1d::eye(n, n);
  choleskySolve(hess, cov);
  std::vector<double> rowMean(n, 0.0);
  double allMean = 0;
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) rowMean[a] += cov(a, b) / n;
    allMean += rowMean[a] / n;
  }
  const double mean = std::accumulate(s.begin(), s.end(), 0.0) / n;  // ~0 at the mode already
  fit.score.resize(n);
  fit.stdError.resize(n);
  for (int a = 0; a < n; ++a) {
    fit.score[a] = s[a] - mean;
    fit.stdError[a] = std::sqrt(std::max(0.0, cov(a, a) - 2 * rowMean[a] + allMean));
  }
  return fit;
}

double kendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw RankerError("kendallTau: vectors of different lengths");
  const std::size_t n = a.size();
  if (n < 2) return 1.0;
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double x = a[i] - a[j], y = b[i] - b[j];
      sum += ((x > 0) - (x < 0)) * ((y > 0) - (y < 0));  // +1 concordant, -1 discordant, 0 tie
    }
  }
  return sum / (n * (n - 1) / 2.0);
}

namespace {

void checkCreative(const Creative& c, std::size_t index) {
  const std::string which = "creative " + std::to_string(index);
  if (c.image.empty() || c.image.type() != CV_8UC3) throw RankerError(which + ": image must be 8-bit BGR");
  if (!c.productAlpha.empty() && (c.productAlpha.type() != CV_8UC1 || c.productAlpha.size() != c.image.size())) {
    throw RankerError(which + ": product alpha must be 8-bit single channel of the image's size");
  }
}

// prepare() ... release() around one ranking, also when scoring throws.
class Session {
 public:
  Session(CtrRanker& r, const std::vector<Creative>& c, const RankContext& ctx) : ranker_(r) { r.prepare(c, ctx); }
  ~Session() { ranker_.release(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  CtrRanker& ranker_;
};

}  // namespace

RankingResult rankCreatives(CtrRanker& ranker, const std::vector<Creative>& creatives, const RankContext& ctx,
                            const RankOptions& options) {
  const int n = static_cast<int>(creatives.size());
  if (n < 1) throw RankerError("nothing to rank");
  for (int k = 0; k < n; ++k) checkCreative(creatives[k], k);

  RankingResult r;
  r.pairwise = cv::Mat1d(n, n, 0.5);
  r.observed = cv::Mat1b::zeros(n, n);
  r.orderDisagreement = std::numeric_limits<double>::quiet_NaN();
  std::vector<PairOutcome> outcomes;
  double disagreement = 0;
  int pairsBothWays = 0;

  Session session(ranker, creatives, ctx);
  auto ask = [&](int a, int b) {
    const double p = ranker.winProbability(creatives[a], creatives[b], ctx);
    ++r.comparisons;
    if (!(p >= 0 && p <= 1)) {
      throw RankerError("ranker " + ranker.id() + " returned " + std::to_string(p) + ", not a probability");
    }
    return p;
  };
  auto score = [&](int a, int b) {
    double p = ask(a, b);
    if (options.bothOrders) {
      const double q = 1 - ask(b, a);
      disagreement += std::abs(p - q);
      ++pairsBothWays;
      p = 0.5 * (p + q);
    }
    r.pairwise(a, b) = p;
    r.pairwise(b, a) = 1 - p;
    r.observed(a, b) = r.observed(b, a) = 1;
    outcomes.push_back({a, b, p, 1.0});
  };

  BradleyTerryFit fit;
  if (n <= std::max(options.allPairsUpTo, 1)) {
    r.schedule = "all pairs";
    for (int a = 0; a < n; ++a) {
      for (int b = a + 1; b < n; ++b) score(a, b);
    }
  } else {
    r.schedule = "swiss";
    for (int a = 1; a < n; ++a) score(a, 0);
    const int rounds = options.swissRounds > 0 ? options.swissRounds
                                               : static_cast<int>(std::ceil(std::log2(double(n)))) + 1;
    std::vector<int> order(n);
    for (int round = 0; round < rounds; ++round) {
      fit = fitBradleyTerry(n, outcomes, options.bradleyTerry);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return fit.score[x] > fit.score[y]; });
      for (int k = round % 2; k + 1 < n; k += 2) {
        if (!r.observed(order[k], order[k + 1])) score(order[k], order[k + 1]);
      }
    }
  }
  fit = fitBradleyTerry(n, outcomes, options.bradleyTerry);
  r.score = fit.score;
  r.stdError = fit.stdError;
  if (pairsBothWays > 0) r.orderDisagreement = disagreement / pairsBothWays;

  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      if (a != b && !r.observed(a, b)) r.pairwise(a, b) = sigmoid(r.score[a] - r.score[b]);
    }
  }
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return r.score[x] > r.score[y]; });
  r.rank.assign(n, 0);
  for (int k = 0; k < n; ++k) r.rank[order[k]] = k + 1;
  r.winVsReference.resize(n);
  r.winVsBestOther.resize(n);
  for (int a = 0; a < n; ++a) {
    r.winVsReference[a] = r.pairwise(a, 0);
    const int best = order[0] == a ? (n > 1 ? order[1] : a) : order[0];
    r.winVsBestOther[a] = r.pairwise(a, best);
  }
  return r;
}

// ---- CTR scale ----------------------------------------------------------------------------

std::optional<double> fitCtrScale(const std::vector<double>& logits, const std::vector<double>& logCtrRatios) {
  if (logits.size() != logCtrRatios.size()) throw RankerError("fitCtrScale: one CTR ratio per logit");
  double ll = 0, lr = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (!std::isfinite(logits[i]) || !std::isfinite(logCtrRatios[i])) continue;
    ll += logits[i] * logits[i];
    lr += logits[i] * logCtrRatios[i];
  }
  if (!(ll > 0)) return std::nullopt;
  return std::max(0.0, lr / ll);
}

void writeCtrCalibration(const std::filesystem::path& modelDir, double ctrScale, int pairs, std::int64_t trainingRun) {
  const nlohmann::json j{{"format", "caig-ctr-calibration"},
                         {"version", 1},
                         {"ctrScale", ctrScale},
                         {"pairs", pairs},
                         {"trainingRun", trainingRun}};
  const std::string text = j.dump(2) + "\n";
  io::AtomicFile file(modelDir / kCtrCalibrationFile);
  file.write(text.data(), text.size());
  file.commit();
}

std::optional<double> readCtrCalibration(const std::filesystem::path& modelDir) {
  const std::filesystem::path file = modelDir / kCtrCalibrationFile;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  const nlohmann::json j = io::readJsonFile(file);
  if (!j.is_object() || j.value("format", "") != "caig-ctr-calibration") {
    throw io::FormatError(file.string() + ": not a CTR calibration (format caig-ctr-calibration)");
  }
  const auto scale = j.find("ctrScale");
  if (scale == j.end() || !scale->is_number() || !std::isfinite(scale->get<double>()) || scale->get<double>() < 0) {
    throw io::FormatError(file.string() + ": 'ctrScale' is not a non-negative number");
  }
  return scale->get<double>();
}

}  // namespace caig
