#pragma once
// Training pairs from imported click data, with CAIG's rules as defaults: two creatives of the
// SAME product, each with at least 1000 impressions, whose CTRs differ by a ratio in
// [1.05, 1.20] (closer is noise at these counts; CAIG also leaves out the far-apart pairs).
// Deterministic; the train/validation split is by PRODUCT, so no product is in both.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace caig {

class Project;

// One imported creative with its product's key and category (from the store).
struct ClickCreative {
  int64_t recordId = 0;
  std::string creativeId;
  std::string productKey;
  std::string category;
  int64_t impressions = 0;
  int64_t clicks = 0;
  std::string imagePath;  // relative to the project
  std::string alphaPath;  // relative; empty = no product mask
  double ctr() const { return impressions > 0 ? double(clicks) / double(impressions) : 0.0; }
};

std::vector<ClickCreative> loadClickCreatives(const Project& project);

struct PairRules {
  int64_t minImpressions = 1000;  // each creative of a pair
  double ratioMin = 1.05;         // CTR(winner) / CTR(loser) >= this
  double ratioMax = 1.20;         // ... <= this (a loser with 0 clicks has an infinite ratio)
  int maxPairsPerProduct = 0;     // 0 = all; else the pairs with the largest ratios within the rules
};

struct ClickPair {
  int winner = 0;  // indices into the creatives given to buildPairs
  int loser = 0;
  std::string productKey;
  std::string category;
  double ratio = 1;  // CTR(winner) / CTR(loser)
};

struct PairStats {
  int products = 0;
  int productsWithPairs = 0;
  int candidatePairs = 0;          // same-product pairs considered
  int skippedImpressions = 0;      // a creative below minImpressions
  int skippedRatioLow = 0;         // ratio < ratioMin (ties included)
  int skippedRatioHigh = 0;        // ratio > ratioMax
  int skippedProductCap = 0;       // over maxPairsPerProduct
  int pairs = 0;
  std::map<std::string, int> pairsPerProduct;
};

struct PairSet {
  std::vector<ClickPair> pairs;  // by product key, then winner, then loser
  PairStats stats;
};

// Throws std::invalid_argument for rules that cannot hold (ratioMin < 1, ratioMax < ratioMin,
// negative minimum).
PairSet buildPairs(const std::vector<ClickCreative>& creatives, const PairRules& rules = {});

struct PairSplit {
  std::vector<ClickPair> train;
  std::vector<ClickPair> validation;
  std::vector<std::string> trainProducts;
  std::vector<std::string> validationProducts;
};

// Products with pairs are shuffled by `seed` (SplitMix64, the same on every platform) and the
// first round(fraction * n) go to validation (at least one when fraction > 0 and n >= 2, and
// never all of them). Throws std::invalid_argument for a fraction outside [0, 1).
PairSplit splitByProduct(const std::vector<ClickPair>& pairs, double validationFraction, std::uint64_t seed);

}  // namespace caig
