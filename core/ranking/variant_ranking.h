#pragma once
// Ranking a product's variants against its plain original: the reference creative is the product
// laid out on the ad canvas over white (the classic e-commerce image), so each variant gets
// P(beats the original) as well as its rank among the variants. Compute is free of the project
// database (worker-thread safe); storing goes through the store on its own thread.

#include <cstdint>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/generation/composition.h"
#include "core/project/project_store.h"
#include "core/ranking/compare_math.h"
#include "core/ranking/ctr_ranker.h"

namespace caig {

class ProjectStore;

struct VariantImage {
  std::int64_t variantId = 0;
  cv::Mat image;  // CV_8UC3 ad
};

struct VariantRanking {
  std::int64_t variantId = 0;
  int rank = 0;  // 1 = best among the variants (the reference not counted)
  double score = 0, stdError = 0;
  double winVsOriginal = 0.5;
  // logit P(beats the original), the ranker's own answer, and its standard error: from the
  // ranker's uncertainty basis when it has one, else the Bradley-Terry errors as independent.
  // ctrLiftFromDifference turns them into the predicted lift over the original.
  double vsOriginal = 0;
  double vsOriginalStdError = 0;
  std::vector<double> uncertaintyBasis;  // CtrRanker::uncertaintyBasis of the variant
  std::optional<double> ctrScale;        // CtrRanker::ctrScale: log CTR ratio per logit
};

// The standard error of logit P(a beats b) from two uncertainty bases: their distance.
double basisDistance(const std::vector<double>& a, const std::vector<double>& b);

// Creative i of a ranking against its reference (creative 0): the ranker's own answer, logit
// P(i beats 0), with its standard error from the creatives' uncertainty bases when given (one
// per creative, CtrRanker::uncertaintyBasis), else from the scores' errors as independent.
struct LogitEstimate {
  double logit = 0;
  double stdError = 0;
};
LogitEstimate versusReference(const RankingResult& r, std::size_t i,
                              const std::vector<std::vector<double>>& bases = {});

// Variant `a` against variant `b` from their stored rankings (same ranking): with both
// uncertainty bases, the difference of their logits against the original and the basis
// distance; else their Bradley-Terry scores with independent errors. Empty when either is
// unranked.
std::optional<LogitEstimate> logitBetween(const Variant& a, const Variant& b);
// Its predicted lift, with the ranking's CTR scale (1 when it has none).
std::optional<CtrLift> liftBetween(const Variant& a, const Variant& b);
// Over the original: the stored logit and its standard error. Empty when not stored.
std::optional<CtrLift> liftOverOriginal(const Variant& v);

// `shot` and `alpha`: the product shot and its cutout. Variants may differ in size; each is
// paired with the product's placement at its own size. Throws CompositionError / RankerError.
std::vector<VariantRanking> rankVariants(CtrRanker& ranker, const cv::Mat& shot, const cv::Mat& alpha,
                                         const std::vector<VariantImage>& variants, const RankContext& ctx,
                                         const CompositionParams& params = {});

// Writes every ranking in one transaction, tagged with the ranker's id.
void storeRankings(ProjectStore& store, const std::vector<VariantRanking>& rankings, const std::string& rankerId);

}  // namespace caig
