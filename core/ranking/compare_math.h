#pragma once
// Comparing two ranked variants: P(A beats B) with an interval, from their Bradley-Terry scores
// and standard errors (core/ranking/ctr_ranker.h), and which pairs to test next. Pure math, Qt-free.

#include <cstddef>
#include <vector>

namespace caig {

struct WinEstimate {
  double p = 0.5;         // P(A beats B) = sigmoid(sA - sB)
  double stdError = 0;    // delta method: p (1 - p) * se(sA - sB)
  double low = 0, high = 1;  // sigmoid(d -/+ z se(d)): the interval on the score difference,
                             // mapped through the sigmoid, so it stays inside [0, 1]
};

// The stored rankings keep per-variant standard errors but not their covariance, so the
// difference is treated as independent: se(d) = sqrt(seA^2 + seB^2). The BT fit is centred, which
// makes the scores slightly negatively correlated; ignoring that overstates se(d) a little
// (a conservative interval). `z` = 1.96 gives a 95 % interval. Throws std::invalid_argument
// for a negative standard error or z.
WinEstimate winProbability(double scoreA, double stdErrorA, double scoreB, double stdErrorB, double z = 1.96);

struct PairToTest {
  std::size_t a = 0, b = 0;  // indices into the score vectors, a < b
  double priority = 0;
  WinEstimate estimate;
};

// The most informative pairs to put in front of real users next: those whose outcome is the
// least certain AND that matter, i.e. involve strong variants (a duel among the weakest does not
// change what ships). priority(a, b) = (high - low) * exp((sA + sB) / 2 - max s): the width of
// the P interval times the pair's strength relative to the best variant (1 for the best pair,
// smaller for weaker ones, on the BT odds scale). Returns up to `count` pairs, highest first.
std::vector<PairToTest> mostInformativePairs(const std::vector<double>& scores, const std::vector<double>& stdErrors,
                                             std::size_t count, double z = 1.96);

}  // namespace caig
