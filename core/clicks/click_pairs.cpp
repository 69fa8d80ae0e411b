#include "core/clicks/click_pairs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>

#include "core/project/project.h"
#include "core/base/splitmix.h"

namespace caig {

std::vector<ClickCreative> loadClickCreatives(const Project& project) {
  std::map<int64_t, const ClickProduct*> byId;
  const auto products = project.store().clickProducts();
  for (const auto& p : products) byId[p.id] = &p;
  std::vector<ClickCreative> out;
  for (const auto& r : project.store().clickRecords()) {
    ClickCreative c;
    c.recordId = r.id;
    c.creativeId = r.creativeId;
    c.productKey = r.productKey;
    if (r.clickProductId) {
      if (const auto it = byId.find(*r.clickProductId); it != byId.end()) c.category = it->second->category;
    }
    c.impressions = r.impressions;
    c.clicks = r.clicks;
    c.imagePath = r.imagePath;
    c.alphaPath = r.alphaPath;
    out.push_back(std::move(c));
  }
  return out;
}

PairSet buildPairs(const std::vector<ClickCreative>& creatives, const PairRules& rules) {
  if (!(rules.ratioMin >= 1) || !(rules.ratioMax >= rules.ratioMin) || rules.minImpressions < 0 ||
      rules.maxPairsPerProduct < 0) {
    throw std::invalid_argument("pair rules: need 1 <= ratio-min <= ratio-max and non-negative minimums");
  }
  std::map<std::string, std::vector<int>> byProduct;
  for (std::size_t i = 0; i < creatives.size(); ++i) byProduct[creatives[i].productKey].push_back(int(i));

  PairSet out;
  out.stats.products = static_cast<int>(byProduct.size());
  for (auto& [key, members] : byProduct) {
    // Stable order inside a product: by creative id, so the file's row order does not matter.
    std::sort(members.begin(), members.end(),
              [&](int a, int b) { return creatives[a].creativeId < creatives[b].creativeId; });
    std::vector<ClickPair> mine;
    for (std::size_t x = 0; x < members.size(); ++x) {
      for (std::size_t y = x + 1; y < members.size(); ++y) {
        ++out.stats.candidatePairs;
        int a = members[x], b = members[y];
        if (creatives[a].impressions < rules.minImpressions || creatives[b].impressions < rules.minImpressions) {
          ++out.stats.skippedImpressions;
          continue;
        }
        if (creatives[a].ctr() < creatives[b].ctr()) std::swap(a, b);
        const double hi = creatives[a].ctr(), lo = creatives[b].ctr();
        // Compare with clicks and impressions cross-multiplied where possible: exact at the
        // boundaries (1.05 of 1000 clicks is 1050, not 1049.9999).
        const double ratio = lo > 0 ? hi / lo : (hi > 0 ? std::numeric_limits<double>::infinity() : 1.0);
        const long double num = static_cast<long double>(creatives[a].clicks) * creatives[b].impressions;
        const long double den = static_cast<long double>(creatives[b].clicks) * creatives[a].impressions;
        const auto ratioAtLeast = [&](double r) { return num >= static_cast<long double>(r) * den * (1 - 1e-12L); };
        const auto ratioAtMost = [&](double r) { return num <= static_cast<long double>(r) * den * (1 + 1e-12L); };
        if (hi == lo || !ratioAtLeast(rules.ratioMin)) {
          ++out.stats.skippedRatioLow;
          continue;
        }
        if (den == 0 || !ratioAtMost(rules.ratioMax)) {
          if (!(den == 0 && std::isinf(rules.ratioMax))) {
            ++out.stats.skippedRatioHigh;
            continue;
          }
        }
        mine.push_back({a, b, key, creatives[a].category, ratio});
      }
    }
    if (rules.maxPairsPerProduct > 0 && int(mine.size()) > rules.maxPairsPerProduct) {
      std::stable_sort(mine.begin(), mine.end(), [](const ClickPair& p, const ClickPair& q) { return p.ratio > q.ratio; });
      out.stats.skippedProductCap += int(mine.size()) - rules.maxPairsPerProduct;
      mine.resize(rules.maxPairsPerProduct);
    }
    if (!mine.empty()) {
      ++out.stats.productsWithPairs;
      out.stats.pairsPerProduct[key] = static_cast<int>(mine.size());
    }
    out.pairs.insert(out.pairs.end(), mine.begin(), mine.end());
  }
  out.stats.pairs = static_cast<int>(out.pairs.size());
  return out;
}

PairSplit splitByProduct(const std::vector<ClickPair>& pairs, double validationFraction, std::uint64_t seed) {
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw std::invalid_argument("validation fraction must be in [0, 1)");
  }
  std::set<std::string> keys;
  for (const auto& p : pairs) keys.insert(p.productKey);
  std::vector<std::string> order(keys.begin(), keys.end());  // sorted: the shuffle alone decides
  SplitMix64 rng{seed ^ 0x5EEDC11C5ull};
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.index(i)]);
  const int n = static_cast<int>(order.size());
  int nVal = static_cast<int>(std::lround(validationFraction * n));
  if (validationFraction > 0 && n >= 2) nVal = std::clamp(nVal, 1, n - 1);
  if (n < 2) nVal = 0;
  PairSplit out;
  std::set<std::string> val(order.begin(), order.begin() + nVal);
  for (const auto& k : order) (val.count(k) ? out.validationProducts : out.trainProducts).push_back(k);
  std::sort(out.validationProducts.begin(), out.validationProducts.end());
  std::sort(out.trainProducts.begin(), out.trainProducts.end());
  for (const auto& p : pairs) (val.count(p.productKey) ? out.validation : out.train).push_back(p);
  return out;
}

}  // namespace caig
