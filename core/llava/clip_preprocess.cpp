#include "core/llava/clip_preprocess.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>

namespace caig {

namespace {

// ---- Pillow's Resample.c, 8 bits per channel ----------------------------------------------
// Everything below follows Pillow's arithmetic step by step (double coefficients, normalised per
// output pixel, converted to fixed point with round-half-away-from-zero, accumulators starting at
// one half, results clamped to 0..255), since one uint8 step is 0.015 after normalisation.

constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kBicubicSupport = 2.0;

double bicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coefficients {
  int ksize = 0;
  std::vector<int> bounds;        // per output pixel: first input pixel, count
  std::vector<std::int32_t> kk;   // per output pixel: ksize fixed-point weights
};

Coefficients precomputeCoefficients(int inSize, int outSize) {
  const float in0 = 0.0f;
  const float in1 = static_cast<float>(inSize);
  const double scale = static_cast<double>(in1 - in0) / outSize;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kBicubicSupport * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.assign(static_cast<std::size_t>(outSize) * 2, 0);
  c.kk.assign(static_cast<std::size_t>(outSize) * static_cast<std::size_t>(c.ksize), 0);
  std::vector<double> k(static_cast<std::size_t>(c.ksize));
  for (int xx = 0; xx < outSize; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = bicubicFilter((x + xmin - center + 0.5) * ss);
      k[static_cast<std::size_t>(x)] = w;
      ww += w;
    }
    for (int x = 0; x < c.ksize; ++x) {
      double w = 0.0;
      if (x < xmax) w = ww != 0.0 ? k[static_cast<std::size_t>(x)] / ww : k[static_cast<std::size_t>(x)];
      const double scaled = w * (1 << kPrecisionBits);
      c.kk[static_cast<std::size_t>(xx) * static_cast<std::size_t>(c.ksize) + static_cast<std::size_t>(x)] =
          static_cast<std::int32_t>(w < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.bounds[static_cast<std::size_t>(xx) * 2] = xmin;
    c.bounds[static_cast<std::size_t>(xx) * 2 + 1] = xmax;
  }
  return c;
}

inline std::uint8_t clip8(std::int64_t in) {
  if (in >= (static_cast<std::int64_t>(1) << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<std::uint8_t>(in >> kPrecisionBits);
}

// Pillow accumulates in a 32-bit int (ss0 += pixel * k); 255 * 2^22 * (sum of |k| <= ~1.3)
// stays well inside, so a 64-bit accumulator gives the same numbers.
void resampleHorizontal(const cv::Mat& in, cv::Mat& out, int rowOffset, const Coefficients& c) {
  const int channels = in.channels();
  for (int yy = 0; yy < out.rows; ++yy) {
    const std::uint8_t* src = in.ptr<std::uint8_t>(yy + rowOffset);
    std::uint8_t* dst = out.ptr<std::uint8_t>(yy);
    for (int xx = 0; xx < out.cols; ++xx) {
      const int xmin = c.bounds[static_cast<std::size_t>(xx) * 2];
      const int xmax = c.bounds[static_cast<std::size_t>(xx) * 2 + 1];
      const std::int32_t* k = &c.kk[static_cast<std::size_t>(xx) * static_cast<std::size_t>(c.ksize)];
      for (int ch = 0; ch < channels; ++ch) {
        std::int64_t ss = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < xmax; ++x) ss += static_cast<std::int64_t>(src[(x + xmin) * channels + ch]) * k[x];
        dst[xx * channels + ch] = clip8(ss);
      }
    }
  }
}

void resampleVertical(const cv::Mat& in, cv::Mat& out, const std::vector<int>& bounds, const Coefficients& c) {
  const int channels = in.channels();
  for (int yy = 0; yy < out.rows; ++yy) {
    const int ymin = bounds[static_cast<std::size_t>(yy) * 2];
    const int ymax = bounds[static_cast<std::size_t>(yy) * 2 + 1];
    const std::int32_t* k = &c.kk[static_cast<std::size_t>(yy) * static_cast<std::size_t>(c.ksize)];
    std::uint8_t* dst = out.ptr<std::uint8_t>(yy);
    for (int xx = 0; xx < out.cols * channels; ++xx) {
      std::int64_t ss = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < ymax; ++y) ss += static_cast<std::int64_t>(in.ptr<std::uint8_t>(y + ymin)[xx]) * k[y];
      dst[xx] = clip8(ss);
    }
  }
}

}  // namespace

cv::Mat pillowResizeBicubic(const cv::Mat& image, cv::Size size) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3)) {
    throw std::invalid_argument("pillowResizeBicubic: expected a non-empty 8-bit image with 1 or 3 channels");
  }
  if (size.width <= 0 || size.height <= 0) {
    throw std::invalid_argument("pillowResizeBicubic: empty target size " + std::to_string(size.width) + "x" +
                                std::to_string(size.height));
  }
  if (size == image.size()) return image.clone();
  const bool needHorizontal = size.width != image.cols;
  const bool needVertical = size.height != image.rows;
  const Coefficients horiz = precomputeCoefficients(image.cols, size.width);
  const Coefficients vert = precomputeCoefficients(image.rows, size.height);
  std::vector<int> vertBounds = vert.bounds;
  // Only the input rows that the vertical pass reads go through the horizontal one.
  const int yboxFirst = vertBounds[0];
  const int yboxLast = vertBounds[static_cast<std::size_t>(size.height) * 2 - 2] +
                       vertBounds[static_cast<std::size_t>(size.height) * 2 - 1];
  cv::Mat temp = image;
  if (needHorizontal) {
    for (int i = 0; i < size.height; ++i) vertBounds[static_cast<std::size_t>(i) * 2] -= yboxFirst;
    temp = cv::Mat(yboxLast - yboxFirst, size.width, image.type());
    resampleHorizontal(image, temp, yboxFirst, horiz);
  }
  if (!needVertical) return needHorizontal ? temp : image.clone();
  cv::Mat out(size, image.type());
  resampleVertical(temp, out, vertBounds, vert);
  return out;
}

