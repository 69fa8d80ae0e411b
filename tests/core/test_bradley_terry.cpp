// Bradley-Terry fitting on synthetic outcomes with known strengths, and rankCreatives' pair
// schedules with a fake ranker whose hidden strengths are known.

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "core/ranking/ctr_ranker.h"

namespace caig {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<double> centredLinspace(int n, double lo, double hi) {
  std::vector<double> s(n);
  for (int k = 0; k < n; ++k) s[k] = lo + (hi - lo) * k / (n - 1);
  const double mean = std::accumulate(s.begin(), s.end(), 0.0) / n;
  for (double& v : s) v -= mean;
  return s;
}

std::vector<PairOutcome> allPairs(const std::vector<double>& s, double weight) {
  std::vector<PairOutcome> out;
  for (int i = 0; i < int(s.size()); ++i) {
    for (int j = i + 1; j < int(s.size()); ++j) out.push_back({i, j, sigmoid(s[i] - s[j]), weight});
  }
  return out;
}

double maxAbsError(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0;
  for (std::size_t k = 0; k < a.size(); ++k) e = std::max(e, std::abs(a[k] - b[k]));
  return e;
}

TEST(BradleyTerry, RecoversKnownStrengthsFromSoftOutcomes) {
  const auto truth = centredLinspace(8, -2, 2);
  const auto fit = fitBradleyTerry(8, allPairs(truth, 1.0));
  ASSERT_TRUE(fit.converged);
  EXPECT_NEAR(std::accumulate(fit.score.begin(), fit.score.end(), 0.0), 0.0, 1e-9);
  const double err1 = maxAbsError(fit.score, truth);
  // The prior shrinks a little with one game per pair, and less with more.
  const auto fit20 = fitBradleyTerry(8, allPairs(truth, 20.0));
  const double err20 = maxAbsError(fit20.score, truth);
  std::printf("[ BT ] N=8 exact soft outcomes: max |score - truth| %.4f (1 game/pair), %.5f (20 games/pair)\n",
              err1, err20);
  EXPECT_LT(err1, 0.25);  // ~9% shrinkage toward 0 at sigma 4 with one game per pair
  EXPECT_LT(err20, 0.02);
  // Without the prior's pull, exact soft outcomes give the strengths back to solver precision.
  BradleyTerryOptions flat;
  flat.priorSigma = 1e6;
  EXPECT_LT(maxAbsError(fitBradleyTerry(8, allPairs(truth, 1.0), flat).score, truth), 1e-6);
  EXPECT_LT(err20, err1);
  for (int k = 1; k < 8; ++k) EXPECT_GT(fit.score[k], fit.score[k - 1]);
}

TEST(BradleyTerry, RecoversStrengthsFromSampledGamesWithinStandardErrors) {
  const int n = 10, games = 60;
  const auto truth = centredLinspace(n, -1.5, 1.5);
  std::mt19937 rng(7);
  std::vector<PairOutcome> outcomes;
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      std::bernoulli_distribution win(sigmoid(truth[i] - truth[j]));
      int wins = 0;
      for (int g = 0; g < games; ++g) wins += win(rng);
      outcomes.push_back({i, j, double(wins) / games, double(games)});
    }
  }
  const auto fit = fitBradleyTerry(n, outcomes);
  double worstZ = 0;
  for (int k = 0; k < n; ++k) worstZ = std::max(worstZ, std::abs(fit.score[k] - truth[k]) / fit.stdError[k]);
  std::printf("[ BT ] N=%d, %d sampled games/pair: max |error| %.3f, std error %.3f, worst z %.2f\n", n, games,
              maxAbsError(fit.score, truth), fit.stdError[0], worstZ);
  EXPECT_LT(worstZ, 3.5);
  EXPECT_LT(maxAbsError(fit.score, truth), 0.4);
}

TEST(BradleyTerry, StandardErrorsShrinkWithMoreComparisons) {
  const auto truth = centredLinspace(6, -1, 1);
  const auto few = fitBradleyTerry(6, allPairs(truth, 1.0));
  const auto many = fitBradleyTerry(6, allPairs(truth, 16.0));
  // A ring (each creative meets two others) knows less than all pairs.
  std::vector<PairOutcome> ring;
  for (int i = 0; i < 6; ++i) ring.push_back({i, (i + 1) % 6, sigmoid(truth[i] - truth[(i + 1) % 6]), 1.0});
  const auto sparse = fitBradleyTerry(6, ring);
  for (int k = 0; k < 6; ++k) {
    EXPECT_LT(many.stdError[k], few.stdError[k] / 3.0);  // ~1/4 for 16x the data
    EXPECT_GT(sparse.stdError[k], few.stdError[k]);
  }
  std::printf("[ BT ] std error of creative 0: ring %.3f, all pairs %.3f, all pairs x16 %.3f\n",
              sparse.stdError[0], few.stdError[0], many.stdError[0]);
}

