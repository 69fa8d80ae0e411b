// Export: fitting variants to ad sizes without distortion, embedded metadata in PNG / JPEG /
// WebP, the CSV manifest, and all-or-nothing failure.

#include <gtest/gtest.h>

#include <cmath>

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core/image/image_io.h"
#include "core/project/export.h"
#include "core/project/project.h"

namespace caig {
namespace {

// A square "variant": grey backdrop with a red disc (the product) in the middle.
cv::Mat squareVariant(int side = 400) {
  cv::Mat img(side, side, CV_8UC3, cv::Scalar(180, 170, 160));
  cv::circle(img, {side / 2, side / 2}, side / 5, cv::Scalar(0, 0, 255), cv::FILLED);
  return img;
}

ExportItem itemFor(std::int64_t id, const std::filesystem::path& image) {
  ExportItem item;
  item.variantId = id;
  item.image = image;
  return item;
}

TEST(Export, FitKeepsTheProductRoundAndCentred) {
  for (const cv::Size target : {cv::Size(1080, 1920), cv::Size(1200, 628), cv::Size(1080, 1080)}) {
    const cv::Mat ad = fitToAdSize(squareVariant(), target);
    ASSERT_EQ(ad.size(), target);
    cv::Mat red;
    cv::inRange(ad, cv::Scalar(0, 0, 200), cv::Scalar(60, 60, 255), red);
    const cv::Rect box = cv::boundingRect(red);
    // Round stays round (no stretch) and sits in the middle; no mirrored copy survives the blur.
    EXPECT_NEAR(box.width, box.height, 2) << target;
    EXPECT_NEAR(box.x + box.width / 2.0, target.width / 2.0, 2) << target;
    EXPECT_NEAR(box.y + box.height / 2.0, target.height / 2.0, 2) << target;
    const double expected = 0.4 * std::min(target.width, target.height);
    EXPECT_NEAR(box.width, expected, 3) << target;
    // The extension is the variant's own backdrop colour, not black.
    const cv::Vec3b corner = ad.at<cv::Vec3b>(2, 2);
    EXPECT_NEAR(corner[0], 180, 12);
    EXPECT_NEAR(corner[2], 160, 12);
  }
  EXPECT_THROW(fitToAdSize(cv::Mat(), {10, 10}), ExportError);
}

class ExportFiles : public ::testing::TestWithParam<ExportFormat> {};

TEST_P(ExportFiles, WritesEveryPresetWithMetadataAndAManifest) {
  test::TempDir dir;
  const auto variantPath = dir / "v.png";
  ASSERT_TRUE(cv::imwrite(variantPath.string(), squareVariant(300)));
  ExportRequest request;
  ExportItem item;
  item.variantId = 42;
  item.image = variantPath;
  item.prompt = "soft \"linen\" backdrop, warm light";
  item.seed = 7;
  item.engine = "builtin";
  item.score = 0.375;
  item.rank = 1;
  item.winProbability = 0.64;
  item.liftOverOriginal = ctrLiftFromDifference(0.25, 0.1);
  item.rankerId = "builtin@1";
  item.product = "Crème brûlée jar";  // UTF-8: an iTXt chunk in PNG
  request.items = {item};
  request.presetIds = exportPresetIds();
  request.format = GetParam();
  request.folder = dir / "out";
  const ExportResult result = exportVariants(request);
  ASSERT_EQ(result.files.size(), 4u);
  for (const auto& f : result.files) {
    const cv::Mat img = loadImage(f);
    EXPECT_TRUE(img.size() == cv::Size(1080, 1080) || img.size() == cv::Size(1080, 1350) ||
                img.size() == cv::Size(1080, 1920) || img.size() == cv::Size(1200, 628));
    const auto meta = readExportMetadata(f);
    EXPECT_EQ(meta.at("caig:variant_id"), "42");
    EXPECT_EQ(meta.at("caig:prompt"), item.prompt);
    EXPECT_EQ(meta.at("caig:seed"), "7");
    EXPECT_EQ(meta.at("caig:ctr_rank"), "1");
    EXPECT_EQ(meta.at("caig:ctr_score"), "0.375");
    EXPECT_EQ(meta.at("caig:win_probability"), "0.64");
    EXPECT_NEAR(std::stod(meta.at("caig:ctr_lift")), std::expm1(0.25), 1e-6);
    EXPECT_NEAR(std::stod(meta.at("caig:ctr_lift_low")), std::expm1(0.25 - 0.196), 1e-6);
    EXPECT_EQ(meta.at("caig:verdict"), "likely better");
    EXPECT_EQ(meta.at("caig:product"), item.product);
  }
  std::ifstream csv(result.manifest);
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header,
            "file,variant_id,preset,width,height,prompt,seed,engine,score,rank,win_probability,product,style,frame,"
            "ctr_lift,ctr_lift_low,ctr_lift_high,verdict");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_NE(line.find(",42,"), std::string::npos) << line;
    EXPECT_NE(line.find("\"soft \"\"linen\"\" backdrop, warm light\""), std::string::npos) << line;
    EXPECT_NE(line.find(",likely better"), std::string::npos) << line;
  }
  EXPECT_EQ(rows, 4);
}

