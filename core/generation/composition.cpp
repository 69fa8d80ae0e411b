#include "core/generation/composition.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>

#include "core/image/foreground.h"

namespace caig {
namespace {

const char* const kPaintHint = "Paint a manual mask over the product (or run another cutout) and try again.";

std::string sizeText(cv::Size s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height);
}

// The largest pixel count that is still <= fill x side (the epsilon absorbs 0.78 * 100 noise).
int fillLimit(double fill, int side) {
  return std::max(1, static_cast<int>(std::floor(fill * side + 1e-6)));
}

void requireBgr(const cv::Mat& m, cv::Size size, const char* what) {
  if (m.type() != CV_8UC3 || m.size() != size) {
    throw CompositionError(std::string(what) + " must be 8-bit BGR of size " + sizeText(size));
  }
}

void requireAlpha(const cv::Mat& m, cv::Size size, const char* what) {
  if (m.type() != CV_8UC1 || m.size() != size) {
    throw CompositionError(std::string(what) + " must be an 8-bit single-channel alpha of size " + sizeText(size));
  }
}

}  // namespace

// ---- Ad sizes ----------------------------------------------------------------------------

const std::vector<AdPreset>& adPresets() {
  static const std::vector<AdPreset> presets = {
      {"1:1-512", "Square", {512, 512}},         {"1:1-1024", "Square", {1024, 1024}},
      {"1:1-1080", "Square feed", {1080, 1080}}, {"4:5", "Portrait 4:5", {1080, 1350}},
      {"9:16", "Story 9:16", {1080, 1920}},      {"1.91:1", "Landscape 1.91:1", {1200, 628}},
  };
  return presets;
}

std::string adPresetText(const AdPreset& preset) {
  return preset.label + " \u00b7 " + std::to_string(preset.size.width) + "\u00d7" + std::to_string(preset.size.height);
}

const AdPreset& adPreset(const std::string& id) {
  for (const auto& p : adPresets()) {
    if (p.id == id) return p;
  }
  throw CompositionError("unknown ad size preset '" + id + "'");
}

cv::Size workingSize(cv::Size size, int longSide, int multiple) {
  if (size.width <= 0 || size.height <= 0 || longSide <= 0 || multiple <= 0) {
    throw CompositionError("workingSize: sizes and the multiple must be positive");
  }
  const double s = double(longSide) / std::max(size.width, size.height);
  auto round = [&](int side) {
    return std::max(multiple, static_cast<int>(std::lround(side * s / multiple)) * multiple);
  };
  return {round(size.width), round(size.height)};
}

// ---- Placement ---------------------------------------------------------------------------

cv::Matx23d Placement::transform() const {
  const double sx = scaleX(), sy = scaleY();
  return {sx, 0, target.x - sx * source.x, 0, sy, target.y - sy * source.y};
}

cv::Rect productBox(const cv::Mat& alpha) {
  if (alpha.empty() || alpha.type() != CV_8UC1) {
    throw CompositionError("the product alpha is missing or not 8-bit single-channel. " + std::string(kPaintHint));
  }
  const cv::Rect box = cv::boundingRect(alpha);  // non-zero pixels of an 8-bit image
  if (box.area() == 0) {
    throw CompositionError("the product mask is empty: no product pixels were found. " + std::string(kPaintHint));
  }
  return box;
}

Placement defaultPlacement(const cv::Rect& source, cv::Size canvas, const CompositionParams& params) {
  if (source.width <= 0 || source.height <= 0) throw CompositionError("empty product box");
  if (canvas.width <= 0 || canvas.height <= 0) throw CompositionError("empty canvas");
  if (!(params.fill > 0.0 && params.fill <= 1.0)) throw CompositionError("fill must be in (0, 1]");
  const double top = params.copyTop, bottom = params.copyBottom;
  if (!(top >= 0.0 && top <= kMaxCopySpace && bottom >= 0.0 && bottom <= kMaxCopySpace &&
        top + bottom <= kMaxCopySpaceTotal + 1e-9)) {
    throw CompositionError(cv::format("the room for copy must be 0 to %.0f%% of the height at each end and %.0f%% in all",
                                      100 * kMaxCopySpace, 100 * kMaxCopySpaceTotal));
  }
  // The rows the product may use: the canvas less the copy bands.
  const int bandTop = static_cast<int>(std::lround(top * canvas.height));
  const int rows = std::max(1, canvas.height - bandTop - static_cast<int>(std::lround(bottom * canvas.height)));
  const int limitW = fillLimit(params.fill, canvas.width);
  const int limitH = fillLimit(params.fill, rows);
  const double sw = double(limitW) / source.width, sh = double(limitH) / source.height;
  int tw, th;
  if (!params.allowUpscale && sw >= 1.0 && sh >= 1.0) {
    tw = source.width;
    th = source.height;
  } else if (sw <= sh) {  // width is the limiting dimension
    tw = limitW;
    th = std::clamp(static_cast<int>(std::lround(source.height * sw)), 1, limitH);
  } else {
    th = limitH;
    tw = std::clamp(static_cast<int>(std::lround(source.width * sh)), 1, limitW);
  }
  return {source, {(canvas.width - tw) / 2, bandTop + (rows - th) / 2, tw, th}};
}

