// The bundled demo shots are what the project's renderer draws, and their alpha is the truth.

#include <gtest/gtest.h>

#include "../models/test_util.h"
#include "core/project/demo_products.h"
#include "core/image/image_io.h"
#include "core/project/project.h"

#include <opencv2/imgproc.hpp>

namespace caig {
namespace {

const std::filesystem::path kDemo = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

TEST(DemoProducts, CommittedShotsEqualTheRenderer) {
  for (const auto& p : renderDemoProducts()) {
    SCOPED_TRACE(p.name);
    EXPECT_EQ(cv::norm(loadImage(kDemo / (p.name + ".png")), p.shot, cv::NORM_INF), 0.0);
    cv::Mat alpha = loadImage(kDemo / (p.name + ".alpha.png"));
    cv::extractChannel(alpha, alpha, 0);
    EXPECT_EQ(cv::norm(alpha, p.alpha, cv::NORM_INF), 0.0);
  }
}

TEST(DemoProducts, ProductsAreCentredObjectsOnLightPaper) {
  for (const auto& p : renderDemoProducts(256)) {
    SCOPED_TRACE(p.name);
    const double area = cv::countNonZero(p.alpha > 127) / double(p.alpha.total());
    EXPECT_GT(area, 0.08);
    EXPECT_LT(area, 0.5);
    const cv::Rect box = cv::boundingRect(p.alpha > 127);
    EXPECT_NEAR(box.x + box.width / 2.0, 128, 24);  // roughly centred
    // The background is bright paper: mean luminance outside the product is high.
    const cv::Scalar bg = cv::mean(p.shot, p.alpha == 0);
    EXPECT_GT((bg[0] + bg[1] + bg[2]) / 3, 180);
  }
}

TEST(DemoProducts, ImportIntoAProjectWithTitles) {
  test::TempDir dir;
  auto project = Project::create(dir / "p");
  const auto imported = importDemoProducts(project, kDemo);
  ASSERT_EQ(imported.size(), 3u);
  EXPECT_EQ(imported[0].title, "Amber Eau de Parfum 50 ml");
  EXPECT_EQ(project.store().products().size(), 3u);
  // Each comes with its exact mask as its cutout.
  for (const auto& p : imported) {
    EXPECT_EQ(p.cutoutEngine, "alpha-file");
    EXPECT_FALSE(project.cutout(p.id).empty());
  }
  const cv::Mat perfume = project.cutout(imported[0].id);
  cv::Mat expected = loadImage(kDemo / "perfume.alpha.png");
  cv::extractChannel(expected, expected, 0);
  EXPECT_EQ(cv::norm(perfume, expected, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace caig