TEST(BradleyTerry, StandardErrorIsOfTheCentredScores) {
  // Two creatives, 100 games at p = 0.5: H = [[h + l, -h], [-h, h + l]], h = 25, l = 1/16. The
  // centred score is (s0 - s1)/2 with variance 1 / (2 (2h + l)); the raw H^-1 diagonal would be
  // dominated by the prior's 16 on the common offset.
  const auto fit = fitBradleyTerry(2, {{0, 1, 0.5, 100.0}});
  const double l = 1.0 / (kBradleyTerryPriorSigma * kBradleyTerryPriorSigma);
  EXPECT_NEAR(fit.stdError[0], std::sqrt(1.0 / (2 * (50 + l))), 1e-9);
  EXPECT_NEAR(fit.stdError[1], fit.stdError[0], 1e-12);
  EXPECT_NEAR(fit.score[0], 0.0, 1e-12);
}

TEST(BradleyTerry, PriorKeepsAPerfectWinnerFinite) {
  std::vector<PairOutcome> outcomes;
  for (int j = 1; j < 5; ++j) outcomes.push_back({0, j, 1.0, 1.0});  // creative 0 always wins
  for (int i = 1; i < 5; ++i) {
    for (int j = i + 1; j < 5; ++j) outcomes.push_back({i, j, 0.5, 1.0});
  }
  const auto fit = fitBradleyTerry(5, outcomes);
  EXPECT_TRUE(fit.converged);
  ASSERT_TRUE(std::isfinite(fit.score[0]));
  EXPECT_GT(fit.score[0], 2.0);
  EXPECT_LT(fit.score[0], 20.0);
  EXPECT_TRUE(std::isfinite(fit.stdError[0]));
  for (int k = 1; k < 5; ++k) EXPECT_NEAR(fit.score[k], fit.score[1], 1e-9);
  std::printf("[ BT ] perfect winner: score %.2f +- %.2f\n", fit.score[0], fit.stdError[0]);
  // Without comparisons at all, the prior alone: every score 0.
  const auto none = fitBradleyTerry(3, {});
  for (double s : none.score) EXPECT_EQ(s, 0.0);
}

TEST(BradleyTerry, RejectsMalformedOutcomes) {
  EXPECT_THROW(fitBradleyTerry(3, {{0, 1, 1.5, 1.0}}), RankerError);
  EXPECT_THROW(fitBradleyTerry(3, {{0, 1, std::nan(""), 1.0}}), RankerError);
  EXPECT_THROW(fitBradleyTerry(3, {{1, 1, 0.5, 1.0}}), RankerError);
  EXPECT_THROW(fitBradleyTerry(3, {{0, 3, 0.5, 1.0}}), RankerError);
  EXPECT_THROW(fitBradleyTerry(0, {}), RankerError);
}

TEST(BradleyTerry, KendallTau) {
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_DOUBLE_EQ(kendallTau({1, 2, 3}, {1, 3, 2}), 1.0 / 3.0);
}

// ---- rankCreatives ----------------------------------------------------------------------

// Creative k is a 2x2 image whose first pixel stores k; its hidden strength is truth[k]. The
// answers carry a deterministic per-pair noise and an optional bias toward the left side.
class FakeRanker : public CtrRanker {
 public:
  FakeRanker(std::vector<double> truth, double noise, double leftBias)
      : truth_(std::move(truth)), noise_(noise), bias_(leftBias) {}
  std::string id() const override { return "fake"; }
  double winProbability(const Creative& l, const Creative& r, const RankContext&) override {
    ++calls;
    if (!prepared) throw std::logic_error("not prepared");
    const int a = index(l), b = index(r);
    const int lo = std::min(a, b), hi = std::max(a, b);
    std::mt19937 rng(unsigned(lo * 1000 + hi));
    const double e = std::normal_distribution<double>(0, noise_)(rng) * (a < b ? 1 : -1);
    return sigmoid(truth_[a] - truth_[b] + e + bias_);
  }
  void prepare(const std::vector<Creative>&, const RankContext&) override { prepared = true; }
  void release() override { prepared = false; }
  static int index(const Creative& c) { return c.image.at<cv::Vec3b>(0, 0)[0] + 256 * c.image.at<cv::Vec3b>(0, 0)[1]; }
  int calls = 0;
  bool prepared = false;

 private:
  std::vector<double> truth_;
  double noise_, bias_;
};

std::vector<Creative> indexCreatives(int n) {
  std::vector<Creative> out(n);
  for (int k = 0; k < n; ++k) out[k].image = cv::Mat(2, 2, CV_8UC3, cv::Scalar(k % 256, k / 256, 0));
  return out;
}

