#pragma once
// CAIG's composition rules: where the product sits on the ad canvas, the inpainting mask, the
// ControlNet canny control image, and pasting the original product pixels back over a generated
// background. Defaults are CAIG's (product <= 0.78 of the canvas, centred; mask = inverse alpha
// dilated 20x20; canny 100/200 of the product only; paste-back through the undilated alpha);
// every number can be changed through CompositionParams. Qt-free and Torch-free.

#include <opencv2/core.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

class CompositionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- Ad sizes ----------------------------------------------------------------------------

struct AdPreset {
  std::string id;     // "1:1-1080", "4:5", ...
  std::string label;  // its name, without the size: "Portrait 4:5"
  cv::Size size;      // final export size in pixels
};

// How the UI names a preset, with its size once: "Portrait 4:5 · 1080×1350".
std::string adPresetText(const AdPreset& preset);

// 1:1 (512, 1024, 1080), 4:5 (1080x1350), 9:16 (1080x1920), 1.91:1 (1200x628).
const std::vector<AdPreset>& adPresets();
// Throws CompositionError for an unknown id.
const AdPreset& adPreset(const std::string& id);

// The generator's working size: `size` scaled so that its long side is `longSide`, both sides
// rounded to the nearest multiple of `multiple` (never below `multiple`). SD1.5: longSide 512.
cv::Size workingSize(cv::Size size, int longSide, int multiple = 8);

// ---- Parameters --------------------------------------------------------------------------

struct CompositionParams {
  double fill = 0.78;        // product bounding box <= fill x canvas, in both dimensions
  bool allowUpscale = true;  // false: a small product keeps its pixel size
  int maskKernel = 20;       // square dilation kernel (OpenCV anchor: centre, i.e. 10 for 20)
  bool binarizeMask = true;  // diffusers binarises the mask at 0.5 anyway
  double cannyLow = 100.0;
  double cannyHigh = 200.0;
  int cannyAperture = 3;
  bool controlOutline = true;             // add the product's 1-px inner silhouette to the control edges
  double featherPx = 1.5;                 // paste-back ramp width inside the alpha edge (0 = hard)
  int maxInputSide = 4096;                // larger product shots are downscaled first (with a note)
  // Soft-edge pixels get their estimated foreground colour (core/image/foreground.h), so the old
  // backdrop does not show as a halo; opaque pixels stay bit-identical.
  bool estimateForeground = true;
  cv::Scalar productFill{255, 255, 255};  // colour of canvas pixels outside the product
  // Room for copy: these fractions of the canvas height, at the top and at the bottom, are kept
  // free of the product (a headline, a call to action); the fill rule applies to what is left.
  double copyTop = 0.0;
  double copyBottom = 0.0;
};

// The largest room for copy at either end, and both together.
inline constexpr double kMaxCopySpace = 0.4;
inline constexpr double kMaxCopySpaceTotal = 0.6;

// ---- Placement ---------------------------------------------------------------------------

// The product's alpha bounding box `source` (input pixels) is resized to `target` (canvas
// pixels). Integer rectangles so that "fills 0.78, centred" holds to the pixel. `target` may
// reach past the canvas after a user override; rendering clips it.
struct Placement {
  cv::Rect source;
  cv::Rect target;
  double scaleX() const { return double(target.width) / source.width; }
  double scaleY() const { return double(target.height) / source.height; }
  // canvas = M * (x, y, 1): input pixel coordinates -> canvas coordinates (for the UI overlay).
  cv::Matx23d transform() const;
};

// Bounding box of alpha > 0. Throws CompositionError (with the "paint a mask" hint) if empty.
cv::Rect productBox(const cv::Mat& alpha);

// CAIG's default placement: the limiting dimension of the box becomes floor(fill x canvas)
// pixels, the other keeps the aspect ratio (rounded), and the box is centred (left/top margin
// = floor of half the free space). With room for copy (params.copyTop / copyBottom), "canvas"
// means the rows between those bands. Throws CompositionError for copy space out of range.
Placement defaultPlacement(const cv::Rect& source, cv::Size canvas, const CompositionParams& params = {});

// A user's drag/zoom on top of a placement: the target is scaled by `scale` about its centre,
// then moved by `offset` canvas pixels. scale must be > 0; the target is kept >= 1 px.
Placement adjustPlacement(const Placement& base, double scale, cv::Point offset);