INSTANTIATE_TEST_SUITE_P(Formats, ExportFiles,
                         ::testing::Values(ExportFormat::Png, ExportFormat::Jpeg, ExportFormat::Webp),
                         [](const ::testing::TestParamInfo<ExportFormat>& p) { return std::string(extension(p.param)); });

// A folder that cannot be created (a file stands in its path): a clear error naming it.
TEST(Export, UnwritableFolderFailsClearlyAndLeavesNothing) {
  test::TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "v.png").string(), squareVariant(100)));
  std::ofstream(dir / "blocker") << "a file, not a folder";
  ExportRequest request;
  request.items = {itemFor(1, dir / "v.png")};
  request.presetIds = {"1:1-1080"};
  request.folder = dir / "blocker" / "ads";
  try {
    exportVariants(request);
    FAIL() << "export into an impossible folder succeeded";
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("blocker"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "blocker" / "ads"));
}

// A variant that cannot be read halfway through: the files already written are removed and no
// manifest appears.
TEST(Export, AFailureHalfwayRemovesWhatWasWritten) {
  test::TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "good.png").string(), squareVariant(100)));
  std::ofstream(dir / "bad.png") << "not an image";
  ExportRequest request;
  request.items = {itemFor(1, dir / "good.png"), itemFor(2, dir / "bad.png")};
  request.presetIds = {"1:1-1080", "4:5"};
  request.folder = dir / "out";
  EXPECT_THROW(exportVariants(request), ExportError);
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));

  // Cancelling behaves the same.
  request.items = {itemFor(1, dir / "good.png")};
  EXPECT_THROW(exportVariants(request, [](int done, int) { return done < 1; }), ExportError);
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out"));
  EXPECT_THROW(exportVariants({}), ExportError);
}

// Files are named by product, rank, style and size (what a marketer sorts by), never by database
// id; titles become plain ASCII; two that would collide get "-2".
TEST(Export, FileNamesSayProductRankStyleAndSize) {
  ExportRequest request;
  ExportItem first = itemFor(17, "a.png");
  first.product = "Teal Mug: Café edition!";
  first.rank = 1;
  first.style = "studio-marble";
  ExportItem unranked = itemFor(18, "b.png");
  unranked.product = "Teal Mug: Café edition!";
  unranked.style = "sd15";
  ExportItem twin = first;  // the same rank and style (e.g. two products with one title)
  twin.variantId = 19;
  ExportItem untitled = itemFor(20, "c.png");
  untitled.product = "???";
  request.items = {first, unranked, twin, untitled};
  request.presetIds = {"9:16", "1.91:1"};
  request.format = ExportFormat::Jpeg;
  EXPECT_EQ(exportFileNames(request),
            (std::vector<std::string>{"teal-mug-caf-edition-rank01-studio-marble-9x16.jpg",
                                      "teal-mug-caf-edition-rank01-studio-marble-1_91x1.jpg",
                                      "teal-mug-caf-edition-unranked-sd15-9x16.jpg",
                                      "teal-mug-caf-edition-unranked-sd15-1_91x1.jpg",
                                      "teal-mug-caf-edition-rank01-studio-marble-9x16-2.jpg",
                                      "teal-mug-caf-edition-rank01-studio-marble-1_91x1-2.jpg",
                                      "product-unranked-9x16.jpg", "product-unranked-1_91x1.jpg"}));
}