TEST(RankCreatives, AllPairsFindsTheOrderAndTheReferenceOdds) {
  const std::vector<double> truth = {0.0, 1.2, -0.8, 0.4, 2.0, -1.5};
  FakeRanker ranker(truth, 0.0, 0.0);
  const auto r = rankCreatives(ranker, indexCreatives(6), {"mug", "kitchen"});
  EXPECT_EQ(r.schedule, "all pairs");
  EXPECT_EQ(r.comparisons, 15);
  EXPECT_FALSE(ranker.prepared);  // released
  EXPECT_EQ(r.rank, (std::vector<int>{4, 2, 5, 3, 1, 6}));
  EXPECT_DOUBLE_EQ(r.winVsReference[0], 0.5);
  EXPECT_NEAR(r.winVsReference[4], sigmoid(2.0), 1e-12);  // observed, not fitted
  EXPECT_NEAR(r.winVsBestOther[1], sigmoid(1.2 - 2.0), 1e-12);
  EXPECT_NEAR(r.winVsBestOther[4], sigmoid(2.0 - 1.2), 1e-12);  // the best against the runner-up
  EXPECT_TRUE(std::isnan(r.orderDisagreement));
  EXPECT_NEAR(std::accumulate(r.score.begin(), r.score.end(), 0.0), 0.0, 1e-9);
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) EXPECT_NEAR(r.pairwise(i, j) + r.pairwise(j, i), 1.0, 1e-12);
  }
}

TEST(RankCreatives, BothOrdersCancelsAPositionBiasAndMeasuresIt) {
  const std::vector<double> truth = {0.0, 0.3, -0.3, 0.6};
  FakeRanker biased(truth, 0.0, 0.8);
  RankOptions both;
  both.bothOrders = true;
  const auto r = rankCreatives(biased, indexCreatives(4), {}, both);
  EXPECT_EQ(r.comparisons, 12);
  EXPECT_GT(r.orderDisagreement, 0.2);  // |sigmoid(d + 0.8) - sigmoid(d - 0.8)| ~ 0.38
  EXPECT_EQ(r.rank, (std::vector<int>{3, 2, 4, 1}));
  // One order only: the left side always gets the bias, creative 0 (always left) is inflated.
  FakeRanker biasedOnce(truth, 0.0, 0.8);
  const auto once = rankCreatives(biasedOnce, indexCreatives(4), {});
  EXPECT_GT(once.score[0] - once.score[3], r.score[0] - r.score[3]);
  std::printf("[ RANK ] position bias 0.8 logit: order disagreement %.3f\n", r.orderDisagreement);
}

TEST(RankCreatives, SwissScheduleForLargeNUsesFewComparisonsAndKeepsTheOrder) {
  for (int n : {32, 128}) {
    std::vector<double> truth(n);
    std::mt19937 rng(n);
    std::normal_distribution<double> gauss(0, 1.5);
    for (double& t : truth) t = gauss(rng);
    FakeRanker ranker(truth, 0.5, 0.0);  // an imperfect ranker: logit noise 0.5 per pair
    const auto r = rankCreatives(ranker, indexCreatives(n), {});
    const double tau = kendallTau(r.score, truth);
    std::printf("[ RANK ] N=%d swiss: %d comparisons (all pairs %d), Kendall tau %.3f\n", n, r.comparisons,
                n * (n - 1) / 2, tau);
    EXPECT_EQ(r.schedule, "swiss");
    EXPECT_EQ(r.comparisons, ranker.calls);
    EXPECT_LT(r.comparisons, n * (n - 1) / 4);
    EXPECT_LE(r.comparisons, int(n * (std::log2(n) + 3) / 2) + 1);
    EXPECT_GT(tau, 0.8);
    // A random order would give tau ~ 0: make sure the ranking is not trivially good.
    const auto best = std::max_element(truth.begin(), truth.end()) - truth.begin();
    EXPECT_LE(r.rank[best], 3);
  }
}

TEST(RankCreatives, RejectsBadAnswersAndStillReleases) {
  class Broken : public FakeRanker {
   public:
    Broken() : FakeRanker({0, 0, 0}, 0, 0) {}
    double winProbability(const Creative&, const Creative&, const RankContext&) override { return std::nan(""); }
  } broken;
  EXPECT_THROW(rankCreatives(broken, indexCreatives(3), {}), RankerError);
  EXPECT_FALSE(broken.prepared);
  FakeRanker ok({0.0}, 0, 0);
  std::vector<Creative> bad = indexCreatives(2);
  bad[1].productAlpha = cv::Mat(3, 3, CV_8UC1);
  EXPECT_THROW(rankCreatives(ok, bad, {}), RankerError);
  const auto single = rankCreatives(ok, indexCreatives(1), {});
  EXPECT_EQ(single.rank, std::vector<int>{1});
  EXPECT_EQ(single.comparisons, 0);
}

}  // namespace
}  // namespace caig
