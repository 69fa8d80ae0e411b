// Image loading and saving: formats, alpha, odd layouts, and bad files.

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core/image_io.h"

namespace caig {
namespace {

cv::Mat gradientBGRA(int w, int h) {
  cv::Mat img(h, w, CV_8UC4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) img.at<cv::Vec4b>(y, x) = cv::Vec4b(x * 255 / w, y * 255 / h, 77, (x + y) % 256);
  return img;
}

TEST(ImageIO, PngKeepsAlphaExactly) {
  test::TempDir dir;
  const cv::Mat img = gradientBGRA(64, 48);
  saveImage(dir / "a.png", img);
  const cv::Mat back = loadImage(dir / "a.png");
  ASSERT_EQ(back.type(), CV_8UC4);
  EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0.0);
}

TEST(ImageIO, WebpLosslessKeepsAlphaAndJpegDropsIt) {
  test::TempDir dir;
  const cv::Mat img = gradientBGRA(64, 48);
  saveImage(dir / "a.webp", img, 101);  // quality > 100 = lossless
  const cv::Mat webp = loadImage(dir / "a.webp");
  ASSERT_EQ(webp.type(), CV_8UC4);
  // Lossless WebP keeps alpha exactly and colour wherever a pixel is visible (libwebp may
  // rewrite the colour of fully transparent pixels).
  cv::Mat alphaIn, alphaOut;
  cv::extractChannel(img, alphaIn, 3);
  cv::extractChannel(webp, alphaOut, 3);
  EXPECT_EQ(cv::norm(alphaOut, alphaIn, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(webp, img, cv::NORM_INF, alphaIn > 0), 0.0);

  saveImage(dir / "a.JPG", img, 95);
  const cv::Mat jpg = loadImage(dir / "a.JPG");
  ASSERT_EQ(jpg.type(), CV_8UC3);
  cv::Mat bgr;
  cv::cvtColor(img, bgr, cv::COLOR_BGRA2BGR);
  EXPECT_LT(cv::norm(jpg, bgr, cv::NORM_L1) / jpg.total() / 3, 3.0);  // lossy but close
}

TEST(ImageIO, GreyAnd16BitBecome8BitBGR) {
  test::TempDir dir;
  cv::Mat grey(10, 12, CV_8UC1, cv::Scalar(200));
  cv::imwrite((dir / "g.png").string(), grey);
  const cv::Mat g = loadImage(dir / "g.png");
  ASSERT_EQ(g.type(), CV_8UC3);
  EXPECT_EQ(g.at<cv::Vec3b>(5, 5), cv::Vec3b(200, 200, 200));

  cv::Mat deep(10, 12, CV_16UC3, cv::Scalar(65535, 0, 257 * 100));
  cv::imwrite((dir / "d.png").string(), deep);
  const cv::Mat d = loadImage(dir / "d.png");
  ASSERT_EQ(d.type(), CV_8UC3);
  EXPECT_EQ(d.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 0, 100));
}

TEST(ImageIO, BadFilesGetClearErrors) {
  test::TempDir dir;
  EXPECT_THROW(loadImage(dir / "missing.png"), ImageError);
  test::writeFile(dir / "text.png", "this is not an image");
  try {
    loadImage(dir / "text.png");
    FAIL();
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("text.png"), std::string::npos);
  }
  saveImage(dir / "ok.png", gradientBGRA(32, 32));
  std::string bytes = test::readFile(dir / "ok.png");
  test::writeFile(dir / "cut.png", bytes.substr(0, bytes.size() / 3));
  EXPECT_THROW(loadImage(dir / "cut.png"), ImageError);
  test::writeFile(dir / "empty.png", "");
  EXPECT_THROW(loadImage(dir / "empty.png"), ImageError);
  EXPECT_THROW(loadImage(dir.path()), ImageError);  // a folder
}

TEST(ImageIO, SaveRefusesUnknownFormatsAndKeepsOldFiles) {
  test::TempDir dir;
  const cv::Mat img = gradientBGRA(8, 8);
  EXPECT_THROW(saveImage(dir / "a.gifx", img), ImageError);
  EXPECT_THROW(saveImage(dir / "a.png", cv::Mat()), ImageError);
  EXPECT_THROW(saveImage(dir / "no/such/folder/a.png", img), ImageError);
  saveImage(dir / "keep.png", img);
  const std::string before = test::readFile(dir / "keep.png");
  EXPECT_THROW(saveImage(dir / "keep.png", cv::Mat(4, 4, CV_32FC3)), ImageError);
  EXPECT_EQ(test::readFile(dir / "keep.png"), before);
}

}  // namespace
}  // namespace caig
