#pragma once
// The built-in CtrRanker: a pairwise logistic model on interpretable image features,
//   P(left wins) = sigmoid(w . (z(left) - z(right))),   z = (feature - mean) / scale,
// so it is antisymmetric by construction (P(a, b) = 1 - P(b, a)) and never position-biased.
// Untrained it uses a small, sign-plausible NEUTRAL PRIOR from ad-design common sense (see
// builtin_ranker.cpp for where each weight comes from) and says it is uncalibrated; trained on
// a team's click pairs (L2-regularised logistic regression, Newton's method) it reports its
// held-out accuracy. OpenCV and the standard library only.

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/ranking/ctr_ranker.h"

namespace caig {

inline constexpr int kBuiltinFeatureCount = 9;
using FeatureVector = std::array<double, kBuiltinFeatureCount>;

struct TrainOptions {
  double l2 = 1.0;                  // penalty lambda/2 |w - w0|^2, summed over pairs' loss
  bool towardCurrent = true;        // w0 = the current weights (the prior at first), else 0
  double validationFraction = 0.2;  // held-out share of the pairs (0 = no split)
  unsigned seed = 1;                // of the split
  int maxIterations = 50;
};

struct TrainReport {
  int trainPairs = 0;
  int validationPairs = 0;
  double trainAccuracy = 0;
  double trainLogLoss = 0;
  std::optional<double> validationAccuracy;  // set when a validation split was given
  std::optional<double> validationLogLoss;
  // The weights before training, on the same held-out pairs: what training gained.
  std::optional<double> previousValidationAccuracy;
  std::optional<double> previousValidationLogLoss;
  int iterations = 0;
  double seconds = 0;
};

class BuiltinRanker : public CtrRanker {
 public:
  BuiltinRanker();  // the neutral prior

  std::string id() const override;  // "builtin@1", or "builtin@1:<hash of the weights>" once trained
  double winProbability(const Creative& left, const Creative& right, const RankContext& ctx) override;
  std::string status() const override;
  std::optional<double> ctrScale() const override { return ctrScale_; }
  // Fits ctrScale to click pairs: least squares through the origin of log(CTR_first / CTR_second)
  // on the ranker's logit, over `pairs` (first won) and their `logCtrRatios`. Pairs whose ratio is
  // not finite are left out; a fit that comes out negative (the ranker disagrees with the clicks)
  // is 0: no lift predicted. Throws RankerError for mismatched lengths.
  void calibrateCtrScale(const std::vector<std::pair<FeatureVector, FeatureVector>>& pairs,
                         const std::vector<double>& logCtrRatios);
  // L^T z(c) with L L^T the weights' covariance (see weightCovariance); empty when unknown.
  std::vector<double> uncertaintyBasis(const Creative& c, const RankContext& ctx) override;
  void prepare(const std::vector<Creative>& creatives, const RankContext& ctx) override;
  void release() override;

  // Feature names in FeatureVector order, and the documented standardisation constants.
  static const std::vector<std::string>& featureNames();
  static const FeatureVector& featureMeans();
  static const FeatureVector& featureScales();
  static const FeatureVector& priorWeights();

  // Raw features (in the units documented in builtin_ranker.cpp) and their standardised form.
  FeatureVector features(const Creative& c) const;
  static FeatureVector standardise(const FeatureVector& raw);
  // w . (z(left) - z(right)): the logit of winProbability, and each feature's share of it.
  double logit(const FeatureVector& left, const FeatureVector& right) const;

  const FeatureVector& weights() const { return weights_; }
  void setWeights(const FeatureVector& w);  // e.g. from a study; marks the ranker as trained, covariance unknown
  // How sure the ranker is of its weights, row-major 9 x 9: for the prior, the Gaussian that
  // training's L2 penalty (lambda = 1) stands for, i.e. the identity (each weight +-1 logit per
  // SD: the prior's signs are design sense, not data); after training, the Laplace posterior
  // (the inverse Hessian of the penalised log-loss at the fitted weights). Empty when unknown
  // (weights set by hand, or a weights file from before it was saved).
  const std::vector<double>& weightCovariance() const { return covariance_; }
  bool trained() const { return trained_; }

  // `pairs`: first won. Features are computed once per creative per pair.
  TrainReport train(const std::vector<std::pair<Creative, Creative>>& pairs, const TrainOptions& options = {});
  TrainReport trainOnFeatures(const std::vector<std::pair<FeatureVector, FeatureVector>>& pairs,
                              const TrainOptions& options = {});

  // JSON weights file, written atomically. load() throws RankerError naming the file and the
  // problem (not JSON, other format or version, missing/unknown/non-finite weights).
  void save(const std::filesystem::path& path) const;
  void load(const std::filesystem::path& path);

 private:
  FeatureVector weights_;
  std::vector<double> covariance_;
  std::optional<double> ctrScale_;   // trained weights only; reset when they change
  std::vector<double> basisFactor_;  // L^T, row-major, from covariance_ (Cholesky)
  void setCovariance(std::vector<double> covariance);
  void loadInto(const std::filesystem::path& path);  // load() on a fresh ranker
  bool trained_ = false;
  int trainedPairs_ = 0;
  std::optional<double> heldOutAccuracy_;
  int heldOutPairs_ = 0;
  // Features of the creatives of the current ranking (prepare/release), found by pixel pointers.
  std::vector<std::pair<std::pair<const uchar*, const uchar*>, FeatureVector>> cache_;
  const FeatureVector& cached(const Creative& c, FeatureVector& scratch) const;
};

}  // namespace caig
