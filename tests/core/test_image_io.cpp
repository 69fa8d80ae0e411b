// Image loading and saving: formats, alpha, odd layouts, and bad files.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core/image/image_io.h"

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

// A JPEG APP1 segment holding only an EXIF orientation tag (little-endian TIFF, one IFD entry).
std::string exifOrientation(uint16_t orientation) {
  std::string tiff("II*\0\x08\0\0\0", 8);
  tiff += std::string("\x01\0", 2);                              // one entry
  tiff += std::string("\x12\x01\x03\0\x01\0\0\0", 8);            // tag 0x0112, SHORT, count 1
  tiff += char(orientation & 0xff);
  tiff += std::string("\0\0\0", 3);
  tiff += std::string("\0\0\0\0", 4);                              // no next IFD
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const std::size_t len = payload.size() + 2;
  return std::string("\xff\xe1", 2) + char(len >> 8) + char(len & 0xff) + payload;
}

TEST(ImageIO, JpegExifOrientationIsHonoured) {
  cv::Mat img(20, 40, CV_8UC3, cv::Scalar(0, 0, 255));          // red...
  img(cv::Rect(20, 0, 20, 20)).setTo(cv::Scalar(255, 0, 0));     // ...left, blue right
  std::string jpeg;
  {
    const auto bytes = encodeImage(img, ".jpg", 95);
    jpeg.assign(bytes.begin(), bytes.end());
  }
  jpeg.insert(2, exifOrientation(6));  // 6: the camera was turned; display rotated 90 degrees clockwise
  const cv::Mat upright = decodeImage(std::vector<unsigned char>(jpeg.begin(), jpeg.end()), "exif.jpg");
  ASSERT_EQ(upright.size(), cv::Size(20, 40));
  const cv::Vec3b top = upright.at<cv::Vec3b>(5, 10), bottom = upright.at<cv::Vec3b>(34, 10);
  EXPECT_GT(top[2], 200);  // the left (red) half is now on top
  EXPECT_GT(bottom[0], 200);
}

TEST(ImageIO, CmykJpegBecomesBgr) {
  const cv::Mat img = loadImage(std::filesystem::path(CAIG_TEST_DATA) / "images/cmyk_red.jpg");
  ASSERT_EQ(img.type(), CV_8UC3);
  ASSERT_EQ(img.size(), cv::Size(32, 16));
  const cv::Vec3b px = img.at<cv::Vec3b>(8, 16);
  EXPECT_GT(px[2], 200);
  EXPECT_LT(px[1], 80);
  EXPECT_LT(px[0], 80);
}

TEST(ImageIO, HugeDeclaredSizesAreRefusedBeforeDecoding) {
  auto png = encodeImage(cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(9)), ".png");
  png[16] = 0x00, png[17] = 0x01, png[18] = 0x86, png[19] = 0xa0;  // IHDR width = 100000
  try {
    decodeImage(png, "huge.png");
    FAIL() << "accepted";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("100000x8"), std::string::npos) << e.what();
  }
  auto jpg = encodeImage(cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(9)), ".jpg");
  bool patched = false;
  for (std::size_t i = 2; i + 8 < jpg.size() && !patched; ++i) {  // SOF0: FF C0 len(2) P H(2) W(2)
    if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
      jpg[i + 5] = 0x4e, jpg[i + 6] = 0x20;  // height 20000
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  EXPECT_THROW(decodeImage(jpg, "huge.jpg"), ImageError);
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

// The error text of decoding `bytes`, or "" when they decode.
std::string refusal(const std::vector<unsigned char>& bytes, const std::string& name) {
  try {
    decodeImage(bytes, name);
    return "";
  } catch (const ImageError& e) {
    return e.what();
  }
}

std::size_t findMarker(const std::vector<unsigned char>& jpg, unsigned char marker) {
  for (std::size_t i = 2; i + 1 < jpg.size(); ++i) {
    if (jpg[i] == 0xff && jpg[i + 1] == marker) return i;
  }
  return std::string::npos;
}

TEST(ImageIO, AStrayByteCannotHideAJpegsSize) {
  auto jpg = encodeImage(cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(9)), ".jpg");
  const std::size_t sof = findMarker(jpg, 0xc0);
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 5] = 0x75, jpg[sof + 6] = 0x30, jpg[sof + 7] = 0x75, jpg[sof + 8] = 0x30;  // 30000x30000
  jpg.insert(jpg.begin() + static_cast<std::ptrdiff_t>(sof), 0x00);  // libjpeg skips it; so must the check
  const std::string why = refusal(jpg, "stray.jpg");
  EXPECT_NE(why.find("30000x30000"), std::string::npos) << why;
}

