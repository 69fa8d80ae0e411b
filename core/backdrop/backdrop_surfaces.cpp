#include "core/backdrop/backdrop_surfaces.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace caig::backdrop {
namespace {

constexpr float kTwoPi = 6.28318530718f;

// Random grid of (gw, gh) values in [0,1] resized to `size` (bicubic: smooth value noise).
cv::Mat1f valueNoise(cv::Size size, int gw, int gh, cv::RNG& rng) {
  cv::Mat1f grid(std::max(gh, 2), std::max(gw, 2));
  rng.fill(grid, cv::RNG::UNIFORM, 0.0, 1.0);
  cv::Mat1f out;
  cv::resize(grid, out, size, 0, 0, cv::INTER_CUBIC);
  return out;
}

// Pixel loop helper: f(x, y, shade&, accent&).
template <typename F>
void forEachPixel(Surface& s, F&& f) {
  for (int y = 0; y < s.shade.rows; ++y) {
    float* sh = s.shade.ptr<float>(y);
    float* ac = s.accent.ptr<float>(y);
    for (int x = 0; x < s.shade.cols; ++x) f(x, y, sh[x], ac[x]);
  }
}

// sin(x) to ~2e-7 without a libm call (the marble loop evaluates two per pixel).
inline float fastSin(float x) {
  const float q = std::nearbyint(x * (1.f / 3.14159265359f));
  // x - q*pi in two parts for accuracy, then an odd polynomial on [-pi/2, pi/2].
  float r = (x - q * 3.140625f) - q * 9.67653589793e-4f;
  if (static_cast<int>(q) & 1) r = -r;
  const float r2 = r * r;
  return r * (1.f + r2 * (-1.66666667e-1f + r2 * (8.3333310e-3f + r2 * (-1.9840874e-4f + r2 * (2.7525562e-6f + r2 * -2.3889859e-8f)))));
}

float smooth01(float t) {
  t = std::clamp(t, 0.f, 1.f);
  return t * t * (3.f - 2.f * t);
}

Surface paper(cv::Size size, double unit, float c, cv::RNG& rng) {
  const double side = std::sqrt(double(size.area())) / (1024.0 * unit);
  Surface s{fbm(size, 3.0 * side, 4, 0.5, rng), cv::Mat1f::zeros(size)};
  // Very faint mottling only: real seamless paper is almost flat.
  s.shade = 1.f + (s.shade - 0.5f) * (0.035f * c);
  return s;
}

Surface marble(cv::Size size, double unit, float c, cv::RNG& rng) {
  // Large surfaces (a floor) are veined at half resolution and enlarged: the veins stay several
  // pixels wide there, and the floor is seen in perspective and depth-blurred anyway.
  if (size.area() > 640 * 640) {
    Surface half = marble(cv::Size((size.width + 1) / 2, (size.height + 1) / 2), unit / 2, c, rng);
    Surface full;
    cv::resize(half.shade, full.shade, size, 0, 0, cv::INTER_LINEAR);
    cv::resize(half.accent, full.accent, size, 0, 0, cv::INTER_LINEAR);
    return full;
  }
  const double side = std::sqrt(double(size.area())) / (1024.0 * unit);
  cv::Mat1f t1 = fbm(size, 2.5 * side, 5, 0.55, rng);
  cv::Mat1f t2 = fbm(size, 5.0 * side, 4, 0.5, rng);
  Surface s{cv::Mat1f(size), cv::Mat1f(size)};
  const float period = static_cast<float>(520.0 * unit);
  const float angle = static_cast<float>(rng.uniform(0.35, 0.9));
  const float ax = std::cos(angle) / period * kTwoPi, ay = std::sin(angle) / period * kTwoPi;
  const float bx = -std::sin(angle) * 0.6f / period * kTwoPi, by = std::cos(angle) * 1.7f / period * kTwoPi;
  forEachPixel(s, [&](int x, int y, float& sh, float& ac) {
    const float n1 = t1(y, x), n2 = t2(y, x);
    // Main veins: where sin(phase + turbulence) crosses zero; thin secondary veins on top.
    const float v1 = 1.f - std::fabs(fastSin(ax * x + ay * y + 9.f * n1));
    const float v2 = 1.f - std::fabs(fastSin(bx * x + by * y + 12.f * n2 + 3.f * n1));
    const float v1_2 = v1 * v1, v1_4 = v1_2 * v1_2, v1_8 = v1_4 * v1_4;
    const float v2_4 = v2 * v2 * v2 * v2, v2_16 = v2_4 * v2_4 * v2_4 * v2_4;
    const float cloud = smooth01((n2 - 0.35f) * 2.5f);
    ac = c * std::min(1.f, 0.75f * v1_8 * v1_4 * (0.4f + 0.6f * cloud) + 0.35f * v2_16 * cloud);
    sh = 1.f + c * 0.05f * (n1 - 0.5f);
  });
  return s;
}

Surface wood(cv::Size size, double unit, float c, cv::RNG& rng) {
  const double side = std::sqrt(double(size.area())) / (1024.0 * unit);
  cv::Mat1f t = fbm(size, 3.0 * side, 4, 0.5, rng);
  // Long streaks along the grain: noise stretched in x.
  cv::Mat1f streak = valueNoise(size, std::max(2, int(6 * side)), std::max(2, int(size.height / (1.8 * unit))), rng);
  Surface s{cv::Mat1f(size), cv::Mat1f(size)};
  const float plank = static_cast<float>(150.0 * unit);
  std::vector<float> plankTone(size.height / std::max(1.f, plank) + 2), plankShift(plankTone.size());
  for (std::size_t i = 0; i < plankTone.size(); ++i) {
    plankTone[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
    plankShift[i] = static_cast<float>(rng.uniform(0.0, 40.0));
  }
  const float ringF = static_cast<float>(1.0 / (9.0 * unit));
  const float seamW = static_cast<float>(std::max(1.0, 1.6 * unit));
  forEachPixel(s, [&](int x, int y, float& sh, float& ac) {
    const int p = static_cast<int>(y / plank);
    const float inPlank = y - p * plank;
    // Rings: distorted stripes along x whose spacing wanders with the noise.
    const float phase = (inPlank + plankShift[p] * 10.f) * ringF + 6.f * t(y, x) + 0.0015f * x * plankTone[p];
    const float f = phase - std::floor(phase);
    const float ring = smooth01((f - 0.55f) * 4.f) * smooth01((1.f - f) * 6.f);
    const float seam = 1.f - smooth01(std::min(inPlank, plank - inPlank) / seamW);
    ac = c * std::min(1.f, 0.55f * ring + 0.25f * streak(y, x) + 0.6f * seam);
    sh = 1.f + c * (0.08f * plankTone[p] + 0.12f * (streak(y, x) - 0.5f));
  });
  return s;
}

Surface concrete(cv::Size size, double unit, float c, cv::RNG& rng) {
  const double side = std::sqrt(double(size.area())) / (1024.0 * unit);
  cv::Mat1f t = fbm(size, 3.0 * side, 5, 0.6, rng);
  // Pores and speckle: white noise at half resolution, bicubically enlarged to 2-3 px blobs.
  cv::Mat1f speck = valueNoise(size, std::max(2, int(size.width / (2.2 * unit))),
                               std::max(2, int(size.height / (2.2 * unit))), rng);
  Surface s{cv::Mat1f(size), cv::Mat1f(size)};
  forEachPixel(s, [&](int x, int y, float& sh, float& ac) {
    const float n = speck(y, x);
    ac = c * (smooth01((n - 0.86f) * 8.f) * 0.7f + smooth01((t(y, x) - 0.55f) * 3.f) * 0.25f);
    sh = 1.f + c * (0.22f * (t(y, x) - 0.5f) + 0.07f * (n - 0.5f));
  });
  return s;
}

Surface fabric(cv::Size size, double unit, float c, cv::RNG& rng) {
  const double side = std::sqrt(double(size.area())) / (1024.0 * unit);
  cv::Mat1f t = fbm(size, 4.0 * side, 3, 0.5, rng);
  cv::Mat1f slubX = valueNoise(size, std::max(2, int(4 * side)), std::max(2, int(size.height / (3.5 * unit))), rng);
  cv::Mat1f slubY = valueNoise(size, std::max(2, int(size.width / (3.5 * unit))), std::max(2, int(4 * side)), rng);
  // Threads: one sine profile per column (warp) and per row (weft), from tables.
  const float period = static_cast<float>(std::max(3.0, 5.0 * unit));
  std::vector<float> warp(size.width), weft(size.height);
  std::vector<int> cellX(size.width), cellY(size.height);
  for (int x = 0; x < size.width; ++x) {
    warp[x] = 0.5f + 0.5f * std::sin(kTwoPi * x / period);
    cellX[x] = static_cast<int>(x / period);
  }
  for (int y = 0; y < size.height; ++y) {
    weft[y] = 0.5f + 0.5f * std::sin(kTwoPi * y / period);
    cellY[y] = static_cast<int>(y / period);
  }
  Surface s{cv::Mat1f(size), cv::Mat1f(size)};
  forEachPixel(s, [&](int x, int y, float& sh, float& ac) {
    // Plain weave: warp over weft on one checker colour, weft over warp on the other.
    const bool warpUp = ((cellX[x] + cellY[y]) & 1) == 0;
    const float thread = warpUp ? warp[x] * (0.6f + 0.4f * slubY(y, x)) : weft[y] * (0.6f + 0.4f * slubX(y, x));
    sh = 1.f + c * (0.16f * (thread - 0.5f) + 0.08f * (t(y, x) - 0.5f));
    ac = c * 0.25f * (1.f - thread);
  });
  return s;
}

}  // namespace

cv::Mat1f fbm(cv::Size size, double cells, int octaves, double gain, cv::RNG& rng) {
  // Large images: sum the octaves at half resolution and enlarge once (4x fewer resizes' pixels;
  // the finest octave is still several pixels per cell).
  if (size.area() > 512 * 512) {
    cv::Mat1f half = fbm(cv::Size((size.width + 1) / 2, (size.height + 1) / 2), cells, octaves, gain, rng), full;
    cv::resize(half, full, size, 0, 0, cv::INTER_LINEAR);
    return full;
  }
  cv::Mat1f sum = cv::Mat1f::zeros(size);
  const double longer = std::max(size.width, size.height);
  double amp = 1.0, total = 0.0, c = std::max(1.0, cells);
  for (int o = 0; o < octaves; ++o) {
    const int gw = static_cast<int>(std::ceil(c * size.width / longer)) + 2;
    const int gh = static_cast<int>(std::ceil(c * size.height / longer)) + 2;
    cv::scaleAdd(valueNoise(size, gw, gh, rng), amp, sum, sum);
    total += amp;
    amp *= gain;
    c *= 2.0;
  }
  sum *= 1.0 / total;
  return sum;
}

Surface makeSurface(SurfaceMaterial material, cv::Size size, double unit, double contrast, cv::RNG& rng) {
  const float c = static_cast<float>(contrast);
  switch (material) {
    case SurfaceMaterial::Marble: return marble(size, unit, c, rng);
    case SurfaceMaterial::Wood: return wood(size, unit, c, rng);
    case SurfaceMaterial::Concrete: return concrete(size, unit, c, rng);
    case SurfaceMaterial::Fabric: return fabric(size, unit, c, rng);
    case SurfaceMaterial::Paper: break;
  }
  return paper(size, unit, c, rng);
}

}  // namespace caig::backdrop
