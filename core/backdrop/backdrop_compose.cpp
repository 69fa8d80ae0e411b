// Composing a placed product onto a rendered backdrop: contact shadow, reflection, paste.

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "core/backdrop/backdrop_renderer.h"
#include "core/generation/composition.h"

namespace caig {
namespace {

constexpr float kPi = 3.14159265359f;

// The product's footprint: bounding box, lowest opaque row and the width of its base.
struct Footprint {
  cv::Rect box;
  int baseY = 0;
  float baseX0 = 0, baseX1 = 0;
};

bool footprint(const cv::Mat& alpha, Footprint& f) {
  cv::Mat solid = alpha > 127;
  f.box = cv::boundingRect(solid);
  if (f.box.empty()) return false;
  f.baseY = f.box.y + f.box.height - 1;
  // The base: opaque columns within the bottom 6% of the product's height.
  const int band = std::max(1, f.box.height * 6 / 100);
  const cv::Rect bottom(f.box.x, f.baseY - band + 1, f.box.width, band);
  cv::Mat cols;
  cv::reduce(solid(bottom), cols, 0, cv::REDUCE_MAX);
  int x0 = -1, x1 = -1;
  for (int x = 0; x < cols.cols; ++x)
    if (cols.at<uchar>(0, x)) {
      if (x0 < 0) x0 = x;
      x1 = x;
    }
  f.baseX0 = static_cast<float>(f.box.x + x0);
  f.baseX1 = static_cast<float>(f.box.x + x1 + 1);
  return true;
}

void checkInputs(const cv::Mat& backdrop, const cv::Mat& bgr, const cv::Mat& alpha) {
  if (backdrop.type() != CV_8UC3) throw std::invalid_argument("composeProduct: backdrop must be CV_8UC3");
  if (bgr.type() != CV_8UC3 && bgr.type() != CV_8UC4)
    throw std::invalid_argument("composeProduct: product pixels must be CV_8UC3 or CV_8UC4");
  if (alpha.type() != CV_8UC1) throw std::invalid_argument("composeProduct: alpha must be CV_8UC1");
  if (bgr.size() != backdrop.size() || alpha.size() != backdrop.size())
    throw std::invalid_argument("composeProduct: product and alpha must have the backdrop's size");
}

// Shadow strength in [0,1] at canvas size: a tight dark ellipse under the base plus the
// silhouette laid flat on the floor away from the light, both blurred; computed at 1/4 scale.
cv::Mat1f shadowMap(const BackdropSpec& s, const cv::Mat& alpha, const Footprint& f) {
  const cv::Size size = alpha.size();
  const double q = 0.25;
  const cv::Size small(std::max(1, int(size.width * q + 0.5)), std::max(1, int(size.height * q + 0.5)));
  const float fx = float(small.width) / size.width, fy = float(small.height) / size.height;
  const float footW = std::max(2.f, f.baseX1 - f.baseX0);
  const float soft = static_cast<float>(s.shadowSoftness);

  cv::Mat1f tight = cv::Mat1f::zeros(small);
  const cv::Point2f centre(0.5f * (f.baseX0 + f.baseX1) * fx, (f.baseY + 0.5f) * fy);
  const cv::Size2f axes(0.5f * footW * fx * 1.02f, std::max(0.75f, footW * 0.045f * fy));
  cv::ellipse(tight, cv::RotatedRect(centre, cv::Size2f(2 * axes.width, 2 * axes.height), 0), cv::Scalar(1.0),
              cv::FILLED, cv::LINE_AA);
  cv::GaussianBlur(tight, tight, cv::Size(0, 0), std::max(0.6f, footW * fx * (0.015f + 0.05f * soft)));

  // Cast shadow: rows above the base fold down onto the floor plane behind the product
  // (squashed to 12%) and shear away from the light.
  cv::Mat a8;
  cv::resize(alpha, a8, small, 0, 0, cv::INTER_AREA);
  cv::Mat1f a;
  a8.convertTo(a, CV_32F, 1.0 / 255.0);
  const float la = static_cast<float>(s.lightAngle) * kPi / 180.f;
  const float yb = (f.baseY + 0.5f) * fy, squash = 0.12f, shear = -0.35f * std::sin(la);
  // dst = [x + shear*(yb - y), yb - squash*(yb - y)]
  const cv::Matx23f m(1.f, -shear, shear * yb, 0.f, squash, yb * (1.f - squash));
  cv::Mat1f cast;
  cv::warpAffine(a, cast, m, small, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0));
  cv::GaussianBlur(cast, cast, cv::Size(0, 0), std::max(0.8f, f.box.height * fy * (0.02f + 0.06f * soft)));

  cv::Mat both;
  cv::max(cv::Mat(tight * 0.9f), cv::Mat(cast * 0.55f), both);
  cv::Mat1f big;
  cv::resize(both, big, size, 0, 0, cv::INTER_LINEAR);
  return big;
}

}  // namespace