Placement adjustPlacement(const Placement& base, double scale, cv::Point offset) {
  if (!(scale > 0.0) || !std::isfinite(scale)) throw CompositionError("placement scale must be > 0");
  const double cx = base.target.x + base.target.width / 2.0;
  const double cy = base.target.y + base.target.height / 2.0;
  const int w = std::max(1, static_cast<int>(std::lround(base.target.width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(base.target.height * scale)));
  const int x = static_cast<int>(std::floor(cx - w / 2.0)) + offset.x;
  const int y = static_cast<int>(std::floor(cy - h / 2.0)) + offset.y;
  return {base.source, {x, y, w, h}};
}

Placement applyPlacementOverride(const Placement& base, const PlacementOverride& placement, cv::Size canvas) {
  if (!std::isfinite(placement.scale) || placement.scale < kMinPlacementScale || placement.scale > kMaxPlacementScale) {
    char text[96];
    std::snprintf(text, sizeof text, "placement scale must be between %g and %g", kMinPlacementScale,
                  kMaxPlacementScale);
    throw CompositionError(text);
  }
  if (!std::isfinite(placement.dx) || !std::isfinite(placement.dy)) {
    throw CompositionError("placement offset is not a number");
  }
  const cv::Point offset(static_cast<int>(std::lround(placement.dx * canvas.width)),
                         static_cast<int>(std::lround(placement.dy * canvas.height)));
  return adjustPlacement(base, placement.scale, offset);
}

PlacementOverride clampPlacementOverride(const Placement& base, PlacementOverride placement, cv::Size canvas,
                                         double minVisible) {
  if (canvas.width <= 0 || canvas.height <= 0) throw CompositionError("empty canvas");
  if (!std::isfinite(placement.scale)) placement.scale = 1.0;
  placement.scale = std::clamp(placement.scale, kMinPlacementScale, kMaxPlacementScale);
  const cv::Rect scaled = adjustPlacement(base, placement.scale, {}).target;
  // The offsets (whole pixels, so rounding cannot push past them) that keep `minVisible` of the
  // placed size on [0, side): start >= -(1 - f) size and start <= side - f size.
  auto limit = [&](double fraction, int start, int size, int side) {
    if (!std::isfinite(fraction)) return 0.0;
    const double low = std::ceil(-(1.0 - minVisible) * size - start);
    const double high = std::floor(side - minVisible * size - start);
    const double px = fraction * side;
    if (px < low) return low / side;
    if (px > std::max(low, high)) return std::max(low, high) / side;
    return fraction;
  };
  placement.dx = limit(placement.dx, scaled.x, scaled.width, canvas.width);
  placement.dy = limit(placement.dy, scaled.y, scaled.height, canvas.height);
  return placement;
}

Placement productPlacement(const cv::Rect& source, cv::Size canvas, const std::optional<PlacementOverride>& placement,
                           const CompositionParams& params) {
  const Placement base = defaultPlacement(source, canvas, params);
  if (!placement) return base;
  return applyPlacementOverride(base, clampPlacementOverride(base, *placement, canvas), canvas);
}

// ---- Layout ------------------------------------------------------------------------------

ProductShot prepareProduct(const cv::Mat& image, const cv::Mat& alpha, const CompositionParams& params) {
  if (image.empty()) throw CompositionError("the product shot is empty");
  if (image.depth() != CV_8U) {
    throw CompositionError("the product shot must be 8-bit (loadImage converts 16-bit files)");
  }
  ProductShot shot;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, shot.bgr, cv::COLOR_GRAY2BGR); break;
    case 3: shot.bgr = image.clone(); break;
    case 4:
      cv::cvtColor(image, shot.bgr, cv::COLOR_BGRA2BGR);
      if (alpha.empty()) cv::extractChannel(image, shot.alpha, 3);
      break;
    default: throw CompositionError("the product shot must have 1, 3 or 4 channels");
  }
  if (!alpha.empty()) {
    requireAlpha(alpha, image.size(), "the cutout alpha");
    shot.alpha = alpha.clone();
  }
  if (shot.alpha.empty()) {
    throw CompositionError("the product shot has no alpha: run a cutout first. " + std::string(kPaintHint));
  }
  productBox(shot.alpha);  // throws with the hint when there is no product

  const int side = std::max(image.cols, image.rows);
  if (params.maxInputSide > 0 && side > params.maxInputSide) {
    const double f = double(params.maxInputSide) / side;
    const cv::Size to(std::max(1, int(std::lround(image.cols * f))), std::max(1, int(std::lround(image.rows * f))));
    cv::resize(shot.bgr, shot.bgr, to, 0, 0, cv::INTER_AREA);
    cv::resize(shot.alpha, shot.alpha, to, 0, 0, cv::INTER_AREA);
    shot.notes.push_back("the product shot was downscaled from " + sizeText(image.size()) + " to " + sizeText(to) +
                         " (limit " + std::to_string(params.maxInputSide) + " px per side)");
    productBox(shot.alpha);
  }
  // The soft edge's colours without the old backdrop's share (no halo on the new background).
  if (params.estimateForeground) shot.bgr = estimateForeground(shot.bgr, shot.alpha);
  return shot;
}

