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

// A stored placement moves the product in the generated ad: its alpha's box is the default one
// scaled about its centre and moved by dx x width, dy x height; the params record it.
TEST(BuiltinGeneration, StoredPlacementMovesTheProduct) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  const Product p = project.importProductShot(kDemo / "mug.png", "Teal Stoneware Coffee Mug", "kitchen");
  project.store().setPlacement(p.id, PlacementOverride{0.75, 0.125, -0.0625});
  const cv::Mat shot = loadImage(project.absolute(p.imagePath));
  BuiltinRequest request;
  request.presetId = "1:1-512";
  request.variants = 1;
  const auto plain = renderBuiltinVariants(shot, demoAlpha("mug"), p.title, p.category, request);
  request.placement = project.store().placement(p.id);
  const auto placed = renderBuiltinVariants(shot, demoAlpha("mug"), p.title, p.category, request);

  const cv::Rect before = cv::boundingRect(plain[0].canvasAlpha);
  const cv::Rect after = cv::boundingRect(placed[0].canvasAlpha);
  auto centre = [](const cv::Rect& r) { return cv::Point2d(r.x + r.width / 2.0, r.y + r.height / 2.0); };
  EXPECT_NEAR(centre(after).x - centre(before).x, 0.125 * 512, 1.0);
  EXPECT_NEAR(centre(after).y - centre(before).y, -0.0625 * 512, 1.0);
  EXPECT_NEAR(after.width, 0.75 * before.width, 1.0);
  EXPECT_NEAR(after.height, 0.75 * before.height, 1.0);
  // The product's own pixels sit at the new place.
  const ProductShot prepared = prepareProduct(shot, demoAlpha("mug"));
  const Layout layout =
      layoutProduct(prepared, {512, 512}, productPlacement(productBox(prepared.alpha), {512, 512}, request.placement));
  cv::Mat core;
  cv::erode(layout.alpha == 255, core, cv::Mat::ones(5, 5, CV_8U));
  ASSERT_GT(cv::countNonZero(core), 500);
  EXPECT_EQ(cv::norm(placed[0].image, layout.product, cv::NORM_INF, core), 0.0);

  saveBuiltinVariants(project, p.id, placed, request);
  saveBuiltinVariants(project, p.id, plain, BuiltinRequest{});
  const auto variants = project.store().variants(p.id);
  ASSERT_EQ(variants.size(), 2u);
  const auto params = nlohmann::json::parse(variants[0].paramsJson).at("placement");
  EXPECT_DOUBLE_EQ(params.at("scale").get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(params.at("dx").get<double>(), 0.125);
  EXPECT_DOUBLE_EQ(params.at("dy").get<double>(), -0.0625);
  EXPECT_TRUE(nlohmann::json::parse(variants[1].paramsJson).at("placement").is_null());
}

}  // namespace
}  // namespace caig
