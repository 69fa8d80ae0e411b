#include "core/ranking/variant_ranking.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

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

  // The ranker's own uncertainty where it has one (the built-in ranker's weight covariance);
  // else the Bradley-Terry standard errors, combined as independent.
  std::vector<std::vector<double>> bases;
  for (const Creative& c : creatives) bases.push_back(ranker.uncertaintyBasis(c, ctx));
  std::vector<VariantRanking> out(variants.size());
  std::vector<std::size_t> order(variants.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return result.score[a + 1] > result.score[b + 1]; });
  for (std::size_t r = 0; r < order.size(); ++r) {
    const std::size_t i = order[r];
    VariantRanking& v = out[i];
    v.variantId = variants[i].variantId;
    v.rank = static_cast<int>(r + 1);
    v.score = result.score[i + 1];
    v.stdError = result.stdError[i + 1];
    v.winVsOriginal = result.winVsReference[i + 1];
    const LogitEstimate e = versusReference(result, i + 1, bases);
    v.vsOriginal = e.logit;
    v.vsOriginalStdError = e.stdError;
    v.uncertaintyBasis = bases[i + 1];
    v.ctrScale = ranker.ctrScale();
  }
  return out;
}

double basisDistance(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("basisDistance: bases of different lengths");
  double d2 = 0;
  for (std::size_t k = 0; k < a.size(); ++k) d2 += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(d2);
}

LogitEstimate versusReference(const RankingResult& r, std::size_t i, const std::vector<std::vector<double>>& bases) {
  LogitEstimate e;
  // Every schedule compares each creative with the reference, so this is the ranker's answer.
  const double p = std::clamp(r.winVsReference.at(i), 1e-9, 1 - 1e-9);
  e.logit = std::log(p / (1 - p));
  if (bases.size() > i && !bases[0].empty() && bases[i].size() == bases[0].size()) {
    e.stdError = basisDistance(bases[i], bases[0]);
  } else {
    e.stdError = std::sqrt(r.stdError.at(i) * r.stdError.at(i) + r.stdError.at(0) * r.stdError.at(0));
  }
  return e;
}

std::optional<LogitEstimate> logitBetween(const Variant& a, const Variant& b) {
  if (a.vsOriginal && b.vsOriginal && !a.uncertaintyBasis.empty() &&
      a.uncertaintyBasis.size() == b.uncertaintyBasis.size()) {
    return LogitEstimate{*a.vsOriginal - *b.vsOriginal, basisDistance(a.uncertaintyBasis, b.uncertaintyBasis)};
  }
  if (!a.score || !b.score) return std::nullopt;
  const double sa = a.stdError.value_or(0), sb = b.stdError.value_or(0);
  return LogitEstimate{*a.score - *b.score, std::sqrt(sa * sa + sb * sb)};
}

std::optional<CtrLift> liftBetween(const Variant& a, const Variant& b) {
  const auto e = logitBetween(a, b);
  if (!e) return std::nullopt;
  return ctrLiftFromDifference(e->logit, e->stdError, 1.96, a.ctrScale.value_or(1.0));
}

std::optional<CtrLift> liftOverOriginal(const Variant& v) {
  if (!v.vsOriginal || !v.vsOriginalStdError) return std::nullopt;
  return ctrLiftFromDifference(*v.vsOriginal, *v.vsOriginalStdError, 1.96, v.ctrScale.value_or(1.0));
}

void storeRankings(ProjectStore& store, const std::vector<VariantRanking>& rankings, const std::string& rankerId) {
  store.transaction([&] {
    for (const auto& r : rankings) {
      store.setRanking(r.variantId, {r.score, r.rank, r.winVsOriginal, rankerId, r.stdError, r.vsOriginal,
                                     r.vsOriginalStdError, r.uncertaintyBasis, r.ctrScale});
    }
  });
}

}  // namespace caig
