// P(A beats B) with its interval from Bradley-Terry scores, and the "test next" pair choice.

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/ranking/compare_math.h"
#include "core/ranking/ctr_ranker.h"

namespace caig {
namespace {

TEST(CompareMath, EqualScoresGiveOneHalfWithASymmetricInterval) {
  const WinEstimate w = winProbability(0.3, 0.2, 0.3, 0.2);
  EXPECT_DOUBLE_EQ(w.p, 0.5);
  EXPECT_NEAR(w.low + w.high, 1.0, 1e-12);
  const double se = std::sqrt(0.08);
  EXPECT_NEAR(w.high, 1.0 / (1.0 + std::exp(-1.96 * se)), 1e-12);
  EXPECT_NEAR(w.stdError, 0.25 * se, 1e-12);
}

TEST(CompareMath, SwappingTheSidesMirrorsTheEstimate) {
  const WinEstimate ab = winProbability(1.2, 0.3, -0.4, 0.5);
  const WinEstimate ba = winProbability(-0.4, 0.5, 1.2, 0.3);
  EXPECT_NEAR(ab.p + ba.p, 1.0, 1e-12);
  EXPECT_NEAR(ab.low + ba.high, 1.0, 1e-12);
  EXPECT_NEAR(ab.stdError, ba.stdError, 1e-12);
  EXPECT_GT(ab.p, 0.8);
  EXPECT_LT(ab.low, ab.p);
  EXPECT_GT(ab.high, ab.p);
}

TEST(CompareMath, NoUncertaintyMeansAPointInterval) {
  const WinEstimate w = winProbability(2.0, 0.0, 0.0, 0.0);
  EXPECT_DOUBLE_EQ(w.low, w.p);
  EXPECT_DOUBLE_EQ(w.high, w.p);
  EXPECT_DOUBLE_EQ(w.stdError, 0.0);
  EXPECT_THROW(winProbability(0, -1, 0, 0), std::invalid_argument);
  EXPECT_THROW(winProbability(0, 0, 0, 0, -1), std::invalid_argument);
}

// The delta-method standard error agrees with a Monte Carlo of sigmoid(d), d ~ N(mean, se^2),
// for a small se (where the linearisation holds).
TEST(CompareMath, DeltaMethodMatchesMonteCarlo) {
  const double sa = 0.7, sea = 0.08, sb = 0.1, seb = 0.06;
  const WinEstimate w = winProbability(sa, sea, sb, seb);
  std::mt19937 rng(5);
  std::normal_distribution<double> a(sa, sea), b(sb, seb);
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double p = 1.0 / (1.0 + std::exp(-(a(rng) - b(rng))));
    sum += p;
    sum2 += p * p;
  }
  const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  EXPECT_NEAR(mean, w.p, 2e-3);
  EXPECT_NEAR(sd, w.stdError, 0.03 * w.stdError);
}

// Fitted on real pair outcomes, the interval covers the true P for well-separated and close pairs.
TEST(CompareMath, IntervalFromAFittedBradleyTerryCoversTheTruth) {
  const std::vector<double> truth = {0.8, 0.3, -0.2, -0.9};
  std::mt19937 rng(11);
  std::vector<PairOutcome> outcomes;
  for (int i = 0; i < 4; ++i) {
    for (int j = i + 1; j < 4; ++j) {
      std::bernoulli_distribution win(1.0 / (1.0 + std::exp(-(truth[i] - truth[j]))));
      for (int k = 0; k < 400; ++k) outcomes.push_back({i, j, win(rng) ? 1.0 : 0.0, 1.0});
    }
  }
  const BradleyTerryFit fit = fitBradleyTerry(4, outcomes);
  ASSERT_TRUE(fit.converged);
  for (int i = 0; i < 4; ++i) {
    for (int j = i + 1; j < 4; ++j) {
      const WinEstimate w = winProbability(fit.score[i], fit.stdError[i], fit.score[j], fit.stdError[j]);
      const double p = 1.0 / (1.0 + std::exp(-(truth[i] - truth[j])));
      EXPECT_LE(w.low, p) << i << " vs " << j;
      EXPECT_GE(w.high, p) << i << " vs " << j;
    }
  }
}

// Bradley-Terry strengths proportional to CTR: a 1.2 % against a 1.0 % CTR is a +20 % lift.
TEST(CompareMath, LiftReadsTheScoreDifferenceAsACtrRatio) {
  const CtrLift l = ctrLift(std::log(0.012), 0.0, std::log(0.010), 0.0);
  EXPECT_NEAR(l.lift, 0.2, 1e-12);
  EXPECT_DOUBLE_EQ(l.low, l.lift);
  EXPECT_DOUBLE_EQ(l.high, l.lift);
  EXPECT_EQ(l.verdict, Verdict::LikelyBetter);
  // The lift and P(A beats B) are one number seen two ways: p = (1 + lift) / (2 + lift).
  const WinEstimate w = winProbability(std::log(0.012), 0.0, std::log(0.010), 0.0);
  EXPECT_NEAR(w.p, (1 + l.lift) / (2 + l.lift), 1e-12);
  // Swapping the sides inverts the ratio.
  const CtrLift back = ctrLift(std::log(0.010), 0.0, std::log(0.012), 0.0);
  EXPECT_NEAR((1 + back.lift) * (1 + l.lift), 1.0, 1e-12);
  EXPECT_EQ(back.verdict, Verdict::LikelyWorse);
}

TEST(CompareMath, VerdictFollowsTheIntervalNotThePointEstimate) {
  // d = 0.3 with se 0.2: the 95 % interval 0.3 -/+ 0.39 contains 0.
  const CtrLift unsure = ctrLiftFromDifference(0.3, 0.2);
  EXPECT_EQ(unsure.verdict, Verdict::NoClearDifference);
  EXPECT_GT(unsure.lift, 0.3);
  EXPECT_LT(unsure.low, 0.0);
  EXPECT_GT(unsure.high, unsure.lift);
  EXPECT_NEAR(unsure.high, std::expm1(0.3 + 1.96 * 0.2), 1e-12);
  EXPECT_EQ(ctrLiftFromDifference(0.3, 0.1).verdict, Verdict::LikelyBetter);
  EXPECT_EQ(ctrLiftFromDifference(-0.3, 0.1).verdict, Verdict::LikelyWorse);
  // ctrLift combines two standard errors as winProbability does.
  const CtrLift pair = ctrLift(0.5, 0.3, 0.2, 0.4);
  EXPECT_NEAR(pair.high, std::expm1(0.3 + 1.96 * 0.5), 1e-12);
  // A CTR scale fitted to clicks shrinks (or stretches) the lift, never the verdict.
  const CtrLift scaled = ctrLiftFromDifference(0.3, 0.1, 1.96, 0.25);
  EXPECT_NEAR(scaled.lift, std::expm1(0.075), 1e-12);
  EXPECT_NEAR(scaled.low, std::expm1(0.25 * (0.3 - 0.196)), 1e-12);
  EXPECT_EQ(scaled.verdict, Verdict::LikelyBetter);
  EXPECT_THROW(ctrLiftFromDifference(0.3, 0.1, 1.96, -1), std::invalid_argument);
  EXPECT_THROW(ctrLiftFromDifference(0, -1), std::invalid_argument);
  EXPECT_THROW(ctrLiftFromDifference(NAN, 0.1), std::invalid_argument);
  EXPECT_THROW(ctrLift(0, -1, 0, 0), std::invalid_argument);
}

TEST(CompareMath, LiftTextForMarketers) {
  EXPECT_EQ(formatLift(0.124), "+12 %");
  EXPECT_EQ(formatLift(0.0), "+0 %");
  EXPECT_EQ(formatLift(-0.004), "+0 %");
  EXPECT_EQ(formatLift(-0.031), "\u22123 %");
  EXPECT_EQ(formatLift(-0.994), "\u221299 %");
  EXPECT_EQ(formatLift(-0.999), "< \u221299 %");
  EXPECT_EQ(formatLift(25.0), "> +999 %");
  EXPECT_EQ(formatLiftInterval(ctrLiftFromDifference(0.0, 0.0)), "+0 % (+0 % to +0 %)");
  EXPECT_STREQ(verdictText(Verdict::LikelyBetter), "likely better");
  EXPECT_STREQ(verdictText(Verdict::NoClearDifference), "no clear difference");
  EXPECT_STREQ(verdictText(Verdict::LikelyWorse), "likely worse");
}

TEST(CompareMath, TestNextPrefersUncertainPairsOfStrongVariants) {
  // 0 and 1 are strong and close with wide errors; 2 and 3 are weak but just as uncertain;
  // 0 and 4 are certain.
  const std::vector<double> scores = {1.0, 0.9, -1.0, -1.1, -0.2};
  const std::vector<double> errors = {0.6, 0.6, 0.6, 0.6, 0.01};
  const auto pairs = mostInformativePairs(scores, errors, 3);
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0].a, 0u);
  EXPECT_EQ(pairs[0].b, 1u);
  EXPECT_GE(pairs[0].priority, pairs[1].priority);
  EXPECT_GE(pairs[1].priority, pairs[2].priority);
  for (const auto& p : pairs) EXPECT_FALSE(p.a == 2 && p.b == 3);  // weak duel ranks below
  EXPECT_EQ(mostInformativePairs(scores, errors, 100).size(), 10u);
  EXPECT_TRUE(mostInformativePairs({1.0}, {0.1}, 3).empty());
  EXPECT_THROW(mostInformativePairs({1.0, 2.0}, {0.1}, 3), std::invalid_argument);
  // With estimates given per pair (the ranker's own uncertainty), a pair it is sure of drops.
  const auto given = mostInformativePairs(
      scores,
      [&](std::size_t a, std::size_t b) {
        WinEstimate w = winProbability(scores[a], errors[a], scores[b], errors[b]);
        if (a == 0 && b == 1) w.low = w.high = w.p;
        return w;
      },
      3);
  ASSERT_EQ(given.size(), 3u);
  for (const auto& p : given) EXPECT_FALSE(p.a == 0 && p.b == 1);
}

}  // namespace
}  // namespace caig
