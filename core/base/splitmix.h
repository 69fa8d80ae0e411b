#pragma once
// SplitMix64: a tiny seeded generator whose stream is the same on every platform and standard
// library (std::*_distribution are not), so seeded renders and prompt choices reproduce anywhere.

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace caig {

struct SplitMix64 {
  std::uint64_t state;

  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  std::size_t index(std::size_t n) { return static_cast<std::size_t>(uniform() * n) % std::max<std::size_t>(n, 1); }
};

}  // namespace caig
