#include "core/backdrop/backdrop_renderer.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "core/backdrop/backdrop_surfaces.h"
#include "core/base/splitmix.h"

namespace caig {
namespace {

constexpr float kPi = 3.14159265359f;

float smoothstep(float e0, float e1, float x) {
  const float t = std::clamp((x - e0) / (e1 - e0), 0.f, 1.f);
  return t * t * (3.f - 2.f * t);
}

cv::Vec3f toFloat(const cv::Vec3b& c) { return cv::Vec3f(c[0], c[1], c[2]) * (1.f / 255.f); }

// Bilinear enlargement of a small CV_32F field one output row at a time, with the sample
// positions of cv::resize(INTER_LINEAR): smooth fields are never stored at full size.
class RowUpsampler {
 public:
  RowUpsampler(const cv::Mat& src, cv::Size dst) : src_(src), cn_(src.channels()) {
    const double sx = double(src.cols) / dst.width;
    sy_ = double(src.rows) / dst.height;
    x0_.resize(dst.width);
    x1_.resize(dst.width);
    wx_.resize(dst.width);
    for (int x = 0; x < dst.width; ++x) {
      const float f = static_cast<float>((x + 0.5) * sx - 0.5);
      int i = static_cast<int>(std::floor(f));
      float w = f - i;
      if (i < 0) i = 0, w = 0.f;
      if (i >= src.cols - 1) i = src.cols - 1, w = 0.f;
      x0_[x] = i * cn_;
      x1_[x] = std::min(i + 1, src.cols - 1) * cn_;
      wx_[x] = w;
    }
    col_.resize(std::size_t(src.cols) * cn_);
    row_.resize(std::size_t(dst.width) * cn_);
  }
  // The enlarged row y (width * channels floats, valid until the next call).
  const float* row(int y) {
    const float f = static_cast<float>((y + 0.5) * sy_ - 0.5);
    int i = static_cast<int>(std::floor(f));
    float w = f - i;
    if (i < 0) i = 0, w = 0.f;
    if (i >= src_.rows - 1) i = src_.rows - 1, w = 0.f;
    const float* a = src_.ptr<float>(i);
    const float* b = src_.ptr<float>(std::min(i + 1, src_.rows - 1));
    const int n = src_.cols * cn_;
    for (int k = 0; k < n; ++k) col_[k] = a[k] + (b[k] - a[k]) * w;
    const int W = static_cast<int>(wx_.size());
    float* out = row_.data();
    if (cn_ == 1) {
      for (int x = 0; x < W; ++x) {
        const float c0 = col_[x0_[x]];
        out[x] = c0 + (col_[x1_[x]] - c0) * wx_[x];
      }
    } else {
      for (int x = 0; x < W; ++x)
        for (int c = 0; c < cn_; ++c) {
          const float c0 = col_[x0_[x] + c];
          out[x * cn_ + c] = c0 + (col_[x1_[x] + c] - c0) * wx_[x];
        }
    }
    return out;
  }

