#pragma once
// Synthetic click data for tests and demos, with a KNOWN answer. Products are the project's own
// demo shots (recoloured, so there are more than three), each gets variants from the built-in
// generator (template prompts + procedural backdrops, at random product fills), and a hidden
// ground-truth click model decides their CTR:
//   logit CTR = logit(baseCtr) + product offset + trueWeights . z(features) + noise,
// with z the BuiltinRanker's standardised features, the product offset ~ N(0, productSpread^2)
// (it cancels inside a product's pairs, as real product popularity does) and the creative noise
// ~ N(0, noiseSigma^2) (what no image feature explains). Impressions are uniform in a range and
// clicks Binomial(impressions, CTR). A ranker trained on the pairs can then be checked against
// the truth. Deterministic for a seed (SplitMix64).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/ranking/builtin_ranker.h"

namespace caig {

struct SyntheticClickOptions {
  int products = 12;
  int variantsPerProduct = 8;
  std::string preset = "1:1-512";  // ad size of the variants
  int shotSize = 384;              // side of the demo product shots
  std::uint64_t seed = 7;
  // Hidden model, logit per standard deviation of each feature (BuiltinRanker order). Unlike the
  // ranker's neutral prior on purpose, so learning has something to find.
  FeatureVector trueWeights = {0.04, 0.0, 0.12, -0.05, -0.06, -0.08, 0.12, 0.02, 0.0};
  double baseCtr = 0.03;
  double productSpread = 0.3;
  double noiseSigma = 0.03;
  std::int64_t minImpressions = 5000;
  std::int64_t maxImpressions = 60000;
};

struct SyntheticCreative {
  std::string creativeId;
  std::string productKey;
  std::string productTitle;
  std::string category;
  std::string imageFile;  // relative to the output folder, with "<stem>.alpha.png" beside it
  std::string imageHash;  // pixelHash of the image
  std::string styleId;
  FeatureVector features{};
  double trueLogit = 0;   // without the creative noise: what a perfect image model could know
  double trueCtr = 0;     // with the noise: the rate the clicks were drawn from
  std::int64_t impressions = 0;
  std::int64_t clicks = 0;
};

struct SyntheticClickData {
  std::filesystem::path dir;
  std::filesystem::path csvFile;    // clicks.csv (image paths)
  std::filesystem::path jsonFile;   // clicks.json (CreativeRanking layout, images by hash)
  std::filesystem::path truthFile;  // truth.json (weights, per-creative true logits)
  FeatureVector trueWeights{};
  std::vector<SyntheticCreative> creatives;
};

// Writes images/, clicks.csv, clicks.json and truth.json into `dir` (created; existing files of
// those names are replaced). `progress(done, total)` after each creative. Throws
// std::invalid_argument for bad options.
SyntheticClickData writeSyntheticClicks(const std::filesystem::path& dir, const SyntheticClickOptions& options = {},
                                        const std::function<void(int, int)>& progress = {});

}  // namespace caig