Layout layoutProduct(const ProductShot& shot, cv::Size canvas, const CompositionParams& params) {
  return layoutProduct(shot, canvas, defaultPlacement(productBox(shot.alpha), canvas, params), params);
}

Layout layoutProduct(const ProductShot& shot, cv::Size canvas, const Placement& placement,
                     const CompositionParams& params) {
  requireBgr(shot.bgr, shot.bgr.size(), "the product shot");
  requireAlpha(shot.alpha, shot.bgr.size(), "the product alpha");
  if (canvas.width <= 0 || canvas.height <= 0) throw CompositionError("empty canvas");
  const cv::Rect src = placement.source;
  const cv::Rect dst = placement.target;
  if (src.area() <= 0 || (src & cv::Rect({}, shot.bgr.size())) != src) {
    throw CompositionError("the placement's source box lies outside the product shot");
  }
  // A runaway zoom must not allocate gigabytes.
  if (dst.width <= 0 || dst.height <= 0 || dst.width > 16 * canvas.width || dst.height > 16 * canvas.height) {
    throw CompositionError("the placement's size is out of range for a " + sizeText(canvas) + " canvas");
  }

  Layout out;
  out.canvas = canvas;
  out.placement = placement;
  out.notes = shot.notes;
  out.product = cv::Mat(canvas, CV_8UC3, params.productFill);
  out.alpha = cv::Mat::zeros(canvas, CV_8UC1);

  // Area averaging when shrinking (no aliasing), bilinear when enlarging (no ringing in alpha).
  const int interp = (dst.width <= src.width && dst.height <= src.height) ? cv::INTER_AREA : cv::INTER_LINEAR;
  cv::Mat bgr, alpha;
  cv::resize(shot.bgr(src), bgr, dst.size(), 0, 0, interp);
  cv::resize(shot.alpha(src), alpha, dst.size(), 0, 0, interp);
  const cv::Rect visible = dst & cv::Rect({}, canvas);
  if (visible.area() > 0) {
    const cv::Rect local = visible - dst.tl();
    bgr(local).copyTo(out.product(visible), alpha(local));
    alpha(local).copyTo(out.alpha(visible));
  }
  if (cv::countNonZero(out.alpha) == 0) {
    throw CompositionError("the product lies outside the canvas; reset its position");
  }
  const double scale = std::max(placement.scaleX(), placement.scaleY());
  if (scale > 2.0) {
    char text[96];
    std::snprintf(text, sizeof text, "the product is enlarged %.1fx; details may look soft", scale);
    out.notes.push_back(std::string(text) + " (use a larger shot)");
  }
  out.mask = inpaintMask(out.alpha, params);
  out.control = controlImage(out.product, out.alpha, params);
  return out;
}