 private:
  cv::Mat src_;
  int cn_;
  double sy_;
  std::vector<int> x0_, x1_;
  std::vector<float> wx_, col_, row_;
};

// Fraction of the way from wall to floor for each row (floor layouts only).
std::vector<float> floorRows(const BackdropSpec& s, int H) {
  std::vector<float> w(H, 0.f);
  const float hy = static_cast<float>(s.horizon * H);
  for (int y = 0; y < H; ++y) {
    const float yc = y + 0.5f;
    if (s.layout == BackdropLayout::Sweep)
      w[y] = smoothstep(hy - 0.10f * H, hy + 0.14f * H, yc);  // the paper's curve: no edge
    else if (s.layout == BackdropLayout::FloorHorizon)
      w[y] = std::clamp(yc - hy + 0.5f, 0.f, 1.f);  // one anti-aliased pixel
  }
  return w;
}

// Smooth fields at quarter resolution (enlarged row by row while composing): light
// (multiplier) and colour mix.
void lightFields(const BackdropSpec& s, cv::Size size, cv::Mat1f& light, cv::Mat1f& colourMix) {
  const int lw = std::max(2, (size.width + 3) / 4), lh = std::max(2, (size.height + 3) / 4);
  cv::Mat1f L(lh, lw), M(lh, lw);
  const float W = static_cast<float>(size.width), H = static_cast<float>(size.height);
  const float S = std::sqrt(W * H);
  const float a = static_cast<float>(s.lightAngle) * kPi / 180.f;
  const float cx = 0.5f + 0.3f * std::sin(a), cy = 0.45f - 0.15f * std::cos(a);
  const float sigma = 0.22f + 0.45f * static_cast<float>(s.lightSoftness);
  const float inten = static_cast<float>(s.lightIntensity);
  const float hz = static_cast<float>(s.horizon);
  // Window: a parallelogram of four panes, sheared by the light's angle, on the far side.
  const float wx = 0.5f - 0.22f * std::sin(a), wy = 0.36f, ww = 0.42f, wh = 0.5f;
  const float shear = 0.6f * std::sin(a), mull = 0.018f;
  cv::Mat1f window;
  if (s.layout == BackdropLayout::WindowLight) window = cv::Mat1f::zeros(lh, lw);
  for (int y = 0; y < lh; ++y) {
    const float v = (y + 0.5f) / lh;
    for (int x = 0; x < lw; ++x) {
      const float u = (x + 0.5f) / lw;
      const float dx = (u - cx) * W / S, dy = (v - cy) * H / S;
      const float g = std::exp(-(dx * dx + dy * dy) / (2.f * sigma * sigma));
      float l = 1.f - 0.5f * inten * (1.f - g);
      float m = 0.f;
      switch (s.layout) {
        case BackdropLayout::Sweep: {
          const float wallPart = 1.f - smoothstep(hz - 0.1f, hz + 0.14f, v);
          const float up = 1.f - std::min(1.f, v / hz);
          l *= 1.f - 0.28f * inten * up * up * wallPart;
          break;
        }
        case BackdropLayout::FloorHorizon:
          l *= v < hz ? 0.93f : 1.f - 0.12f * inten * (v - hz) / (1.f - hz);
          break;
        case BackdropLayout::LinearGradient: {
          // Along the light's direction: wall colour where the light is, floor colour away.
          const float t = (u - 0.5f) * std::sin(a) * W / S - (v - 0.5f) * std::cos(a) * H / S;
          m = smoothstep(0.55f, -0.6f, t);
          break;
        }
        case BackdropLayout::RadialGradient:
          m = smoothstep(0.05f, 0.95f, std::sqrt(dx * dx + dy * dy) / (0.5f + 0.5f * sigma));
          break;
        case BackdropLayout::WindowLight: {
          const float uu = u - wx - shear * (v - wy);
          const float vv = v - wy;
          if (std::fabs(uu) < ww / 2 && std::fabs(vv) < wh / 2 && std::fabs(uu) > mull && std::fabs(vv) > mull)
            window(y, x) = 1.f;
          l *= 0.9f;
          break;
        }
      }
      L(y, x) = l;
      M(y, x) = m;
    }
  }
  if (!window.empty()) {
    const double blur = (0.01 + 0.06 * s.lightSoftness) * std::sqrt(double(lw) * lh);
    cv::GaussianBlur(window, window, cv::Size(0, 0), blur);
    cv::scaleAdd(window, 0.35 * inten + 0.08, L, L);
  }
  // Vignette, applied last so that it darkens corners of every layout alike.
  const float vig = static_cast<float>(s.vignette);
  for (int y = 0; y < lh; ++y)
    for (int x = 0; x < lw; ++x) {
      const float du = ((x + 0.5f) / lw - 0.5f) * 2.f, dv = ((y + 0.5f) / lh - 0.5f) * 2.f;
      const float r = std::sqrt(du * du + dv * dv) / 1.41421356f;
      L(y, x) *= 1.f - 0.55f * vig * smoothstep(0.35f, 1.05f, r);
    }
  light = L;
  colourMix = M;
}

// Index reflected into [0, n) like cv::BORDER_REFLECT_101.
inline int reflect101(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// Floor texture seen in perspective: rows compress towards the horizon, columns widen.
// Sampled (bilinear, reflected borders) one output row at a time, only where the floor shows.
class FloorPerspective {
 public:
  FloorPerspective(const backdrop::Surface& flat, const BackdropSpec& s, cv::Size size)
      : flat_(flat), W_(size.width), H_(size.height), hy_(static_cast<float>(s.horizon * size.height)),
        shade_(size.width), accent_(size.width) {}
  void row(int y, const float*& shade, const float*& accent) {
    const float d = std::clamp((y + 0.5f - hy_) / (H_ - hy_), 0.f, 1.f);
    const float z = 1.f / (0.22f + 0.78f * d);  // 1 at the bottom, ~4.5 at the horizon
    const float ty = H_ - (z - 1.f) * H_ / 3.5f;
    const int iy = static_cast<int>(std::floor(ty));
    const float wy = ty - iy;
    const int r0 = reflect101(iy, H_), r1 = reflect101(iy + 1, H_);
    const float *s0 = flat_.shade.ptr<float>(r0), *s1 = flat_.shade.ptr<float>(r1);
    const float *a0 = flat_.accent.ptr<float>(r0), *a1 = flat_.accent.ptr<float>(r1);
    const float k = z * 0.7f, x0 = W_ * 0.5f - W_ * 0.5f * k;
    for (int x = 0; x < W_; ++x) {
      const float fx = x0 + x * k;
      const int ix = static_cast<int>(std::floor(fx));
      const float wx = fx - ix;
      int c0 = ix, c1 = ix + 1;
      if (c0 < 0 || c1 >= W_) c0 = reflect101(c0, W_), c1 = reflect101(c1, W_);
      const float sa = s0[c0] + (s0[c1] - s0[c0]) * wx, sb = s1[c0] + (s1[c1] - s1[c0]) * wx;
      const float aa = a0[c0] + (a0[c1] - a0[c0]) * wx, ab = a1[c0] + (a1[c1] - a1[c0]) * wx;
      shade_[x] = sa + (sb - sa) * wy;
      accent_[x] = aa + (ab - aa) * wy;
    }
    shade = shade_.data();
    accent = accent_.data();
  }

 private:
  backdrop::Surface flat_;
  int W_, H_;
  float hy_;
  std::vector<float> shade_, accent_;
};

// Out-of-focus light discs on the wall, blurred with the depth of field; added in screen mode.
void addBokeh(const BackdropSpec& s, cv::Mat3f& img, cv::RNG& rng) {
  const cv::Size size = img.size();
  const int lw = std::max(2, size.width / 4), lh = std::max(2, size.height / 4);
  cv::Mat3f layer = cv::Mat3f::zeros(lh, lw);
  const float S = std::sqrt(float(lw) * lh);
  const int count = static_cast<int>(6 + 34 * s.bokeh);
  const cv::Vec3f tint = toFloat(s.wallColour) * 0.4f + cv::Vec3f(0.6f, 0.6f, 0.6f);
  const bool floors = s.layout == BackdropLayout::Sweep || s.layout == BackdropLayout::FloorHorizon;
  const double maxY = floors ? s.horizon * lh : lh;
  cv::Mat1f disc;
  for (int i = 0; i < count; ++i) {
    const float r = S * static_cast<float>(rng.uniform(0.012, 0.05));
    const float x = static_cast<float>(rng.uniform(0.0, double(lw)));
    const float y = static_cast<float>(rng.uniform(0.0, maxY));
    const float k = static_cast<float>(s.bokeh * rng.uniform(0.06, 0.22));
    const cv::Rect box = cv::Rect(int(x - r - 2), int(y - r - 2), int(2 * r + 5), int(2 * r + 5)) & cv::Rect(0, 0, lw, lh);
    if (box.empty()) continue;
    disc = cv::Mat1f::zeros(box.size());
    // Sub-pixel centre and radius (shift 4): discs stay round at quarter resolution.
    cv::circle(disc, cv::Point(int((x - box.x) * 16), int((y - box.y) * 16)), int(r * 16), cv::Scalar(1.0),
               cv::FILLED, cv::LINE_AA, 4);
    cv::Mat3f roi = layer(box);
    for (int yy = 0; yy < box.height; ++yy)
      for (int xx = 0; xx < box.width; ++xx) roi(yy, xx) += tint * (k * disc(yy, xx));
  }
  cv::GaussianBlur(layer, layer, cv::Size(0, 0), 0.6 + 2.5 * s.depthBlur);
  // screen: 1 - (1 - a)(1 - b), with the layer enlarged row by row.
  RowUpsampler up(layer, size);
  const int n = 3 * size.width;
  for (int y = 0; y < size.height; ++y) {
    const float* b = up.row(y);
    float* p = img.ptr<float>(y);
    for (int i = 0; i < n; ++i) p[i] = 1.f - (1.f - p[i]) * (1.f - b[i]);
  }
}

void depthOfField(const BackdropSpec& s, cv::Mat3f& img, const std::vector<float>& floorW) {
  const cv::Size size = img.size();
  const float H = static_cast<float>(size.height);
  const cv::Size small(std::max(2, size.width / 4), std::max(2, size.height / 4));
  cv::Mat3f lo;
  cv::resize(img, lo, small, 0, 0, cv::INTER_AREA);
  cv::GaussianBlur(lo, lo, cv::Size(0, 0), 0.5 + 0.012 * s.depthBlur * std::sqrt(double(small.area())));
  RowUpsampler up(lo, size);
  const float amount = std::min(1.f, static_cast<float>(s.depthBlur) * 2.5f);
  const float hy = static_cast<float>(s.horizon) * H;
  for (int y = 0; y < size.height; ++y) {
    // The wall and far floor are out of focus; the floor near the product is sharp.
    const float near = floorW[y] * smoothstep(hy, hy + 0.3f * (H - hy), float(y));
    const float w = amount * (1.f - near);
    if (w <= 0.f) continue;
    float* p = img.ptr<float>(y);
    const float* b = up.row(y);
    for (int i = 0; i < 3 * size.width; ++i) p[i] += (b[i] - p[i]) * w;
  }
}

// Signed distance (pixels, negative inside) to an axis-aligned ellipse, first-order accurate.
float ellipseDist(float px, float py, float a, float b) {
  const float f = (px * px) / (a * a) + (py * py) / (b * b) - 1.f;
  const float gx = 2.f * px / (a * a), gy = 2.f * py / (b * b);
  return f / std::max(1e-4f, std::sqrt(gx * gx + gy * gy));
}

void drawPodium(const BackdropSpec& s, cv::Mat3f& img, cv::RNG& rng) {
  const PodiumSpec& p = s.podium;
  if (p.shape == PodiumShape::None) return;
  const int W = img.cols, H = img.rows;
  const float cx = static_cast<float>(p.centerX * W), ty = static_cast<float>(p.top * H);
  const float a = static_cast<float>(p.width * W * 0.5), b = a * 0.16f;
  const float h = static_cast<float>(p.height * H);
  const cv::Rect box = cv::Rect(int(cx - a - 3), int(ty - b - 3), int(2 * a + 7), int(h + 2 * b + 7)) & cv::Rect(0, 0, W, H);
  if (box.empty()) return;
  // Ambient occlusion where the podium meets the floor.
  {
    const cv::Rect sbox = cv::Rect(int(cx - 1.4f * a), int(ty + h - 3 * b), int(2.8f * a), int(6 * b)) & cv::Rect(0, 0, W, H);
    if (!sbox.empty()) {
      cv::Mat1f sh = cv::Mat1f::zeros(sbox.size());
      cv::ellipse(sh, cv::Point2f(cx - sbox.x, ty + h + 0.3f * b - sbox.y), cv::Size2f(2.2f * a, 2.6f * b), 0, 0, 360,
                  cv::Scalar(1.0), cv::FILLED, cv::LINE_AA);
      cv::GaussianBlur(sh, sh, cv::Size(0, 0), std::max(1.f, 0.5f * b));
      cv::Mat3f roi = img(sbox);
      for (int y = 0; y < sbox.height; ++y)
        for (int x = 0; x < sbox.width; ++x) roi(y, x) *= 1.f - 0.35f * sh(y, x);
    }
  }
  const double unit = std::sqrt(double(W) * H) / 1024.0 * s.materialScale;
  const backdrop::Surface tex = backdrop::makeSurface(p.material, box.size(), unit, s.materialContrast, rng);
  const cv::Vec3f base = toFloat(p.colour), accent = toFloat(s.accentColour);
  const float la = static_cast<float>(s.lightAngle) * kPi / 180.f;
  const float lx = 0.75f * std::sin(la), lz = 0.66f;
  const bool cyl = p.shape == PodiumShape::Cylinder;
  for (int yy = 0; yy < box.height; ++yy) {
    const float y = box.y + yy + 0.5f;
    cv::Vec3f* row = img.ptr<cv::Vec3f>(box.y + yy);
    for (int xx = 0; xx < box.width; ++xx) {
      const float x = box.x + xx + 0.5f;
      float dTop, dBody;
      if (cyl) {
        dTop = ellipseDist(x - cx, y - ty, a, b);
        const float dRect = std::max(std::fabs(x - cx) - a, std::max(ty - y, y - (ty + h)));
        dBody = std::min(dRect, ellipseDist(x - cx, y - ty - h, a, b));
      } else {
        // Box: top face a trapezoid (back edge narrower), front face a rectangle below it.
        const float back = ty - b, front = ty + b, t = std::clamp((y - back) / (2 * b), 0.f, 1.f);
        const float half = a * (0.88f + 0.12f * t);
        dTop = std::max(std::fabs(x - cx) - half, std::max(back - y, y - front));
        dBody = std::max(std::fabs(x - cx) - a, std::max(front - y, y - (front + h)));
      }
      const float cover = std::clamp(0.5f - std::min(dTop, dBody), 0.f, 1.f);
      if (cover <= 0.f) continue;
      const float topW = std::clamp(0.5f - dTop, 0.f, 1.f);
      const float nx = std::clamp((x - cx) / a, -1.f, 1.f);
      float bodyShade;
      if (cyl) {
        const float nz = std::sqrt(std::max(0.f, 1.f - nx * nx));
        bodyShade = 0.6f + 0.36f * std::max(0.f, nx * lx + nz * lz) - 0.12f * nx * nx * nx * nx;
      } else {
        bodyShade = 0.8f - 0.04f * nx * lx;
      }
      bodyShade *= 1.f - 0.12f * std::clamp((y - ty) / std::max(1.f, h), 0.f, 1.f);
      // A thin bright rim where the top face turns into the side catches the key light.
      const float rim = std::exp(-std::fabs(dTop) / 1.2f) * 0.08f;
      const float shade = (topW * 1.04f + (1.f - topW) * (bodyShade + rim)) * tex.shade(yy, xx);
      const cv::Vec3f surf = (base * shade) * (1.f - tex.accent(yy, xx)) + accent * (shade * tex.accent(yy, xx));
      row[box.x + xx] += (surf - row[box.x + xx]) * cover;
    }
  }
}

}  // namespace

cv::Mat renderBackdrop(const BackdropSpec& specIn, cv::Size size) {
  if (size.width < 1 || size.height < 1 || size.width > kMaxBackdropSide || size.height > kMaxBackdropSide)
    throw SpecError("backdrop size " + std::to_string(size.width) + "x" + std::to_string(size.height) +
                    " is outside 1.." + std::to_string(kMaxBackdropSide));
  BackdropSpec s = specIn;
  clampSpec(s);
  const int W = size.width, H = size.height;
  cv::RNG rng(s.seed ^ 0x5DEECE66Dull);
  const double unit = std::sqrt(double(W) * H) / 1024.0 * s.materialScale;
  const std::vector<float> floorW = floorRows(s, H);
  cv::Mat1f light, colourMix;
  lightFields(s, size, light, colourMix);

  const float contrast = static_cast<float>(s.materialContrast);
  const backdrop::Surface wall = backdrop::makeSurface(s.wallMaterial, size, unit, contrast, rng);
  const bool hasFloor = s.layout == BackdropLayout::Sweep || s.layout == BackdropLayout::FloorHorizon;
  const bool perspective = hasFloor && s.layout == BackdropLayout::FloorHorizon;
  backdrop::Surface floor = wall;
  if (perspective)
    floor = backdrop::makeSurface(s.floorMaterial, size, unit, contrast, rng);
  else if (hasFloor && s.floorMaterial != s.wallMaterial)
    floor = backdrop::makeSurface(s.floorMaterial, size, unit, contrast, rng);
  FloorPerspective persp(floor, s, size);

  const cv::Vec3f wallC = toFloat(s.wallColour), floorC = toFloat(s.floorColour), accent = toFloat(s.accentColour);
  const float hy = static_cast<float>(s.horizon * H);
  const float aoWidth = static_cast<float>(std::max(1.5, 6.0 * unit));
  RowUpsampler upLight(light, size), upMix(colourMix, size);
  cv::Mat3f img(size);
  for (int y = 0; y < H; ++y) {
    const float fw = floorW[y];
    // Where a table meets the wall, a little ambient occlusion grounds the edge.
    const float ao = s.layout == BackdropLayout::FloorHorizon && y + 0.5f > hy
                         ? 1.f - 0.14f * std::exp(-(y + 0.5f - hy) / aoWidth) : 1.f;
    float* out = img.ptr<float>(y);
    const float* L = upLight.row(y);
    const float* M = hasFloor ? nullptr : upMix.row(y);
    const float *ws = wall.shade.ptr<float>(y), *wa = wall.accent.ptr<float>(y);
    const float *fs = floor.shade.ptr<float>(y), *fa = floor.accent.ptr<float>(y);
    if (perspective && fw > 0.f) persp.row(y, fs, fa);
    const cv::Vec3f cw = wallC * (1.f - fw) + floorC * fw;  // the colour where it is per row
    for (int x = 0; x < W; ++x) {
      cv::Vec3f c0 = cw;
      if (!hasFloor) c0 = wallC * (1.f - M[x]) + floorC * M[x];
      const float l = L[x] * ao;
      const float kw = ws[x] * (1.f - fw) * l, kf = fs[x] * fw * l;
      // c0*(s*(1-a)) + accent*(s*a), wall and floor weighted by fw.
      const float base = kw * (1.f - wa[x]) + kf * (1.f - fa[x]);
      const float acc = kw * wa[x] + kf * fa[x];
      out[3 * x + 0] = c0[0] * base + accent[0] * acc;
      out[3 * x + 1] = c0[1] * base + accent[1] * acc;
      out[3 * x + 2] = c0[2] * base + accent[2] * acc;
    }
  }
  if (s.bokeh > 0.0) addBokeh(s, img, rng);
  if (s.depthBlur > 0.0) depthOfField(s, img, floorW);
  drawPodium(s, img, rng);

  // Grade towards the palette's tint (brightness kept), then film grain and TPDF dither while
  // quantising, so that slow gradients do not band in 8 bits.
  const cv::Vec3f tint = toFloat(s.gradeTint);
  const float lum = std::max(0.05f, 0.114f * tint[0] + 0.587f * tint[1] + 0.299f * tint[2]);
  const float k = static_cast<float>(s.gradeStrength) * 0.6f;
  const cv::Vec3f gain = cv::Vec3f(1.f - k, 1.f - k, 1.f - k) + tint * (k / lum);
  const float grain = static_cast<float>(s.grain) * 4.f / 65536.f;  // up to ~4 levels
  constexpr float kU8 = 1.f / 256.f;
  SplitMix64 gen{s.seed * 0x2545F4914F6CDD1Dull + 0x1234567ull};
  cv::Mat out(size, CV_8UC3);
  for (int y = 0; y < H; ++y) {
    const cv::Vec3f* p = img.ptr<cv::Vec3f>(y);
    uchar* o = out.ptr<uchar>(y);
    for (int x = 0; x < W; ++x) {
      // One 64-bit draw per pixel: eight bytes, two per triangular value.
      const std::uint64_t r = gen.next();
      // Grain: one luminance value per pixel (triangular, sum of two uniforms).
      const float g = grain * 257.f * (float(r >> 56) + float((r >> 48) & 0xFF) - 255.f);
      for (int c = 0; c < 3; ++c) {
        const float d = kU8 * (float((r >> (16 * c)) & 0xFF) + float((r >> (16 * c + 8)) & 0xFF)) + (kU8 - 1.f);
        o[3 * x + c] = cv::saturate_cast<uchar>(p[x][c] * gain[c] * 255.f + g + d);
      }
    }
  }
  return out;
}

}  // namespace caig
