#pragma once
// Comparing two ranked variants: P(A beats B) with an interval, from their Bradley-Terry scores
// and standard errors (core/ranking/ctr_ranker.h), and which pairs to test next. Pure math, Qt-free.

#include <cstddef>
#include <functional>
#include <string>
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

// What a marketer asks of a pair: how much more (or less) would A be clicked than B, and is that
// difference real? Bradley-Terry models P(A beats B) = CTR_A / (CTR_A + CTR_B) when "beats" is
// "gets the click", so the score difference d = sA - sB is the log CTR ratio and the predicted
// lift is exp(d) - 1. That reading is only as good as the ranker's calibration: exact for click
// shares, approximate for a ranker trained on which creative had the higher CTR, and a design
// rule, not a CTR, for the untrained built-in prior (the studio says so beside the numbers).
enum class Verdict { LikelyBetter, NoClearDifference, LikelyWorse };

struct CtrLift {
  double lift = 0;                               // predicted relative CTR change of A over B: 0.12 = +12 %
  double low = 0, high = 0;                      // exp(d -/+ z se(d)) - 1, the interval on d mapped to a lift
  Verdict verdict = Verdict::NoClearDifference;  // better / worse when the interval excludes 0
};

// se(d) as in winProbability (independent scores). Throws std::invalid_argument like it.
CtrLift ctrLift(double scoreA, double stdErrorA, double scoreB, double stdErrorB, double z = 1.96);
// The same from the logit difference and its standard error. `ctrScale`: log CTR ratio per unit
// of logit, where a ranker has fitted it to clicks (1 = the Bradley-Terry reading above): the
// lift is exp(ctrScale d) - 1; the verdict does not depend on it.
CtrLift ctrLiftFromDifference(double difference, double stdError, double z = 1.96, double ctrScale = 1.0);

// "likely better", "no clear difference", "likely worse".
const char* verdictText(Verdict verdict);
// "+12 %" with a real minus sign for drops; lifts beyond +999 % print as "> +999 %".
std::string formatLift(double lift);
// "+12 % (−3 % to +30 %)".
std::string formatLiftInterval(const CtrLift& lift);

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
// The same with each pair's estimate from `estimate(a, b)` (e.g. the ranker's own uncertainty,
// core/ranking/variant_ranking.h liftBetween) instead of independent score errors.
std::vector<PairToTest> mostInformativePairs(const std::vector<double>& scores,
                                             const std::function<WinEstimate(std::size_t, std::size_t)>& estimate,
                                             std::size_t count);

}  // namespace caig