std::string fileBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A second export into the same folder replaces nothing unless asked: it fails before writing,
// naming what exists, and the first export's files and manifest are untouched.
TEST(Export, NeverReplacesAPreviousExportUnlessAsked) {
  test::TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "v.png").string(), squareVariant(120)));
  ExportRequest request;
  ExportItem item = itemFor(1, dir / "v.png");
  item.product = "jar";
  item.rank = 1;
  request.items = {item};
  request.presetIds = {"4:5"};
  request.folder = dir / "out";
  const ExportResult first = exportVariants(request);
  ASSERT_EQ(first.files.size(), 1u);
  const std::string image = fileBytes(first.files[0]), manifest = fileBytes(first.manifest);

  request.format = ExportFormat::Webp;  // new image names, the same manifest.csv
  try {
    exportVariants(request);
    FAIL() << "an export replaced manifest.csv without being asked";
  } catch (const ExportWouldReplace& e) {
    ASSERT_EQ(e.existing().size(), 1u);
    EXPECT_EQ(e.existing()[0].filename(), "manifest.csv");
    EXPECT_NE(std::string(e.what()).find("manifest.csv"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "jar-rank01-4x5.webp"));
  EXPECT_EQ(fileBytes(first.files[0]), image);
  EXPECT_EQ(fileBytes(first.manifest), manifest);
  EXPECT_EQ(existingExportFiles(request).size(), 1u);

  request.replaceExisting = true;
  const ExportResult second = exportVariants(request);
  EXPECT_TRUE(std::filesystem::exists(dir / "out" / "jar-rank01-4x5.webp"));
  EXPECT_NE(fileBytes(second.manifest), manifest);
  EXPECT_EQ(fileBytes(first.files[0]), image);  // the PNG was not part of this export
}

// The export items come from the project: its products' titles, the prompt each variant was made
// with (its params win over an edited prompt record), the style, the ranking; chosen ids in the
// order given; an id the project lacks is an error naming it.
TEST(Export, ItemsComeFromTheProject) {
  test::TempDir dir;
  ASSERT_TRUE(cv::imwrite((dir / "shot.png").string(), squareVariant(64)));
  auto project = Project::create(dir / "p");
  const auto mug = project.importProductShot(dir / "shot.png", "Mug");
  const auto jar = project.importProductShot(dir / "shot.png", "Jar");
  std::filesystem::create_directories(dir / "p" / "variants");
  ASSERT_TRUE(cv::imwrite((dir / "p" / "variants" / "a.png").string(), squareVariant(64)));
  PromptRecord prompt;
  prompt.productId = mug.id;
  prompt.text = "edited later";
  const auto promptId = project.store().addPrompt(prompt);
  Variant v;
  v.productId = mug.id;
  v.promptId = promptId;
  v.imagePath = "variants/a.png";
  v.seed = 5;
  v.paramsJson = R"({"engine": "builtin", "style": "linen-soft", "prompt": "linen, soft light"})";
  const auto a = project.store().addVariant(v);
  project.store().setRanking(a, {0.25, 2, 0.6, "builtin@1", 0, 0, 0, {}, std::nullopt});
  Variant best = v;
  best.paramsJson = R"({"engine": "builtin", "style": "marble"})";
  const auto d = project.store().addVariant(best);  // newer, ranked above a
  project.store().setRanking(d, {0.5, 1, 0.7, "builtin@1", 0, 0, 0, {}, std::nullopt});
  v.productId = jar.id;
  v.promptId.reset();
  v.paramsJson = R"({"engine": "sd15"})";
  const auto b = project.store().addVariant(v);

  // Product by product, each one's variants best first.
  const auto all = exportItemsFromProject(project, std::nullopt);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].variantId, d);
  EXPECT_EQ(all[0].prompt, "edited later");  // no prompt in its params: the record's text
  EXPECT_EQ(all[1].variantId, a);
  EXPECT_EQ(all[1].product, "Mug");
  EXPECT_EQ(all[1].prompt, "linen, soft light");
  EXPECT_EQ(all[1].style, "linen-soft");
  EXPECT_EQ(all[1].engine, "builtin");
  EXPECT_EQ(all[1].rank, 2);
  EXPECT_EQ(all[1].rankerId, "builtin@1");
  EXPECT_EQ(all[1].image, dir / "p" / "variants" / "a.png");
  EXPECT_EQ(all[2].variantId, b);
  EXPECT_EQ(all[2].product, "Jar");
  EXPECT_EQ(all[2].style, "sd15");  // no style: the engine names it
  EXPECT_FALSE(all[2].rank);

  EXPECT_EQ(exportItemsFromProject(project, jar.id).size(), 1u);
  const auto chosen = exportItemsFromProject(project, std::nullopt, {b, a});
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(chosen[0].variantId, b);
  try {
    exportItemsFromProject(project, mug.id, {b});
    FAIL() << "a variant of another product was exported";
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("no variant " + std::to_string(b) + " of product"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(exportItemsFromProject(project, 999), ExportError);
}

}  // namespace
}  // namespace caig
