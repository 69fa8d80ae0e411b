// Pair building (CAIG's rules at their boundaries, each knob) and the split by product.

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>

#include "core/clicks/click_pairs.h"

namespace caig {
namespace {

ClickCreative creative(const std::string& id, const std::string& product, int64_t impressions, int64_t clicks) {
  ClickCreative c;
  c.creativeId = id;
  c.productKey = product;
  c.category = "cat-" + product;
  c.impressions = impressions;
  c.clicks = clicks;
  return c;
}

std::set<std::pair<std::string, std::string>> named(const std::vector<ClickCreative>& cs, const PairSet& ps) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& p : ps.pairs) out.emplace(cs[p.winner].creativeId, cs[p.loser].creativeId);
  return out;
}

TEST(ClickPairs, RatioRulesHoldExactlyAtTheirBoundaries) {
  // Reference CTR 100/1000; ratios 1.05 and 1.20 are in, 1.049 and 1.201 out.
  const std::vector<ClickCreative> cs = {
      creative("ref", "A", 1000, 100),   creative("r1050", "B", 1000, 105), creative("ref2", "B", 1000, 100),
      creative("r1049", "C", 10000, 1049), creative("ref3", "C", 10000, 1000), creative("r1200", "D", 1000, 120),
      creative("ref4", "D", 1000, 100),  creative("r1201", "E", 10000, 1201), creative("ref5", "E", 10000, 1000)};
  const PairSet ps = buildPairs(cs);
  const auto pairs = named(cs, ps);
  EXPECT_EQ(pairs, (std::set<std::pair<std::string, std::string>>{{"r1050", "ref2"}, {"r1200", "ref4"}}));
  EXPECT_EQ(ps.stats.skippedRatioLow, 1);
  EXPECT_EQ(ps.stats.skippedRatioHigh, 1);
  EXPECT_EQ(ps.stats.candidatePairs, 4);
  EXPECT_EQ(ps.stats.products, 5);
  EXPECT_EQ(ps.stats.productsWithPairs, 2);
  EXPECT_EQ(ps.stats.pairs, 2);
  for (const auto& p : ps.pairs) EXPECT_EQ(p.category, "cat-" + p.productKey);
}

TEST(ClickPairs, ImpressionsSameProductTiesZeroClicksAndKnobs) {
  const std::vector<ClickCreative> cs = {
      creative("a", "P", 1000, 110), creative("b", "P", 999, 100),   // b below the minimum
      creative("c", "P", 1000, 100),                                 // a vs c: 1.10, in
      creative("d", "Q", 1000, 100), creative("e", "Q", 2000, 200),  // equal CTR: a tie, out
      creative("f", "R", 1000, 0),   creative("g", "R", 1000, 10),   // zero clicks: infinite ratio
      creative("x", "S", 5000, 550)};                                // alone: never paired across products
  PairSet ps = buildPairs(cs);
  EXPECT_EQ(named(cs, ps), (std::set<std::pair<std::string, std::string>>{{"a", "c"}}));
  EXPECT_EQ(ps.stats.skippedImpressions, 2);  // a-b and b-c
  EXPECT_EQ(ps.stats.skippedRatioLow, 1);
  EXPECT_EQ(ps.stats.skippedRatioHigh, 1);
  EXPECT_EQ(ps.stats.pairsPerProduct.at("P"), 1);

  PairRules loose;
  loose.minImpressions = 999;
  loose.ratioMin = 1.0;
  loose.ratioMax = std::numeric_limits<double>::infinity();
  ps = buildPairs(cs, loose);
  EXPECT_EQ(named(cs, ps), (std::set<std::pair<std::string, std::string>>{
                               {"a", "c"}, {"a", "b"}, {"b", "c"}, {"g", "f"}}));  // b: 0.1001 beats c: 0.1
  PairRules capped = loose;
  capped.maxPairsPerProduct = 1;
  ps = buildPairs(cs, capped);
  EXPECT_EQ(ps.stats.pairsPerProduct.at("P"), 1);
  EXPECT_GE(ps.stats.skippedProductCap, 1);

  PairRules bad;
  bad.ratioMin = 0.9;
  EXPECT_THROW(buildPairs(cs, bad), std::invalid_argument);
  bad = PairRules{};
  bad.ratioMax = 1.01;
  EXPECT_THROW(buildPairs(cs, bad), std::invalid_argument);
}

TEST(ClickPairs, DeterministicWhateverTheRowOrder) {
  std::vector<ClickCreative> cs;
  for (int p = 0; p < 5; ++p) {
    for (int v = 0; v < 6; ++v) {
      cs.push_back(creative("c" + std::to_string(p) + std::to_string(v), "P" + std::to_string(p), 2000 + 100 * v,
                            60 + 5 * v + p));
    }
  }
  const auto a = named(cs, buildPairs(cs));
  std::reverse(cs.begin(), cs.end());
  const auto b = named(cs, buildPairs(cs));
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a.empty());
}

TEST(ClickPairs, SplitKeepsEveryProductOnOneSide) {
  std::vector<ClickPair> pairs;
  for (int p = 0; p < 20; ++p) {
    for (int k = 0; k < 3 + p % 4; ++k) pairs.push_back({k, k + 1, "P" + std::to_string(p), "", 1.1});
  }
  const PairSplit s = splitByProduct(pairs, 0.25, 42);
  EXPECT_EQ(s.validationProducts.size(), 5u);
  EXPECT_EQ(s.trainProducts.size(), 15u);
  std::set<std::string> trainKeys, valKeys;
  for (const auto& p : s.train) trainKeys.insert(p.productKey);
  for (const auto& p : s.validation) valKeys.insert(p.productKey);
  for (const auto& k : valKeys) EXPECT_EQ(trainKeys.count(k), 0u) << k << " is in both";
  EXPECT_EQ(s.train.size() + s.validation.size(), pairs.size());
  EXPECT_EQ(std::set<std::string>(s.validationProducts.begin(), s.validationProducts.end()), valKeys);

  const PairSplit again = splitByProduct(pairs, 0.25, 42);
  EXPECT_EQ(again.validationProducts, s.validationProducts);
  bool differs = false;
  for (std::uint64_t seed = 1; seed < 6 && !differs; ++seed) {
    differs = splitByProduct(pairs, 0.25, seed).validationProducts != s.validationProducts;
  }
  EXPECT_TRUE(differs) << "the seed does not change the split";

  EXPECT_TRUE(splitByProduct(pairs, 0.0, 1).validation.empty());
  EXPECT_EQ(splitByProduct(pairs, 0.01, 1).validationProducts.size(), 1u);  // at least one
  EXPECT_EQ(splitByProduct(pairs, 0.99, 1).trainProducts.size(), 1u);       // never all
  EXPECT_THROW(splitByProduct(pairs, 1.0, 1), std::invalid_argument);
  const std::vector<ClickPair> one = {{0, 1, "only", "", 1.1}};
  EXPECT_EQ(splitByProduct(one, 0.5, 1).train.size(), 1u);  // one product: nothing to hold out
}

}  // namespace
}  // namespace caig
