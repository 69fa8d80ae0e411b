#include "core/image/image_io.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace caig {
namespace {

std::string lowerExtension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// Brings any decoded layout to 8-bit BGR or BGRA.
cv::Mat normalise(cv::Mat img, const std::string& source) {
  if (img.depth() == CV_16U) {
    img.convertTo(img, CV_8U, 1.0 / 257.0);
  } else if (img.depth() == CV_32F) {
    img.convertTo(img, CV_8U, 255.0);
  } else if (img.depth() != CV_8U) {
    throw ImageError("'" + source + "': unsupported pixel depth");
  }
  switch (img.channels()) {
    case 1: cv::cvtColor(img, img, cv::COLOR_GRAY2BGR); break;
    case 2: {  // grey + alpha
      std::vector<cv::Mat> ga;
      cv::split(img, ga);
      cv::merge(std::vector<cv::Mat>{ga[0], ga[0], ga[0], ga[1]}, img);
      break;
    }
    case 3:
    case 4: break;
    default: throw ImageError("'" + source + "': unsupported channel count");
  }
  return img;
}

enum class Container { Png, Jpeg, Webp, Other };

uint32_t be32(const unsigned char* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint32_t le24(const unsigned char* p) { return uint32_t(p[0]) | (p[1] << 8) | (p[2] << 16); }

// The pixel size a file declares, read from its header without decoding, so that a hostile
// header cannot make the decoder allocate gigabytes. {0, 0} when the header is not understood.
cv::Size declaredSize(const unsigned char* b, std::size_t n, Container& kind) {
  kind = Container::Other;
  if (n >= 24 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(b + 12, "IHDR", 4) == 0) {
    kind = Container::Png;
    return {int(std::min<uint32_t>(be32(b + 16), INT32_MAX)), int(std::min<uint32_t>(be32(b + 20), INT32_MAX))};
  }
  if (n >= 30 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0) {
    kind = Container::Webp;
    if (std::memcmp(b + 12, "VP8X", 4) == 0) return {int(le24(b + 24) + 1), int(le24(b + 27) + 1)};
    if (std::memcmp(b + 12, "VP8L", 4) == 0) {
      const uint32_t bits = uint32_t(b[21]) | (b[22] << 8) | (b[23] << 16) | (uint32_t(b[24]) << 24);
      return {int((bits & 0x3fff) + 1), int(((bits >> 14) & 0x3fff) + 1)};
    }
    if (std::memcmp(b + 12, "VP8 ", 4) == 0) return {(b[26] | (b[27] << 8)) & 0x3fff, (b[28] | (b[29] << 8)) & 0x3fff};
    return {};
  }
  if (n >= 4 && b[0] == 0xff && b[1] == 0xd8) {
    kind = Container::Jpeg;
    std::size_t i = 2;
    while (i + 9 < n) {
      if (b[i] != 0xff) return {};
      const unsigned char marker = b[i + 1];
      if (marker == 0xff) { ++i; continue; }  // fill byte
      const std::size_t len = (std::size_t(b[i + 2]) << 8) | b[i + 3];
      const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
      if (sof) return {(b[i + 7] << 8) | b[i + 8], (b[i + 5] << 8) | b[i + 6]};
      i += 2 + len;
    }
  }
  return {};
}

cv::Mat decode(const cv::Mat& buffer, const std::string& source) {
  if (buffer.empty()) throw ImageError("'" + source + "' is empty");
  Container kind;
  const cv::Size declared = declaredSize(buffer.data, buffer.total(), kind);
  if (declared.width > kMaxImageSide || declared.height > kMaxImageSide) {
    throw ImageError("'" + source + "' is " + std::to_string(declared.width) + "x" +
                     std::to_string(declared.height) + ", larger than the supported " +
                     std::to_string(kMaxImageSide) + " px per side; downscale it first");
  }
  // PNG and WebP keep their alpha. Everything else is decoded as colour, which makes OpenCV
  // honour the EXIF orientation of camera JPEGs and convert CMYK and greyscale to BGR.
  const int flags = kind == Container::Png || kind == Container::Webp ? cv::IMREAD_UNCHANGED
                                                                      : cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH;
  cv::Mat img;
  try {
    img = cv::imdecode(buffer, flags);
  } catch (const cv::Exception& e) {
    throw ImageError("'" + source + "' could not be decoded: " + e.what());
  }
  if (img.empty()) {
    throw ImageError("'" + source + "' is not a readable image (PNG, JPEG or WebP expected) or is truncated");
  }
  if (img.cols > kMaxImageSide || img.rows > kMaxImageSide) {
    throw ImageError("'" + source + "' is " + std::to_string(img.cols) + "x" +
                     std::to_string(img.rows) + ", larger than the supported " +
                     std::to_string(kMaxImageSide) + " px per side");
  }
  return normalise(img, source);
}

}  // namespace

cv::Mat loadImage(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw ImageError("'" + path.string() + "' does not exist or is not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ImageError("cannot open '" + path.string() + "'");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  return decodeImage(bytes, path.string());
}

cv::Mat decodeImage(const std::vector<unsigned char>& bytes, const std::string& source) {
  return decode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U,
                        const_cast<unsigned char*>(bytes.data())),
                source);
}

std::vector<unsigned char> encodeImage(const cv::Mat& image, const std::string& extension,
                                       int quality) {
  if (image.empty()) throw ImageError("cannot encode an empty image");
  if (image.depth() != CV_8U || (image.channels() != 3 && image.channels() != 4 && image.channels() != 1)) {
    throw ImageError("encodeImage expects 8-bit grey, BGR or BGRA pixels");
  }
  std::vector<int> params;
  if (extension == ".jpg" || extension == ".jpeg") {
    params = {cv::IMWRITE_JPEG_QUALITY, quality};
  } else if (extension == ".webp") {
    params = {cv::IMWRITE_WEBP_QUALITY, std::clamp(quality, 1, 101)};
  } else if (extension == ".png") {
    params = {cv::IMWRITE_PNG_COMPRESSION, 6};
  } else {
    throw ImageError("unsupported image format '" + extension + "' (use .png, .jpg or .webp)");
  }
  cv::Mat pixels = image;
  if ((extension == ".jpg" || extension == ".jpeg") && image.channels() == 4) {
    cv::cvtColor(image, pixels, cv::COLOR_BGRA2BGR);  // JPEG has no alpha
  }
  std::vector<unsigned char> out;
  if (!cv::imencode(extension, pixels, out, params)) {
    throw ImageError("encoding as '" + extension + "' failed");
  }
  return out;
}

void saveImage(const std::filesystem::path& path, const cv::Mat& image, int quality) {
  const auto bytes = encodeImage(image, lowerExtension(path), quality);
  try {
    io::AtomicFile out(path);
    out.write(bytes.data(), bytes.size());
    out.commit();
  } catch (const io::FileError& e) {
    throw ImageError(e.what());
  }
}

}  // namespace caig
