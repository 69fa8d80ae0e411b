// Export: fitting variants to ad sizes without distortion, embedded metadata in PNG / JPEG /
// WebP, the CSV manifest, and all-or-nothing failure.

#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core/project/export.h"
#include "core/image/image_io.h"

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
  item.rankerId = "builtin@1";
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
  }
  std::ifstream csv(result.manifest);
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "file,variant_id,preset,width,height,prompt,seed,engine,score,rank,win_probability");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_NE(line.find(",42,"), std::string::npos) << line;
    EXPECT_NE(line.find("\"soft \"\"linen\"\" backdrop, warm light\""), std::string::npos) << line;
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

}  // namespace
}  // namespace caig
