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

uint32_t be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const unsigned char* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }
uint32_t le24(const unsigned char* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16); }
uint32_t le32(const unsigned char* p) { return le24(p) | (uint32_t(p[3]) << 24); }

// Names the common formats the studio does not read, so the refusal says what the file is.
std::string otherFormatName(const unsigned char* b, std::size_t n) {
  auto starts = [&](const char* magic, std::size_t len) { return n >= len && std::memcmp(b, magic, len) == 0; };
  if (starts("GIF8", 4)) return "a GIF image";
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return "a TIFF image";
  if (starts("BM", 2)) return "a BMP image";
  if (starts("#?RADIANCE", 10) || starts("#?RGBE", 6)) return "a Radiance HDR image";
  if (starts("\x76\x2f\x31\x01", 4)) return "an OpenEXR image";
  if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "a PNM image";
  if (n >= 12 && std::memcmp(b + 4, "ftyp", 4) == 0) return "an ISO media file (HEIC/AVIF?)";
  return "not an image this studio knows";
}

// PNG: the signature, IHDR first, then chunks by their lengths until IEND.
void inspectPng(const unsigned char* b, std::size_t n, ImageHeader& h) {
  h.format = ImageFormat::Png;
  if (n < 33 || std::memcmp(b + 12, "IHDR", 4) != 0) {
    h.problem = "its PNG header is damaged (no IHDR chunk)";
    return;
  }
  h.width = be32(b + 16);
  h.height = be32(b + 20);
  std::size_t i = 8;
  while (i + 12 <= n) {
    const uint32_t len = be32(b + i);
    if (len > 0x7fffffffu) {
      h.problem = "a PNG chunk declares an invalid length";
      return;
    }
    if (std::memcmp(b + i + 4, "IEND", 4) == 0) {
      h.complete = true;
      return;
    }
    i += 12 + std::size_t(len);
  }
}

// JPEG: walks the markers as libjpeg does (bytes between segments are skipped, as libjpeg skips
// them with a warning, so a stray byte cannot hide the frame size) and the entropy-coded data
// after each SOS until EOI. A file that ends first is truncated.
void inspectJpeg(const unsigned char* b, std::size_t n, ImageHeader& h) {
  h.format = ImageFormat::Jpeg;
  bool haveFrame = false;
  std::size_t i = 2;
  while (true) {
    while (i < n && b[i] != 0xff) ++i;  // extraneous bytes
    while (i < n && b[i] == 0xff) ++i;  // fill bytes
    if (i >= n) return;                 // truncated: no EOI
    const unsigned char marker = b[i++];
    if (marker == 0xd9) {  // EOI
      if (!haveFrame) h.problem = "it ends before its JPEG frame header";
      h.complete = haveFrame;
      return;
    }
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;  // no length
    if (i + 2 > n) return;
    const std::size_t len = be16(b + i);
    if (len < 2) {
      h.problem = "a JPEG segment declares an invalid length";
      return;
    }
    const bool sof = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (sof && !haveFrame) {
      if (i + 7 > n) return;
      h.height = be16(b + i + 3);
      h.width = be16(b + i + 5);
      haveFrame = true;
      if (h.width == 0 || h.height == 0) {
        h.problem = "its JPEG frame declares a zero size";
        return;
      }
    }
    i += len;
    if (marker == 0xda) {  // SOS: entropy-coded data runs to the next marker that is not RSTn
      if (!haveFrame) {
        h.problem = "its JPEG scan starts before the frame header";
        return;
      }
      while (i + 1 < n) {
        if (b[i] == 0xff && b[i + 1] != 0x00 && !(b[i + 1] >= 0xd0 && b[i + 1] <= 0xd7) && b[i + 1] != 0xff) break;
        ++i;
      }
      if (i + 1 >= n) return;  // truncated inside the scan
    }
  }
}

// WebP: RIFF size against the file, then the canvas from VP8X, VP8L or VP8.
void inspectWebp(const unsigned char* b, std::size_t n, ImageHeader& h) {
  h.format = ImageFormat::Webp;
  if (n < 30) return;
  const uint64_t riffEnd = 8 + uint64_t(le32(b + 4));
  if (std::memcmp(b + 12, "VP8X", 4) == 0) {
    h.width = le24(b + 24) + 1;
    h.height = le24(b + 27) + 1;
  } else if (std::memcmp(b + 12, "VP8L", 4) == 0) {
    const uint32_t bits = le32(b + 21);
    h.width = (bits & 0x3fff) + 1;
    h.height = ((bits >> 14) & 0x3fff) + 1;
  } else if (std::memcmp(b + 12, "VP8 ", 4) == 0) {
    h.width = (uint32_t(b[26]) | (uint32_t(b[27]) << 8)) & 0x3fff;
    h.height = (uint32_t(b[28]) | (uint32_t(b[29]) << 8)) & 0x3fff;
  } else {
    h.problem = "its WebP header is damaged (no VP8, VP8L or VP8X chunk)";
    return;
  }
  h.complete = riffEnd <= n;
}

cv::Mat decode(const cv::Mat& buffer, const std::string& source) {
  if (buffer.empty()) throw ImageError("'" + source + "' is empty");
  const ImageHeader header = inspectImageHeader(buffer.data, buffer.total());
  if (header.format == ImageFormat::Unknown) {
    throw ImageError("'" + source + "' is " + otherFormatName(buffer.data, buffer.total()) +
                     "; the studio reads PNG, JPEG and WebP");
  }
  if (!header.problem.empty()) throw ImageError("'" + source + "' cannot be read: " + header.problem);
  if (!header.complete) {
    throw ImageError("'" + source + "' is truncated (the file ends before the image does); copy or download it again");
  }
  if (header.width == 0 || header.height == 0) throw ImageError("'" + source + "' declares an empty image");
  if (header.width > uint32_t(kMaxImageSide) || header.height > uint32_t(kMaxImageSide) ||
      uint64_t(header.width) * header.height > kMaxImagePixels) {
    throw ImageError("'" + source + "' is " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                     ", larger than the supported " + std::to_string(kMaxImageSide) + " px per side and " +
                     std::to_string(kMaxImagePixels / 1000000) + " megapixels; downscale it first");
  }
  // PNG and WebP keep their alpha. JPEGs are decoded as colour, which makes OpenCV honour the
  // EXIF orientation of camera JPEGs and convert CMYK and greyscale to BGR.
  const int flags = header.format == ImageFormat::Jpeg ? cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH : cv::IMREAD_UNCHANGED;
  cv::Mat img;
  try {
    img = cv::imdecode(buffer, flags);
  } catch (const cv::Exception& e) {
    throw ImageError("'" + source + "' could not be decoded: " + e.what());
  }
  if (img.empty()) throw ImageError("'" + source + "' could not be decoded (damaged image data)");
  if (img.cols > kMaxImageSide || img.rows > kMaxImageSide) {
    throw ImageError("'" + source + "' is " + std::to_string(img.cols) + "x" +
                     std::to_string(img.rows) + ", larger than the supported " +
                     std::to_string(kMaxImageSide) + " px per side");
  }
  return normalise(img, source);
}

}  // namespace

ImageHeader inspectImageHeader(const unsigned char* bytes, std::size_t size) {
  ImageHeader h;
  if (size >= 8 && std::memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0) {
    inspectPng(bytes, size, h);
  } else if (size >= 12 && std::memcmp(bytes, "RIFF", 4) == 0 && std::memcmp(bytes + 8, "WEBP", 4) == 0) {
    inspectWebp(bytes, size, h);
  } else if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) {
    inspectJpeg(bytes, size, h);
  }
  return h;
}

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
