// The synthetic click generator: files that import, counts drawn from the hidden model,
// determinism for a seed.

#include <gtest/gtest.h>

#include <cmath>

#include "../models/test_util.h"
#include "core/clicks/click_data.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/clicks/synthetic_clicks.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

namespace fs = std::filesystem;

TEST(SyntheticClicks, WritesImportableFilesFromAKnownModel) {
  test::TempDir dir;
  SyntheticClickOptions o;
  o.products = 4;
  o.variantsPerProduct = 3;
  o.seed = 3;
  const auto data = writeSyntheticClicks(dir / "demo", o);
  ASSERT_EQ(data.creatives.size(), 12u);
  for (const auto& c : data.creatives) {
    EXPECT_TRUE(fs::exists(dir / "demo" / c.imageFile)) << c.imageFile;
    EXPECT_LE(c.clicks, c.impressions);
    EXPECT_GE(c.impressions, o.minImpressions);
    EXPECT_LE(c.impressions, o.maxImpressions);
    // The clicks follow the model's CTR: within 5 binomial standard deviations.
    const double sd = std::sqrt(c.impressions * c.trueCtr * (1 - c.trueCtr));
    EXPECT_LT(std::abs(c.clicks - c.impressions * c.trueCtr), 5 * sd + 1) << c.creativeId;
    // trueLogit is exactly the documented formula of the features (up to the product offset,
    // which cancels within a product).
    const FeatureVector z = BuiltinRanker::standardise(c.features);
    double effect = 0;
    for (int k = 0; k < kBuiltinFeatureCount; ++k) effect += o.trueWeights[k] * z[k];
    const auto& first = data.creatives[(&c - data.creatives.data()) / 3 * 3];
    const FeatureVector z0 = BuiltinRanker::standardise(first.features);
    double effect0 = 0;
    for (int k = 0; k < kBuiltinFeatureCount; ++k) effect0 += o.trueWeights[k] * z0[k];
    EXPECT_NEAR(c.trueLogit - first.trueLogit, effect - effect0, 1e-9);
    EXPECT_EQ(c.imageHash, pixelHash(loadImage(dir / "demo" / c.imageFile)));
  }
  const auto truth = io::readJsonFile(data.truthFile);
  EXPECT_DOUBLE_EQ(truth["trueWeights"]["product_area"].get<double>(), o.trueWeights[2]);
  EXPECT_EQ(truth["creatives"].size(), 12u);

  // Both files import; the JSON one finds its images by pixel hash.
  const ClickFile csv = readClickFile(data.csvFile);
  EXPECT_EQ(csv.rows.size(), 12u);
  EXPECT_TRUE(csv.rejected.empty());
  test::TempDir pdir;
  auto project = Project::create(pdir / "p");
  const auto r = importClicks(project, data.jsonFile);
  EXPECT_EQ(r.rowsImported, 12);
  EXPECT_EQ(r.imagesMatchedByHash, 12);
  for (const auto& rec : project.store().clickRecords()) EXPECT_FALSE(rec.alphaPath.empty()) << rec.creativeId;

  // The same seed gives the same data.
  const auto again = writeSyntheticClicks(dir / "again", o);
  for (std::size_t i = 0; i < data.creatives.size(); ++i) {
    EXPECT_EQ(again.creatives[i].clicks, data.creatives[i].clicks);
    EXPECT_EQ(again.creatives[i].imageHash, data.creatives[i].imageHash);
  }
  SyntheticClickOptions bad = o;
  bad.variantsPerProduct = 1;
  EXPECT_THROW(writeSyntheticClicks(dir / "bad", bad), std::invalid_argument);
}

}  // namespace
}  // namespace caig
