#pragma once
// Ranking ad creatives by predicted click-through rate. A CtrRanker answers one question, "which
// of these two creatives gets the higher CTR?", as a probability (CAIG's reward model is
// pairwise). rankCreatives() schedules the pairs, asks the ranker, and aggregates the answers
// with a Bradley-Terry model into scores, standard errors and win probabilities.
// Qt-free and Torch-free: the built-in ranker and the neural reward model both implement it.

#include <cstdint>
#include <filesystem>
#include <opencv2/core.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

class RankerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Creative {
  cv::Mat image;         // CV_8UC3 BGR ad
  cv::Mat productAlpha;  // CV_8UC1 same size, 255 = product; may be empty
};

struct RankContext {
  std::string title;
  std::string category;
};

class CtrRanker {
 public:
  virtual ~CtrRanker() = default;
  // Names the model and its weights, e.g. "builtin@1"; stored next to each ranking.
  virtual std::string id() const = 0;
  // P(left gets the higher CTR than right), in [0, 1].
  virtual double winProbability(const Creative& left, const Creative& right, const RankContext& ctx) = 0;
  // One line for the user about how far to trust the numbers.
  virtual std::string status() const { return {}; }
  // How many log CTR ratios one unit of logit P(a beats b) is worth, where the ranker has fitted
  // that to clicks (the lift is then exp(scale * logit) - 1); empty: unknown (read as 1).
  virtual std::optional<double> ctrScale() const { return std::nullopt; }
  // The ranker's own uncertainty, where it knows it: coordinates of a creative in which the
  // standard error of logit P(a beats b) is the distance |basis(a) - basis(b)| (for a linear
  // model with weight covariance L L^T: L^T z). Empty when unknown; the readout then uses the
  // Bradley-Terry aggregation's standard errors.
  virtual std::vector<double> uncertaintyBasis(const Creative& c, const RankContext& ctx) {
    (void)c;
    (void)ctx;
    return {};
  }
  // Bracket one ranking: a ranker may precompute per-creative work (features, image
  // embeddings) for `creatives` and drop it in release(). winProbability must also work
  // without them. rankCreatives calls both, release() even when scoring throws.
  virtual void prepare(const std::vector<Creative>& creatives, const RankContext& ctx) {
    (void)creatives;
    (void)ctx;
  }
  virtual void release() {}
};

// ---- Bradley-Terry ------------------------------------------------------------------------

// One scored pair: creative i beat creative j with (soft) probability p, counted `weight` times.
struct PairOutcome {
  int i = 0;
  int j = 0;
  double p = 0.5;
  double weight = 1.0;
};

// Prior on each log-strength: N(0, sigma^2) with sigma = 4. A gap of 7 (odds of 1000:1) lies
// within two sigma, so real gaps are barely shrunk, while a creative that wins every pair with
// p = 1 (perfect separation) still gets a finite score.
inline constexpr double kBradleyTerryPriorSigma = 4.0;

struct BradleyTerryOptions {
  double priorSigma = kBradleyTerryPriorSigma;
  int maxIterations = 100;
  double tolerance = 1e-10;  // on the largest Newton step
};

struct BradleyTerryFit {
  std::vector<double> score;     // log-strengths, sum to 0
  std::vector<double> stdError;  // Laplace approximation, of the centred scores
  int iterations = 0;
  bool converged = false;
};

// Maximum a posteriori fit by Newton's method on the soft outcomes (p counts as p wins and
// 1 - p losses). Throws RankerError for indices out of range or p outside [0, 1].
BradleyTerryFit fitBradleyTerry(int n, const std::vector<PairOutcome>& outcomes,
                                const BradleyTerryOptions& options = {});

// In-place Cholesky factor of a symmetric positive definite matrix: its lower triangle becomes L
// with L L^T = a (the upper triangle is left as it was). False when it is not positive definite.
bool choleskyLower(cv::Mat1d& a);

// ---- CTR scale ----------------------------------------------------------------------------

// How many log CTR ratios one logit of P(a beats b) is worth on click pairs: the least-squares
// slope through the origin of log(CTR_a / CTR_b) on the ranker's logit for (a, b), floored at 0
// (a ranker that orders pairs backwards gets no lift, not a negative one). Pairs with a
// non-finite number are skipped; empty when no logit is non-zero. Throws RankerError for lists
// of different lengths.
std::optional<double> fitCtrScale(const std::vector<double>& logits, const std::vector<double>& logCtrRatios);

// A reward-model folder's CTR scale, written by the training run that made the folder:
// <folder>/ctr_calibration.json {"format": "caig-ctr-calibration", "version": 1, "ctrScale",
// "pairs", "trainingRun"}. Atomic; throws io::FileError.
inline constexpr const char* kCtrCalibrationFile = "ctr_calibration.json";
void writeCtrCalibration(const std::filesystem::path& modelDir, double ctrScale, int pairs, std::int64_t trainingRun);
// Empty when the folder has no such file; throws io::FormatError naming it when it is malformed.
std::optional<double> readCtrCalibration(const std::filesystem::path& modelDir);

// Kendall's tau-a between two score vectors (1 = same order, -1 = reversed); ties count 0.
double kendallTau(const std::vector<double>& a, const std::vector<double>& b);

// ---- Ranking ------------------------------------------------------------------------------

struct RankOptions {
  // Up to this many creatives every pair is scored; above it, the Swiss schedule (see
  // rankCreatives) uses O(N log N) comparisons.
  int allPairsUpTo = 12;
  // Score each pair in both orders and average P(a|b) with 1 - P(b|a): for position-biased
  // rankers (the side-by-side reward model). Doubles the comparisons.
  bool bothOrders = false;
  // Swiss rounds after the reference round; 0 = ceil(log2 N) + 1.
  int swissRounds = 0;
  BradleyTerryOptions bradleyTerry;
};

struct RankingResult {
  std::vector<double> score;            // BT log-strength, mean 0
  std::vector<double> stdError;         // of score
  std::vector<int> rank;                // 1 = best
  std::vector<double> winVsReference;   // P(beats creative 0, the reference/original); 0.5 for itself
  std::vector<double> winVsBestOther;   // P(beats the best-ranked other creative)
  cv::Mat1d pairwise;                   // N x N P(i beats j): observed where scored, fitted elsewhere
  cv::Mat1b observed;                   // N x N, 1 where pairwise(i, j) was scored
  int comparisons = 0;                  // calls to winProbability
  double orderDisagreement = 0;         // mean |P(a|b) - (1 - P(b|a))|; NaN unless bothOrders
  std::string schedule;                 // "all pairs" or "swiss"
};

// Ranks `creatives` (creative 0 is the reference, e.g. the original ad).
// Schedule for N > allPairsUpTo ("swiss"): round 0 compares every creative with the reference
// (N - 1 comparisons, connects the comparison graph and gives each a first score); then each
// Swiss round refits Bradley-Terry, sorts by score and compares neighbours (1-2, 3-4, ... on
// even rounds, 2-3, 4-5, ... on odd ones, skipping pairs already scored), N/2 comparisons per
// round: about N (log2 N + 3) / 2 comparisons in all, concentrated where the order is unsure.
RankingResult rankCreatives(CtrRanker& ranker, const std::vector<Creative>& creatives, const RankContext& ctx,
                            const RankOptions& options = {});

}  // namespace caig