BackdropSpec fitSpecToProduct(const BackdropSpec& spec, const cv::Mat& alpha, double copyBottom) {
  BackdropSpec s = spec;
  clampSpec(s);
  Footprint f;
  if (alpha.empty() || alpha.type() != CV_8UC1 || !footprint(alpha, f)) return s;
  const double W = alpha.cols, H = alpha.rows;
  s.podium.centerX = (f.box.x + 0.5 * f.box.width) / W;
  s.podium.top = std::clamp((f.baseY + 0.5) / H, 0.0, 1.0);
  s.podium.width = std::clamp(std::max(s.podium.width, 1.3 * f.box.width / W), 0.05, 1.5);
  if (copyBottom > 0.0 && s.podium.shape != PodiumShape::None) {
    // drawPodium reaches 3 top-face half-heights (0.08 x its width each) below its body: the
    // ambient occlusion where it meets the floor.
    const double room = 1.0 - copyBottom - s.podium.top - 0.24 * s.podium.width * W / H;
    if (room < 0.02) {
      s.podium.shape = PodiumShape::None;
    } else {
      s.podium.height = std::min(s.podium.height, room);
    }
  }
  // A table's far edge must stay behind the product, not cut through its base.
  if (s.layout == BackdropLayout::FloorHorizon || s.layout == BackdropLayout::Sweep) {
    const double maxHorizon = (f.baseY - 0.22 * f.box.height) / H;
    s.horizon = std::clamp(std::min(s.horizon, maxHorizon), 0.2, 0.95);
  }
  return s;
}

cv::Mat composeProduct(const BackdropSpec& specIn, const cv::Mat& backdrop, const cv::Mat& productBgr,
                       const cv::Mat& productAlpha) {
  checkInputs(backdrop, productBgr, productAlpha);
  BackdropSpec s = specIn;
  clampSpec(s);
  cv::Mat product = productBgr;
  if (product.type() == CV_8UC4) cv::cvtColor(productBgr, product, cv::COLOR_BGRA2BGR);
  Footprint f;
  if (!footprint(productAlpha, f)) {
    // Nothing opaque: blend what there is, no shadow to cast.
    cv::Mat out = backdrop.clone();
    product.copyTo(out, productAlpha == 255);
    return out;
  }
  cv::Mat3f bg;
  backdrop.convertTo(bg, CV_32FC3);
  if (s.shadowOpacity > 0.0) {
    const cv::Mat1f shadow = shadowMap(s, productAlpha, f);
    const float k = static_cast<float>(s.shadowOpacity);
    for (int y = 0; y < bg.rows; ++y) {
      cv::Vec3f* p = bg.ptr<cv::Vec3f>(y);
      const float* sh = shadow.ptr<float>(y);
      for (int x = 0; x < bg.cols; ++x) p[x] *= 1.f - k * sh[x];
    }
  }
  if (s.reflection > 0.0) {
    // Mirror of the product about its base row, fading with distance from the base.
    const int len = std::min(bg.rows - 1 - f.baseY, std::max(1, int(0.35 * f.box.height)));
    const float k = static_cast<float>(s.reflection) * 0.55f;
    for (int d = 1; d <= len; ++d) {
      const int y = f.baseY + d, ys = f.baseY - d + 1;
      if (ys < 0) break;
      const float fade = k * (1.f - float(d) / (len + 1)) * (1.f - float(d) / (len + 1));
      cv::Vec3f* p = bg.ptr<cv::Vec3f>(y);
      const cv::Vec3b* src = product.ptr<cv::Vec3b>(ys);
      const uchar* a = productAlpha.ptr<uchar>(ys);
      for (int x = f.box.x; x < f.box.x + f.box.width; ++x) {
        const float w = fade * a[x] * (1.f / 255.f);
        const cv::Vec3f c(src[x][0], src[x][1], src[x][2]);
        p[x] += (c - p[x]) * w;
      }
    }
  }
  cv::Mat shaded;
  bg.convertTo(shaded, CV_8UC3);
  // The same paste-back rule as for generated backgrounds: product pixels bit-exact inside the
  // opaque alpha, a feathered edge, nothing outside the alpha.
  return pasteBack(shaded, product, productAlpha, CompositionParams{}.featherPx);
}

cv::Mat renderAd(const BackdropSpec& spec, const cv::Mat& productBgr, const cv::Mat& productAlpha, double copyBottom) {
  if (productAlpha.type() != CV_8UC1) throw std::invalid_argument("renderAd: alpha must be CV_8UC1");
  const BackdropSpec fitted = fitSpecToProduct(spec, productAlpha, copyBottom);
  return composeProduct(fitted, renderBackdrop(fitted, productAlpha.size()), productBgr, productAlpha);
}

}  // namespace caig
