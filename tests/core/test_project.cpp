// Project folders: creation, import of product shots, refusal of bad input.

#include <gtest/gtest.h>

#include "../models/test_util.h"
#include "core/image/image_io.h"
#include "core/project/project.h"

namespace caig {
namespace {

TEST(Project, ImportCopiesTheShotUnderItsContentHash) {
  test::TempDir dir;
  const cv::Mat shot(40, 30, CV_8UC3, cv::Scalar(10, 200, 30));
  saveImage(dir / "Blue Bottle.png", shot);
  {
    auto project = Project::create(dir / "proj");
    const Product p = project.importProductShot(dir / "Blue Bottle.png", "", "fragrance");
    EXPECT_EQ(p.title, "Blue Bottle");
    EXPECT_EQ(p.category, "fragrance");
    EXPECT_EQ(p.imagePath.rfind("products/", 0), 0u);
    EXPECT_EQ(cv::norm(loadImage(project.absolute(p.imagePath)), shot, cv::NORM_INF), 0.0);
    const Product again = project.importProductShot(dir / "Blue Bottle.png", "Copy");
    EXPECT_EQ(again.imagePath, p.imagePath);  // same bytes, same file
  }
  // The project folder can move: paths are relative.
  std::filesystem::rename(dir / "proj", dir / "moved");
  auto project = Project::open(dir / "moved");
  ASSERT_EQ(project.store().products().size(), 2u);
  EXPECT_NO_THROW(loadImage(project.absolute(project.store().products()[0].imagePath)));
}

TEST(Project, StoresACutoutBesideTheShot) {
  test::TempDir dir;
  saveImage(dir / "shot.png", cv::Mat(30, 40, CV_8UC3, cv::Scalar(1, 2, 3)));
  auto project = Project::create(dir / "proj");
  const Product p = project.importProductShot(dir / "shot.png");
  EXPECT_TRUE(project.cutout(p.id).empty());
  cv::Mat alpha = cv::Mat::zeros(30, 40, CV_8UC1);
  alpha(cv::Rect(10, 5, 20, 20)).setTo(255);
  const Product cut = project.setCutout(p.id, alpha, "grabcut");
  EXPECT_EQ(cut.cutoutEngine, "grabcut");
  EXPECT_EQ(cv::norm(project.cutout(p.id), alpha, cv::NORM_INF), 0.0);
  EXPECT_THROW(project.setCutout(p.id, cv::Mat::zeros(10, 10, CV_8UC1), "painted"), ImageError);  // wrong size
  EXPECT_THROW(project.setCutout(999, alpha, "painted"), StoreError);
  EXPECT_EQ(project.store().product(p.id)->cutoutEngine, "grabcut");  // unchanged by the failures
}

// Deleting: records in one transaction, then the files no remaining record names (files are
// shared by content: two products of the same shot, two variants of the same pixels).
TEST(Project, DeletesRecordsAndTheFilesNoOtherRecordUses) {
  test::TempDir dir;
  saveImage(dir / "shot.png", cv::Mat(30, 40, CV_8UC3, cv::Scalar(1, 2, 3)));
  auto project = Project::create(dir / "proj");
  const Product a = project.importProductShot(dir / "shot.png", "A");
  const Product b = project.importProductShot(dir / "shot.png", "B");  // the same shot file
  cv::Mat alpha = cv::Mat::zeros(30, 40, CV_8UC1);
  alpha(cv::Rect(10, 5, 20, 20)).setTo(255);
  const Product cutA = project.setCutout(a.id, alpha, "painted");
  auto addVariant = [&](int64_t product, const std::string& file) {
    saveImage(project.absolute(file), cv::Mat(30, 40, CV_8UC3, cv::Scalar(9, 9, 9)));
    Variant v;
    v.productId = product;
    v.imagePath = file;
    return project.store().addVariant(v);
  };
  const int64_t v1 = addVariant(a.id, "variants/one.png");
  const int64_t v2 = addVariant(a.id, "variants/shared.png");
  const int64_t v3 = addVariant(b.id, "variants/shared.png");  // same pixels as v2
  const int64_t v4 = addVariant(a.id, "variants/four.png");

  // An unknown id removes nothing, not even the known ones before it.
  EXPECT_THROW(project.removeVariants({v1, 999}), StoreError);
  EXPECT_TRUE(project.store().variant(v1).has_value());
  EXPECT_TRUE(std::filesystem::exists(project.absolute("variants/one.png")));

  const auto removed = project.removeVariants({v1, v2});
  ASSERT_EQ(removed.size(), 1u);  // shared.png still serves v3
  EXPECT_EQ(removed[0], project.absolute("variants/one.png"));
  EXPECT_FALSE(std::filesystem::exists(project.absolute("variants/one.png")));
  EXPECT_TRUE(std::filesystem::exists(project.absolute("variants/shared.png")));
  EXPECT_FALSE(project.store().variant(v2).has_value());
  EXPECT_TRUE(project.store().variant(v3).has_value());

  // Product A: its cutout and its last variant go; the shot stays for B.
  project.store().addPrompt({0, a.id, "marble podium", "user", false});
  const auto gone = project.removeProduct(a.id);
  EXPECT_FALSE(project.store().product(a.id).has_value());
  EXPECT_TRUE(project.store().prompts(a.id).empty());
  EXPECT_FALSE(project.store().variant(v4).has_value());
  EXPECT_EQ(gone.size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(project.absolute(cutA.cutoutPath)));
  EXPECT_FALSE(std::filesystem::exists(project.absolute("variants/four.png")));
  EXPECT_TRUE(std::filesystem::exists(project.absolute(b.imagePath)));
  EXPECT_THROW(project.removeProduct(a.id), StoreError);

  // The last product: now the shot and the shared variant image go too.
  EXPECT_EQ(project.removeProduct(b.id).size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(project.absolute(b.imagePath)));
  EXPECT_FALSE(std::filesystem::exists(project.absolute("variants/shared.png")));
  EXPECT_TRUE(project.store().products().empty());
}

TEST(Project, RefusesBadShotsWithoutWritingAnything) {
  test::TempDir dir;
  auto project = Project::create(dir / "proj");
  test::writeFile(dir / "fake.png", "not a png");
  EXPECT_THROW(project.importProductShot(dir / "fake.png"), ImageError);
  EXPECT_THROW(project.importProductShot(dir / "absent.png"), ImageError);
  EXPECT_TRUE(project.store().products().empty());
  EXPECT_TRUE(std::filesystem::is_empty(dir / "proj" / "products"));
}

TEST(Project, CreateAndOpenCheckTheFolder) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "busy");
  test::writeFile(dir / "busy" / "x", "occupied");
  EXPECT_THROW(Project::create(dir / "busy"), StoreError);
  EXPECT_THROW(Project::open(dir / "busy"), StoreError);
  EXPECT_FALSE(Project::isProject(dir / "busy"));
  Project::create(dir / "fresh");
  EXPECT_TRUE(Project::isProject(dir / "fresh"));
  EXPECT_NO_THROW(Project::openOrCreate(dir / "fresh"));
}

TEST(Project, ARefusedProjectFolderIsLeftAsItWas) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "copy");
  test::writeFile(dir / "copy" / Project::kDatabaseName, "");  // a failed copy
  EXPECT_THROW(Project::open(dir / "copy"), StoreError);
  EXPECT_THROW(Project::openOrCreate(dir / "copy"), StoreError);
  EXPECT_FALSE(std::filesystem::exists(dir / "copy" / "products"));
  EXPECT_FALSE(std::filesystem::exists(dir / "copy" / "variants"));
  EXPECT_EQ(std::filesystem::file_size(dir / "copy" / Project::kDatabaseName), 0u);
}

}  // namespace
}  // namespace caig
