// SeededNoise (models/diffusion_schedulers.h): the job's noise from its seed, plain draws and the
// Brownian increments the DPM++ SDE sampler asks for.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "models/diffusion_schedulers.h"

namespace caig {

struct SeededNoise::Impl {
  at::Generator gen;
  uint64_t seed = 0;
};

SeededNoise::SeededNoise(uint64_t seed) : impl_(std::make_shared<Impl>()) {
  impl_->gen = at::detail::createCPUGenerator(seed);
  impl_->seed = seed;
}

at::Tensor SeededNoise::next(const at::Tensor& like) {
  at::Tensor n = at::randn(like.sizes(), impl_->gen, at::TensorOptions().dtype(at::kFloat));
  return n.to(like.device(), like.scalar_type());
}

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The tree's draw at heap node `node` (0: the path's end point), standard normal.
at::Tensor treeDraw(uint64_t seed, uint64_t node, at::IntArrayRef sizes) {
  at::Generator g = at::detail::createCPUGenerator(splitmix64(seed ^ splitmix64(node)));
  return at::randn(sizes, g, at::TensorOptions().dtype(at::kFloat)).to(at::kDouble);
}

// W(t) on [lo, hi]: bisect with Brownian-bridge midpoints down to an interval of (hi - lo) / 2^24,
// then the bridge's mean between its ends.
at::Tensor brownianPoint(uint64_t seed, double t, double lo, double hi, at::IntArrayRef sizes) {
  if (t <= lo) return at::zeros(sizes, at::kDouble);
  double l = lo, r = hi;
  at::Tensor wl = at::zeros(sizes, at::kDouble), wr = treeDraw(seed, 0, sizes) * std::sqrt(hi - lo);
  if (t >= hi) return wr;
  uint64_t node = 1;
  for (int depth = 0; depth < 24; ++depth) {
    const double m = 0.5 * (l + r);
    const at::Tensor wm = 0.5 * (wl + wr) + treeDraw(seed, node, sizes) * std::sqrt(0.25 * (r - l));
    if (t < m) {
      r = m, wr = wm, node = 2 * node;
    } else {
      l = m, wl = wm, node = 2 * node + 1;
    }
  }
  return wl + (wr - wl) * ((t - l) / (r - l));
}

}  // namespace

at::Tensor SeededNoise::brownian(double a, double b, double lo, double hi, const at::Tensor& like) {
  if (!(hi > lo)) throw std::invalid_argument("SeededNoise::brownian: need lo < hi");
  a = std::clamp(a, lo, hi);
  b = std::clamp(b, lo, hi);
  if (a == b) return next(like);  // no interval: a fresh draw
  const at::Tensor w =
      brownianPoint(impl_->seed, b, lo, hi, like.sizes()) - brownianPoint(impl_->seed, a, lo, hi, like.sizes());
  return (w / std::sqrt(std::abs(b - a))).to(like.device(), like.scalar_type());
}

}  // namespace caig
