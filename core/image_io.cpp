#include "core/image_io.h"

#include <algorithm>
#include <cctype>
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

cv::Mat decode(const cv::Mat& buffer, const std::string& source) {
  if (buffer.empty()) throw ImageError("'" + source + "' is empty");
  cv::Mat img;
  try {
    img = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
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