cv::Mat inpaintMask(const cv::Mat& alpha, const CompositionParams& params) {
  requireAlpha(alpha, alpha.size(), "the alpha");
  cv::Mat mask = 255 - alpha;
  if (params.maskKernel > 1) {
    // Default anchor: (k/2, k/2), so an even kernel grows k/2 up/left and k/2-1 down/right.
    cv::dilate(mask, mask, cv::getStructuringElement(cv::MORPH_RECT, {params.maskKernel, params.maskKernel}));
  }
  if (params.binarizeMask) cv::threshold(mask, mask, 127, 255, cv::THRESH_BINARY);
  return mask;
}

cv::Mat controlImage(const cv::Mat& product, const cv::Mat& alpha, const CompositionParams& params) {
  requireAlpha(alpha, alpha.size(), "the alpha");
  requireBgr(product, alpha.size(), "the product image");
  cv::Mat alpha3, premultiplied, edges;
  cv::cvtColor(alpha, alpha3, cv::COLOR_GRAY2BGR);
  cv::multiply(product, alpha3, premultiplied, 1.0 / 255.0);
  cv::Canny(premultiplied, edges, params.cannyLow, params.cannyHigh, params.cannyAperture);
  edges.setTo(0, alpha == 0);
  if (params.controlOutline) {
    // The visible silhouette (alpha >= 128), one pixel wide, on the product side.
    const cv::Mat solid = alpha > 127;
    cv::Mat inner;
    cv::erode(solid, inner, cv::getStructuringElement(cv::MORPH_CROSS, {3, 3}));
    edges.setTo(255, solid & ~inner);
  }
  cv::Mat out;
  cv::cvtColor(edges, out, cv::COLOR_GRAY2BGR);
  return out;
}

// ---- Paste-back --------------------------------------------------------------------------

cv::Mat pasteWeights(const cv::Mat& alpha, double featherPx) {
  requireAlpha(alpha, alpha.size(), "the alpha");
  cv::Mat w;
  alpha.convertTo(w, CV_32F, 1.0 / 255.0);
  if (featherPx > 0.0) {
    cv::Mat dist;  // Euclidean distance to the nearest transparent pixel (1 on the edge)
    cv::distanceTransform(alpha > 0, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
    cv::min(w, dist * (1.0 / (featherPx + 1.0)), w);
  }
  return w;
}

cv::Mat pasteBack(const cv::Mat& generated, const Layout& layout, const CompositionParams& params) {
  return pasteBack(generated, layout.product, layout.alpha, params.featherPx);
}

cv::Mat pasteBack(const cv::Mat& generated, const cv::Mat& product, const cv::Mat& alpha, double featherPx) {
  requireAlpha(alpha, alpha.size(), "the alpha");
  requireBgr(generated, alpha.size(), "the generated image");
  requireBgr(product, alpha.size(), "the product image");
  cv::Mat out = generated.clone();
  // Only the product's box (plus the 1-px ring of transparent pixels the distances need).
  const cv::Rect box = (cv::boundingRect(alpha) + cv::Size(2, 2) - cv::Point(1, 1)) & cv::Rect({}, alpha.size());
  if (box.area() == 0) return out;
  const cv::Mat w = pasteWeights(alpha(box), featherPx);
  for (int y = 0; y < box.height; ++y) {
    const float* wr = w.ptr<float>(y);
    const cv::Vec3b* pr = product.ptr<cv::Vec3b>(box.y + y) + box.x;
    cv::Vec3b* orow = out.ptr<cv::Vec3b>(box.y + y) + box.x;
    for (int x = 0; x < box.width; ++x) {
      const float a = wr[x];
      if (a <= 0.f) continue;  // background: untouched
      if (a >= 1.f) {          // opaque core: bit-identical product pixel
        orow[x] = pr[x];
        continue;
      }
      for (int c = 0; c < 3; ++c) {
        orow[x][c] = cv::saturate_cast<uchar>(pr[x][c] * a + orow[x][c] * (1.f - a));
      }
    }
  }
  return out;
}

}  // namespace caig
