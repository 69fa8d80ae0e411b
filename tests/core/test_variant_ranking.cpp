// Ranking a product's variants against its plain original and storing the result.

#include <gtest/gtest.h>

#include "../models/test_util.h"
#include "core/generation/generation_job.h"
#include "core/ranking/builtin_ranker.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/ranking/variant_ranking.h"

namespace caig {
namespace {

const std::filesystem::path kDemo = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

TEST(VariantRanking, RanksVariantsAndPutsAClutteredOneLast) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  const Product p = project.importProductShot(kDemo / "mug.png", "Teal Stoneware Coffee Mug", "kitchen");
  const cv::Mat shot = loadImage(project.absolute(p.imagePath));
  cv::Mat alpha = loadImage(kDemo / "mug.alpha.png");
  cv::extractChannel(alpha, alpha, 0);

  GenerationRequest request;
  request.presetId = "1:1-512";
  request.prompts = 3;
  GenerationInput input = prepareGeneration(shot, alpha, p.title, p.category, request);
  input.productId = p.id;
  GenerationEngines engines;
  auto rendered = runGeneration(engines, input);
  // A fourth variant on loud random noise: what no designer would ship.
  GeneratedVariant noisy = rendered.variants[0];
  cv::Mat noise(512, 512, CV_8UC3);
  cv::randu(noise, 0, 256);
  const Layout layout = layoutProduct(prepareProduct(shot, alpha), {512, 512});
  noisy.image = pasteBack(noise, layout);
  rendered.variants.push_back(noisy);
  const auto saved = saveGeneration(project, input, rendered);

  std::vector<VariantImage> images;
  for (const auto& v : saved) images.push_back({v.id, loadImage(project.absolute(v.imagePath))});
  BuiltinRanker ranker;
  const auto rankings = rankVariants(ranker, shot, alpha, images, {p.title, p.category});
  ASSERT_EQ(rankings.size(), 4u);
  std::vector<int> ranks;
  for (const auto& r : rankings) {
    ranks.push_back(r.rank);
    EXPECT_GT(r.winVsOriginal, 0.0);
    EXPECT_LT(r.winVsOriginal, 1.0);
    EXPECT_GT(r.stdError, 0.0);
  }
  std::sort(ranks.begin(), ranks.end());
  EXPECT_EQ(ranks, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(rankings[3].rank, 4) << "the noisy variant should rank last";
  EXPECT_LT(rankings[3].winVsOriginal, 0.5);

  storeRankings(project.store(), rankings, ranker.id());
  for (const auto& v : project.store().variants(p.id)) {
    ASSERT_TRUE(v.rank.has_value());
    EXPECT_EQ(v.rankerId, ranker.id());
    EXPECT_TRUE(v.winProbability.has_value());
  }
}

}  // namespace
}  // namespace caig
