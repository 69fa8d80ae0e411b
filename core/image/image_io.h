#pragma once
// Loading and saving product shots and variants. Pixels are 8-bit cv::Mat in OpenCV channel
// order: CV_8UC3 = BGR, CV_8UC4 = BGRA (alpha kept). Greyscale and 16-bit files are converted
// on load so that the rest of the studio sees only these two layouts.

#include <filesystem>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Larger images are refused before decoding (a hostile header could ask for gigabytes); the
// size is read from the PNG, JPEG or WebP header. JPEGs are turned upright by their EXIF
// orientation; CMYK and greyscale JPEGs become BGR.
inline constexpr int kMaxImageSide = 16384;

// Decodes PNG, JPEG, WebP (and what else OpenCV reads). Throws ImageError with the file name.
cv::Mat loadImage(const std::filesystem::path& path);
cv::Mat decodeImage(const std::vector<unsigned char>& bytes, const std::string& source = "<memory>");

// Format from the extension (.png, .jpg/.jpeg, .webp). `quality` applies to JPEG and WebP.
// Written atomically: a full disk or an error leaves any existing file untouched.
void saveImage(const std::filesystem::path& path, const cv::Mat& image, int quality = 95);
std::vector<unsigned char> encodeImage(const cv::Mat& image, const std::string& extension,
                                       int quality = 95);

}  // namespace caig
