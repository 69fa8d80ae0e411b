// The generation job on the built-in engine: placement, prompts, backdrops, paste-back and storage
// together.

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include "../models/test_util.h"
#include "core_test_util.h"
#include "core/generation/generation_job.h"
#include "core/image/image_io.h"
#include "core/project/project.h"

namespace caig {
namespace {

using test::demoAlpha;
using test::errorOf;

const std::filesystem::path kDemo = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

GenerationRequest builtinRequest(const std::string& preset, int variants) {
  GenerationRequest r;
  r.presetId = preset;
  r.prompts = variants;
  return r;
}

// The job on a shot outside any project.
GenerationOutcome render(const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                        const std::string& category, const GenerationRequest& request,
                        const GenerationObserver& observe = {}, const std::atomic<bool>* cancel = nullptr) {
  GenerationEngines engines;
  return runGeneration(engines, prepareGeneration(shot, alpha, title, category, request), observe, cancel);
}

std::string style(const GeneratedVariant& v) { return v.params.value("style", ""); }

TEST(BuiltinGeneration, VariantsKeepTheProductBitExactAndDiffer) {
  const cv::Mat shot = loadImage(kDemo / "mug.png");
  const cv::Mat alpha = demoAlpha("mug");
  GenerationRequest request = builtinRequest("1:1-512", 3);
  const auto variants = render(shot, alpha, "Teal Stoneware Coffee Mug", "kitchen", request).variants;
  ASSERT_EQ(variants.size(), 3u);

  const Layout layout = layoutProduct(prepareProduct(shot, alpha), {512, 512});
  // Inside the opaque core of the placed alpha (away from the feathered edge) every variant
  // carries the product's own pixels.
  cv::Mat core;
  cv::erode(layout.alpha == 255, core, cv::Mat::ones(5, 5, CV_8U));
  ASSERT_GT(cv::countNonZero(core), 1000);
  for (const auto& v : variants) {
    ASSERT_EQ(v.image.size(), cv::Size(512, 512));
    EXPECT_EQ(cv::norm(v.image, layout.product, cv::NORM_INF, core), 0.0) << style(v);
    EXPECT_NE(v.prompt.text.find("Teal Stoneware Coffee Mug"), std::string::npos);
  }
  EXPECT_NE(style(variants[0]), style(variants[1]));
  EXPECT_GT(cv::norm(variants[0].image, variants[1].image, cv::NORM_L1), 0.0);

  // Deterministic per seed, different for another.
  const auto again = render(shot, alpha, "Teal Stoneware Coffee Mug", "kitchen", request).variants;
  EXPECT_EQ(cv::norm(again[2].image, variants[2].image, cv::NORM_INF), 0.0);
  request.seed = 99;
  const auto other = render(shot, alpha, "Teal Stoneware Coffee Mug", "kitchen", request).variants;
  EXPECT_GT(cv::norm(other[0].image, variants[0].image, cv::NORM_L1), 0.0);
}

TEST(BuiltinGeneration, CancelKeepsWhatIsDoneAndBadInputIsRefused) {
  const cv::Mat shot = loadImage(kDemo / "jar.png");
  GenerationRequest request = builtinRequest("1:1-512", 4);
  std::atomic<bool> cancel{false};
  const auto one = render(
      shot, demoAlpha("jar"), "Jar", "", request,
      [&](const GenerationEvent& e) {
        if (e.stage == GenerationEvent::Stage::Generating && e.steps == 0) cancel = true;  // after the first variant
      },
      &cancel);
  EXPECT_EQ(one.variants.size(), 1u);
  EXPECT_TRUE(one.cancelled);
  EXPECT_THROW(render(shot, cv::Mat::zeros(shot.size(), CV_8UC1), "Jar", "", request), CompositionError);
  request.prompts = 0;
  EXPECT_THROW(render(shot, demoAlpha("jar"), "Jar", "", request), std::invalid_argument);
  request.prompts = 1;
  request.presetId = "3:2-wat";
  EXPECT_THROW(render(shot, demoAlpha("jar"), "Jar", "", request), CompositionError);
}

TEST(BuiltinGeneration, SavedVariantsCarryPromptAndParameters) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  const Product p = project.importProductShot(kDemo / "perfume.png", "Amber Eau de Parfum", "fragrance");
  project.setCutout(p.id, demoAlpha("perfume"), "alpha-file");
  const GenerationInput input = prepareGeneration(project, p.id, builtinRequest("4:5", 2));
  GenerationEngines engines;
  const auto rendered = runGeneration(engines, input);
  const auto saved = saveGeneration(project, input, rendered);
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
  EXPECT_EQ(cv::norm(image, rendered.variants[1].image, cv::NORM_INF), 0.0);
}

// A stored placement moves the product in the generated ad: its alpha's box is the default one
// scaled about its centre and moved by dx x width, dy x height; the params record it.
TEST(BuiltinGeneration, StoredPlacementMovesTheProduct) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  const Product p = project.importProductShot(kDemo / "mug.png", "Teal Stoneware Coffee Mug", "kitchen");
  project.setCutout(p.id, demoAlpha("mug"), "alpha-file");
  project.store().setPlacement(p.id, PlacementOverride{0.75, 0.125, -0.0625});
  const cv::Mat shot = loadImage(project.absolute(p.imagePath));
  GenerationRequest request = builtinRequest("1:1-512", 1);
  request.placementGiven = true;  // CAIG's default, whatever the store says
  GenerationEngines engines;
  const GenerationInput plainInput = prepareGeneration(project, p.id, request);
  const auto plain = runGeneration(engines, plainInput);
  request.placementGiven = false;  // the stored one
  const GenerationInput placedInput = prepareGeneration(project, p.id, request);
  const auto placed = runGeneration(engines, placedInput);

  const cv::Rect before = cv::boundingRect(plain.variants[0].canvasAlpha);
  const cv::Rect after = cv::boundingRect(placed.variants[0].canvasAlpha);
  auto centre = [](const cv::Rect& r) { return cv::Point2d(r.x + r.width / 2.0, r.y + r.height / 2.0); };
  EXPECT_NEAR(centre(after).x - centre(before).x, 0.125 * 512, 1.0);
  EXPECT_NEAR(centre(after).y - centre(before).y, -0.0625 * 512, 1.0);
  EXPECT_NEAR(after.width, 0.75 * before.width, 1.0);
  EXPECT_NEAR(after.height, 0.75 * before.height, 1.0);
  // The product's own pixels sit at the new place.
  const ProductShot prepared = prepareProduct(shot, demoAlpha("mug"));
  const Layout layout = layoutProduct(
      prepared, {512, 512}, productPlacement(productBox(prepared.alpha), {512, 512}, placedInput.request.placement));
  cv::Mat core;
  cv::erode(layout.alpha == 255, core, cv::Mat::ones(5, 5, CV_8U));
  ASSERT_GT(cv::countNonZero(core), 500);
  EXPECT_EQ(cv::norm(placed.variants[0].image, layout.product, cv::NORM_INF, core), 0.0);

  saveGeneration(project, placedInput, placed);
  saveGeneration(project, plainInput, plain);
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