cv::Mat toRgb8(const cv::Mat& image) {
  if (image.empty() || image.depth() != CV_8U) {
    throw std::invalid_argument("CLIP preprocessing: expected a non-empty 8-bit image");
  }
  cv::Mat rgb;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(image, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(image, rgb, cv::COLOR_BGRA2RGB); break;
    default:
      throw std::invalid_argument("CLIP preprocessing: expected 1, 3 or 4 channels, got " +
                                  std::to_string(image.channels()));
  }
  return rgb;
}

cv::Mat expandToSquare(const cv::Mat& image, const cv::Scalar& background) {
  if (image.cols == image.rows) return image.clone();
  const int side = std::max(image.cols, image.rows);
  cv::Mat square(side, side, image.type(), background);
  const int x = image.cols < side ? (side - image.cols) / 2 : 0;
  const int y = image.rows < side ? (side - image.rows) / 2 : 0;
  image.copyTo(square(cv::Rect(x, y, image.cols, image.rows)));
  return square;
}

cv::Scalar clipPadColour(const std::array<float, 3>& mean) {
  // Python's int(x * 255) on the float mean: truncation, (122, 116, 104) for CLIP.
  return cv::Scalar(static_cast<int>(static_cast<double>(mean[0]) * 255),
                    static_cast<int>(static_cast<double>(mean[1]) * 255),
                    static_cast<int>(static_cast<double>(mean[2]) * 255));
}

cv::Mat clipPreprocessPixels(const cv::Mat& image, const ClipPreprocessOptions& options) {
  if (options.size <= 0) throw std::invalid_argument("CLIP preprocessing: size must be positive");
  cv::Mat rgb = toRgb8(image);
  if (options.padToSquare) rgb = expandToSquare(rgb, clipPadColour(options.mean));
  // transformers' shortest-edge resize: the long side is int(S * long / short), truncated.
  const int shortSide = std::min(rgb.cols, rgb.rows);
  const int longSide = std::max(rgb.cols, rgb.rows);
  const int newLong = static_cast<int>(static_cast<double>(options.size) * longSide / shortSide);
  const cv::Size resized = rgb.cols <= rgb.rows ? cv::Size(options.size, newLong) : cv::Size(newLong, options.size);
  cv::Mat scaled = pillowResizeBicubic(rgb, resized);
  // Centre crop with the offset rounded down (transformers' center_crop).
  const int top = (scaled.rows - options.size) / 2;
  const int left = (scaled.cols - options.size) / 2;
  return scaled(cv::Rect(left, top, options.size, options.size)).clone();
}

at::Tensor clipPreprocessBatch(const std::vector<cv::Mat>& images, const ClipPreprocessOptions& options) {
  const int s = options.size;
  at::Tensor out = at::empty({static_cast<std::int64_t>(images.size()), 3, s, s}, at::kFloat);
  float* dst = out.data_ptr<float>();
  const std::size_t plane = static_cast<std::size_t>(s) * static_cast<std::size_t>(s);
  for (std::size_t n = 0; n < images.size(); ++n) {
    const cv::Mat pixels = clipPreprocessPixels(images[n], options);
    for (int c = 0; c < 3; ++c) {
      // As transformers: rescale in float64 then float32, normalise in float32.
      const float mean = options.mean[static_cast<std::size_t>(c)];
      const float stdev = options.std[static_cast<std::size_t>(c)];
      float* p = dst + (n * 3 + static_cast<std::size_t>(c)) * plane;
      for (int y = 0; y < s; ++y) {
        const std::uint8_t* row = pixels.ptr<std::uint8_t>(y);
        for (int x = 0; x < s; ++x) {
          const float v = static_cast<float>(row[x * 3 + c] * (1.0 / 255.0));
          p[static_cast<std::size_t>(y) * static_cast<std::size_t>(s) + static_cast<std::size_t>(x)] =
              (v - mean) / stdev;
        }
      }
    }
  }
  return out;
}

at::Tensor clipPreprocess(const cv::Mat& image, const ClipPreprocessOptions& options) {
  return clipPreprocessBatch({image}, options);
}

cv::Mat sideBySide(const cv::Mat& left, const cv::Mat& right, int side) {
  if (side <= 0) throw std::invalid_argument("sideBySide: side must be positive");
  cv::Mat pair(side, 2 * side, CV_8UC3);
  int x = 0;
  for (const cv::Mat* img : {&left, &right}) {
    // toRgb8 then back: BGRA drops alpha and grey becomes three channels, as PIL's convert.
    cv::Mat bgr;
    cv::cvtColor(toRgb8(*img), bgr, cv::COLOR_RGB2BGR);
    pillowResizeBicubic(bgr, cv::Size(side, side)).copyTo(pair(cv::Rect(x, 0, side, side)));
    x += side;
  }
  return pair;
}

}  // namespace caig