TEST(ImageIO, TotalPixelsAreCappedNotOnlySides) {
  auto png = encodeImage(cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(9)), ".png");
  png[16] = 0, png[17] = 0, png[18] = 0x40, png[19] = 0x00;  // 16384 wide
  png[20] = 0, png[21] = 0, png[22] = 0x40, png[23] = 0x00;  // 16384 high: each side is allowed
  const std::string why = refusal(png, "square.png");
  EXPECT_NE(why.find("16384x16384"), std::string::npos) << why;
  EXPECT_NE(why.find("megapixels"), std::string::npos) << why;
}

TEST(ImageIO, OnlyPngJpegAndWebpAreReadWhateverTheName) {
  const std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 60000 +X 60000\n";
  const std::string why = refusal(std::vector<unsigned char>(hdr.begin(), hdr.end()), "photo.png");
  EXPECT_NE(why.find("Radiance HDR"), std::string::npos) << why;
  EXPECT_NE(why.find("PNG, JPEG and WebP"), std::string::npos) << why;
  cv::Mat img(4, 4, CV_8UC3, cv::Scalar::all(50));
  std::vector<unsigned char> bmp;
  ASSERT_TRUE(cv::imencode(".bmp", img, bmp));
  EXPECT_NE(refusal(bmp, "shot.jpg").find("BMP"), std::string::npos);
  // A PNG named .jpg is read as the PNG it is.
  EXPECT_EQ(refusal(encodeImage(img, ".png"), "shot.jpg"), "");
}

TEST(ImageIO, TruncatedFilesAreRefusedNotGreyFilled) {
  cv::Mat img(64, 64, CV_8UC3);
  cv::randu(img, 0, 255);
  for (const std::string ext : {".jpg", ".png", ".webp"}) {
    const auto whole = encodeImage(img, ext, 90);
    EXPECT_EQ(refusal(whole, "whole" + ext), "") << ext;
    for (const double keep : {0.95, 0.6, 0.2}) {
      const std::vector<unsigned char> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() * keep));
      const std::string why = refusal(cut, "cut" + ext);
      EXPECT_NE(why.find("truncated"), std::string::npos) << ext << " " << keep << ": " << why;
    }
  }
  // Bytes after a JPEG's end marker (phones append data there) do not make it truncated.
  auto jpg = encodeImage(img, ".jpg", 90);
  jpg.insert(jpg.end(), 1000, 0x42);
  EXPECT_EQ(refusal(jpg, "trailing.jpg"), "");
}

TEST(ImageIO, HeaderInspectionReportsWhatTheBytesDeclare) {
  cv::Mat img(30, 50, CV_8UC4, cv::Scalar::all(7));
  for (const auto& [ext, format] : {std::pair{".png", ImageFormat::Png}, {".jpg", ImageFormat::Jpeg}, {".webp", ImageFormat::Webp}}) {
    const auto bytes = encodeImage(img, ext, 101);
    const ImageHeader h = inspectImageHeader(bytes.data(), bytes.size());
    EXPECT_EQ(h.format, format) << ext;
    EXPECT_EQ(h.width, 50u) << ext;
    EXPECT_EQ(h.height, 30u) << ext;
    EXPECT_TRUE(h.complete) << ext;
    EXPECT_EQ(h.problem, "") << ext;
  }
}

TEST(ImageIO, PipesAndDevicesAreNotOpened) {
  test::TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe.png").c_str(), 0600), 0);
  EXPECT_THROW(loadImage(dir / "pipe.png"), ImageError);  // would block forever if opened
  EXPECT_THROW(loadImage("/dev/zero"), ImageError);
}

}  // namespace
}  // namespace caig