// The user's placement of a product, independent of the ad size so that one override serves
// every preset: `scale` multiplies CAIG's default placement about its centre, and (dx, dy) moves
// it by that fraction of the canvas width and height.
struct PlacementOverride {
  double scale = 1.0;
  double dx = 0.0;
  double dy = 0.0;
  bool operator==(const PlacementOverride& o) const { return scale == o.scale && dx == o.dx && dy == o.dy; }
  bool operator!=(const PlacementOverride& o) const { return !(*this == o); }
};
inline constexpr double kMinPlacementScale = 0.1;
inline constexpr double kMaxPlacementScale = 4.0;
// How much of the product's width and of its height must stay on the canvas.
inline constexpr double kMinVisibleFraction = 0.1;

// `base` (CAIG's default placement on `canvas`) under the override: adjustPlacement with the
// offset round(dx x width), round(dy x height) pixels. Throws CompositionError for a scale
// outside [kMinPlacementScale, kMaxPlacementScale] or a non-finite number.
Placement applyPlacementOverride(const Placement& base, const PlacementOverride& placement, cv::Size canvas);

// The override with its scale brought into range and its offset limited so that at least
// `minVisible` of the placed product's width and of its height stay on the canvas (non-finite
// numbers become the default's). Rounding of the offset may cost one pixel.
PlacementOverride clampPlacementOverride(const Placement& base, PlacementOverride placement, cv::Size canvas,
                                         double minVisible = kMinVisibleFraction);

// Where the product goes on `canvas`: CAIG's default placement, under the (clamped) override
// when there is one. What generation and the studio's Place tool both use.
Placement productPlacement(const cv::Rect& source, cv::Size canvas, const std::optional<PlacementOverride>& placement,
                           const CompositionParams& params = {});

// ---- Layout ------------------------------------------------------------------------------

// A product shot ready for composition: BGR pixels + alpha, at most maxInputSide per side.
struct ProductShot {
  cv::Mat bgr;                     // CV_8UC3
  cv::Mat alpha;                   // CV_8UC1, 255 = product
  std::vector<std::string> notes;  // e.g. "downscaled from 6000x4000 to 4096x2731"
};

// `image`: CV_8UC4 BGRA (alpha used when `alpha` is empty) or CV_8UC3 BGR with `alpha`
// (CV_8UC1 of the same size, e.g. from a cutout). Grey and 16-bit files are already normalised
// by loadImage. Throws CompositionError for a missing/empty alpha or mismatched sizes.
ProductShot prepareProduct(const cv::Mat& image, const cv::Mat& alpha = {}, const CompositionParams& params = {});

struct Layout {
  cv::Size canvas;
  Placement placement;
  cv::Mat product;  // CV_8UC3 canvas: the product's pixels, productFill elsewhere
  cv::Mat alpha;    // CV_8UC1 canvas alpha, undilated
  cv::Mat mask;     // CV_8UC1 inpainting mask: 255 = repaint (background), 0 = keep (product)
  cv::Mat control;  // CV_8UC3 canny control image; zero wherever alpha is zero
  std::vector<std::string> notes;
};

// Lays the product out on a canvas with the default placement, or with `placement` when given
// (its source must lie inside the prepared shot).
Layout layoutProduct(const ProductShot& shot, cv::Size canvas, const CompositionParams& params = {});
Layout layoutProduct(const ProductShot& shot, cv::Size canvas, const Placement& placement,
                     const CompositionParams& params = {});

// The inpainting mask alone: dilate(255 - alpha, kernel x kernel ones), binarised if asked.
cv::Mat inpaintMask(const cv::Mat& alpha, const CompositionParams& params = {});

// The control image alone. Background pixels never contribute: Canny runs on the product
// premultiplied by its alpha (transparent pixels are black whatever the shot had there), and
// edge pixels that fall on alpha == 0 are dropped (Canny puts half of a step edge outside).
// With controlOutline, the 1-px inner boundary of alpha > 0 is added so the silhouette is
// closed on every side. Output is 3-channel, 0/255, like ControlNet canny images.
cv::Mat controlImage(const cv::Mat& product, const cv::Mat& alpha, const CompositionParams& params = {});

// ---- Paste-back --------------------------------------------------------------------------

// Blend weights for paste-back, CV_32F in [0, 1]: alpha/255, ramped to 0 over featherPx pixels
// inside the alpha edge (weight <= distance to the nearest alpha == 0 pixel / (featherPx + 1)).
// Never non-zero where alpha is zero, so no halo; exactly 1 in the opaque core.
cv::Mat pasteWeights(const cv::Mat& alpha, double featherPx);

// The layout's product pixels over `generated` (canvas-sized CV_8UC3 BGR). Where the weight is 1
// the product pixel is copied bit for bit; where it is 0 the generated pixel is untouched.
cv::Mat pasteBack(const cv::Mat& generated, const Layout& layout, const CompositionParams& params = {});
cv::Mat pasteBack(const cv::Mat& generated, const cv::Mat& product, const cv::Mat& alpha, double featherPx);

}  // namespace caig
