#pragma once
// Loading and saving product shots and variants. Pixels are 8-bit cv::Mat in OpenCV channel
// order: CV_8UC3 = BGR, CV_8UC4 = BGRA (alpha kept). Greyscale and 16-bit files are converted
// on load so that the rest of the studio sees only these two layouts.

#include <cstdint>
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

// Only PNG, JPEG and WebP are read, recognised by their bytes (not the file name), and every file
// is inspected before the decoder sees it: too many pixels (a small hostile file can declare
// gigapixels), a truncated file (libjpeg would fill the rest with grey) or a damaged header is
// refused with a message naming the file. JPEGs are turned upright by their EXIF orientation;
// CMYK and greyscale JPEGs become BGR.
inline constexpr int kMaxImageSide = 16384;
inline constexpr uint64_t kMaxImagePixels = 120'000'000;  // a 100-megapixel camera's frame fits

enum class ImageFormat { Unknown, Png, Jpeg, Webp };

// What the bytes of an image file declare, found without decoding (linear in the file size).
struct ImageHeader {
  ImageFormat format = ImageFormat::Unknown;
  uint32_t width = 0, height = 0;
  bool complete = false;  // the end marker (PNG IEND, JPEG EOI, the WebP RIFF size) is there
  std::string problem;    // a damaged header, in words; empty when none was found
};
ImageHeader inspectImageHeader(const unsigned char* bytes, std::size_t size);

// Decodes PNG, JPEG and WebP. Throws ImageError with the file name.
cv::Mat loadImage(const std::filesystem::path& path);
cv::Mat decodeImage(const std::vector<unsigned char>& bytes, const std::string& source = "<memory>");

// Format from the extension (.png, .jpg/.jpeg, .webp). `quality` applies to JPEG and WebP.
// Written atomically: a full disk or an error leaves any existing file untouched.
void saveImage(const std::filesystem::path& path, const cv::Mat& image, int quality = 95);
std::vector<unsigned char> encodeImage(const cv::Mat& image, const std::string& extension,
                                       int quality = 95);

}  // namespace caig
