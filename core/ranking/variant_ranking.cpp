#include "core/ranking/variant_ranking.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "core/project/project_store.h"

namespace caig {

std::vector<VariantRanking> rankVariants(CtrRanker& ranker, const cv::Mat& shot, const cv::Mat& alpha,
                                         const std::vector<VariantImage>& variants, const RankContext& ctx,
                                         const CompositionParams& params) {
  if (variants.empty()) return {};
  const ProductShot product = prepareProduct(shot, alpha, params);
  std::map<std::pair<int, int>, Layout> layouts;  // one placement per ad size
  auto layoutFor = [&](cv::Size size) -> const Layout& {
    auto key = std::make_pair(size.width, size.height);
    auto it = layouts.find(key);
    if (it == layouts.end()) it = layouts.emplace(key, layoutProduct(product, size, params)).first;
    return it->second;
  };

  std::vector<Creative> creatives;
  const Layout& first = layoutFor(variants.front().image.size());
  creatives.push_back({first.product, first.alpha});  // the reference: the product on white
  for (const auto& v : variants) creatives.push_back({v.image, layoutFor(v.image.size()).alpha});
  const RankingResult result = rankCreatives(ranker, creatives, ctx);

  std::vector<VariantRanking> out(variants.size());
  std::vector<std::size_t> order(variants.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return result.score[a + 1] > result.score[b + 1]; });
  for (std::size_t r = 0; r < order.size(); ++r) {
    const std::size_t i = order[r];
    out[i] = {variants[i].variantId, static_cast<int>(r + 1), result.score[i + 1], result.stdError[i + 1],
              result.winVsReference[i + 1]};
  }
  return out;
}

void storeRankings(ProjectStore& store, const std::vector<VariantRanking>& rankings, const std::string& rankerId) {
  store.transaction([&] {
    for (const auto& r : rankings) store.setRanking(r.variantId, r.score, r.rank, r.winVsOriginal, rankerId);
  });
}

}  // namespace caig
