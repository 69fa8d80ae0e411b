#include "core/ranking/compare_math.h"

#include <algorithm>
#include <cmath>
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

std::vector<PairToTest> mostInformativePairs(const std::vector<double>& scores, const std::vector<double>& stdErrors,
                                             std::size_t count, double z) {
  if (scores.size() != stdErrors.size()) {
    throw std::invalid_argument("mostInformativePairs: scores and standard errors differ in length");
  }
  std::vector<PairToTest> pairs;
  if (scores.size() < 2 || count == 0) return pairs;
  const double best = *std::max_element(scores.begin(), scores.end());
  for (std::size_t a = 0; a < scores.size(); ++a) {
    for (std::size_t b = a + 1; b < scores.size(); ++b) {
      PairToTest t;
      t.a = a;
      t.b = b;
      t.estimate = winProbability(scores[a], stdErrors[a], scores[b], stdErrors[b], z);
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
