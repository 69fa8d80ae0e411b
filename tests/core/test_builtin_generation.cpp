// The built-in main job: placement, prompts, backdrops, paste-back and storage together.

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include "../models/test_util.h"
#include "core/builtin_generation.h"
#include "core/image_io.h"
#include "core/project.h"

namespace caig {
namespace {

const std::filesystem::path kDemo = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

cv::Mat demoAlpha(const std::string& name) {
  cv::Mat a = loadImage(kDemo / (name + ".alpha.png"));
  cv::extractChannel(a, a, 0);
  return a;
}

TEST(BuiltinGeneration, VariantsKeepTheProductBitExactAndDiffer) {
  const cv::Mat shot = loadImage(kDemo / "mug.png");
  const cv::Mat alpha = demoAlpha("mug");
  BuiltinRequest request;
  request.presetId = "1:1-512";
  request.variants = 3;
  const auto variants = renderBuiltinVariants(shot, alpha, "Teal Stoneware Coffee Mug", "kitchen", request);
  ASSERT_EQ(variants.size(), 3u);

  const Layout layout = layoutProduct(prepareProduct(shot, alpha), {512, 512});
  // Inside the opaque core of the placed alpha (away from the feathered edge) every variant
  // carries the product's own pixels.
  cv::Mat core;
  cv::erode(layout.alpha == 255, core, cv::Mat::ones(5, 5, CV_8U));
  ASSERT_GT(cv::countNonZero(core), 1000);
  for (const auto& v : variants) {
    ASSERT_EQ(v.image.size(), cv::Size(512, 512));
    EXPECT_EQ(cv::norm(v.image, layout.product, cv::NORM_INF, core), 0.0) << v.description.styleId;
    EXPECT_NE(v.description.prompt.find("Teal Stoneware Coffee Mug"), std::string::npos);
  }
  EXPECT_NE(variants[0].description.styleId, variants[1].description.styleId);
  EXPECT_GT(cv::norm(variants[0].image, variants[1].image, cv::NORM_L1), 0.0);

  // Deterministic per seed, different for another.
  const auto again = renderBuiltinVariants(shot, alpha, "Teal Stoneware Coffee Mug", "kitchen", request);
  EXPECT_EQ(cv::norm(again[2].image, variants[2].image, cv::NORM_INF), 0.0);
  request.seed = 99;
  const auto other = renderBuiltinVariants(shot, alpha, "Teal Stoneware Coffee Mug", "kitchen", request);
  EXPECT_GT(cv::norm(other[0].image, variants[0].image, cv::NORM_L1), 0.0);
}

TEST(BuiltinGeneration, CancelKeepsWhatIsDoneAndBadInputIsRefused) {
  const cv::Mat shot = loadImage(kDemo / "jar.png");
  BuiltinRequest request;
  request.presetId = "1:1-512";
  request.variants = 4;
  const auto one = renderBuiltinVariants(shot, demoAlpha("jar"), "Jar", "", request, [](int, int) { return false; });
  EXPECT_EQ(one.size(), 1u);
  EXPECT_THROW(renderBuiltinVariants(shot, cv::Mat::zeros(shot.size(), CV_8UC1), "Jar", "", request),
               CompositionError);
  request.variants = 0;
  EXPECT_THROW(renderBuiltinVariants(shot, demoAlpha("jar"), "Jar", "", request), std::invalid_argument);
  request.variants = 1;
  request.presetId = "3:2-wat";
  EXPECT_THROW(renderBuiltinVariants(shot, demoAlpha("jar"), "Jar", "", request), CompositionError);
}

TEST(BuiltinGeneration, SavedVariantsCarryPromptAndParameters) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  const Product p = project.importProductShot(kDemo / "perfume.png", "Amber Eau de Parfum", "fragrance");
  BuiltinRequest request;
  request.presetId = "4:5";
  request.variants = 2;
  const auto rendered = renderBuiltinVariants(loadImage(project.absolute(p.imagePath)), demoAlpha("perfume"), p.title,
                                              p.category, request);
  const auto saved = saveBuiltinVariants(project, p.id, rendered, request);
  ASSERT_EQ(saved.size(), 2u);
  const auto variants = project.store().variants(p.id);
  ASSERT_EQ(variants.size(), 2u);
  const auto prompts = project.store().prompts(p.id);
  ASSERT_EQ(prompts.size(), 2u);
  EXPECT_EQ(prompts[0].source, "builtin");
  EXPECT_EQ(variants[0].promptId, prompts[0].id);
  const auto params = nlohmann::json::parse(variants[1].paramsJson);
  EXPECT_EQ(params.at("engine"), "builtin");
  EXPECT_EQ(params.at("preset"), "4:5");
  EXPECT_TRUE(params.at("spec").is_object());
  const cv::Mat image = loadImage(project.absolute(variants[1].imagePath));
  EXPECT_EQ(image.size(), cv::Size(1080, 1350));
  EXPECT_EQ(cv::norm(image, rendered[1].image, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace caig
