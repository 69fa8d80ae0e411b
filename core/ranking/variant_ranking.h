#pragma once
// Ranking a product's variants against its plain original: the reference creative is the product
// laid out on the ad canvas over white (the classic e-commerce image), so each variant gets
// P(beats the original) as well as its rank among the variants. Compute is free of the project
// database (worker-thread safe); storing goes through the store on its own thread.

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/generation/composition.h"
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
};

// `shot` and `alpha`: the product shot and its cutout. Variants may differ in size; each is
// paired with the product's placement at its own size. Throws CompositionError / RankerError.
std::vector<VariantRanking> rankVariants(CtrRanker& ranker, const cv::Mat& shot, const cv::Mat& alpha,
                                         const std::vector<VariantImage>& variants, const RankContext& ctx,
                                         const CompositionParams& params = {});

// Writes every ranking in one transaction, tagged with the ranker's id.
void storeRankings(ProjectStore& store, const std::vector<VariantRanking>& rankings, const std::string& rankerId);

}  // namespace caig
