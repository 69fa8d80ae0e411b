#include "core/ranking/compare_math.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace caig {

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

WinEstimate winProbability(double scoreA, double stdErrorA, double scoreB, double stdErrorB, double z) {
  if (!(stdErrorA >= 0) || !(stdErrorB >= 0) || !(z >= 0)) {
    throw std::invalid_argument("winProbability: standard errors and z must be non-negative numbers");
  }
  const double d = scoreA - scoreB;
  const double se = std::sqrt(stdErrorA * stdErrorA + stdErrorB * stdErrorB);
  WinEstimate w;
  w.p = sigmoid(d);
  w.stdError = w.p * (1.0 - w.p) * se;  // d sigmoid / dd = p (1 - p)
  w.low = sigmoid(d - z * se);
  w.high = sigmoid(d + z * se);
  return w;
}

CtrLift ctrLiftFromDifference(double difference, double stdError, double z, double ctrScale) {
  if (!std::isfinite(difference) || !(stdError >= 0) || !(z >= 0) || !(ctrScale >= 0)) {
    throw std::invalid_argument(
        "ctrLift: the difference must be finite, its standard error, z and the CTR scale non-negative");
  }
  CtrLift out;
  out.lift = std::expm1(ctrScale * difference);
  out.low = std::expm1(ctrScale * (difference - z * stdError));
  out.high = std::expm1(ctrScale * (difference + z * stdError));
  if (difference - z * stdError > 0) {
    out.verdict = Verdict::LikelyBetter;
  } else if (difference + z * stdError < 0) {
    out.verdict = Verdict::LikelyWorse;
  }
  return out;
}

CtrLift ctrLift(double scoreA, double stdErrorA, double scoreB, double stdErrorB, double z) {
  if (!(stdErrorA >= 0) || !(stdErrorB >= 0)) {
    throw std::invalid_argument("ctrLift: standard errors must be non-negative numbers");
  }
  return ctrLiftFromDifference(scoreA - scoreB, std::sqrt(stdErrorA * stdErrorA + stdErrorB * stdErrorB), z);
}

const char* verdictText(Verdict verdict) {
  switch (verdict) {
    case Verdict::LikelyBetter: return "likely better";
    case Verdict::LikelyWorse: return "likely worse";
    case Verdict::NoClearDifference: break;
  }
  return "no clear difference";
}

std::string formatLift(double lift) {
  const double percent = 100.0 * lift;
  if (percent > 999.5) return "> +999 %";
  if (percent < -99.5) return "< \u221299 %";  // not "-100 %": no variant is predicted to get no clicks
  const long rounded = std::lround(percent);
  char buf[32];
  if (rounded < 0) {
    std::snprintf(buf, sizeof buf, "\u2212%ld %%", -rounded);  // U+2212 MINUS SIGN
  } else {
    std::snprintf(buf, sizeof buf, "+%ld %%", rounded);
  }
  return buf;
}

std::string formatLiftInterval(const CtrLift& lift) {
  return formatLift(lift.lift) + " (" + formatLift(lift.low) + " to " + formatLift(lift.high) + ")";
}

std::vector<PairToTest> mostInformativePairs(const std::vector<double>& scores, const std::vector<double>& stdErrors,
                                             std::size_t count, double z) {
  if (scores.size() != stdErrors.size()) {
    throw std::invalid_argument("mostInformativePairs: scores and standard errors differ in length");
  }
  return mostInformativePairs(
      scores,
      [&](std::size_t a, std::size_t b) { return winProbability(scores[a], stdErrors[a], scores[b], stdErrors[b], z); },
      count);
}

std::vector<PairToTest> mostInformativePairs(const std::vector<double>& scores,
                                             const std::function<WinEstimate(std::size_t, std::size_t)>& estimate,
                                             std::size_t count) {
  std::vector<PairToTest> pairs;
  if (scores.size() < 2 || count == 0) return pairs;
  const double best = *std::max_element(scores.begin(), scores.end());
  for (std::size_t a = 0; a < scores.size(); ++a) {
    for (std::size_t b = a + 1; b < scores.size(); ++b) {
      PairToTest t;
      t.a = a;
      t.b = b;
      t.estimate = estimate(a, b);
      t.priority = (t.estimate.high - t.estimate.low) * std::exp((scores[a] + scores[b]) / 2.0 - best);
      pairs.push_back(t);
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const PairToTest& x, const PairToTest& y) { return x.priority > y.priority; });
  if (pairs.size() > count) pairs.resize(count);
  return pairs;
}

}  // namespace caig
