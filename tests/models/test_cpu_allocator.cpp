// The caching CPU allocator (models/cpu_allocator.h) in its own process: a freed large block is
// handed out again for a request of about its size, small ones never enter the cache, the cap
// holds, releasing empties it, and tensor maths on cached blocks is the same as on fresh ones.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "models/cpu_allocator.h"

TEST(CachingCpuAllocator, ReusesLargeBlocksWithinItsCap) {
  const at::Tensor a = at::randn({512, 512}), b = at::randn({512, 512});
  // Element-wise (bit-reproducible; LibTorch's own matmul is not, from one call to the next).
  const at::Tensor reference = at::sigmoid(a) * b + a;  // before: LibTorch's own allocator

  ::setenv("CAIG_CPU_CACHE", "0", 1);
  EXPECT_FALSE(caig::useCachingCpuAllocator());  // the user's opt-out
  EXPECT_FALSE(caig::cpuCacheStats().installed);
  ::unsetenv("CAIG_CPU_CACHE");
  ASSERT_TRUE(caig::useCachingCpuAllocator(uint64_t{12} << 20));  // 12 MiB
  EXPECT_TRUE(caig::cpuCacheStats().installed);
  EXPECT_EQ(caig::cpuCacheStats().limitBytes, uint64_t{12} << 20);

  void* first = nullptr;
  {
    const at::Tensor big = at::empty({1 << 20});  // 4 MiB
    first = big.data_ptr();
  }
  EXPECT_EQ(caig::cpuCacheStats().cachedBytes, uint64_t{4} << 20);
  const auto hits = caig::cpuCacheStats().hits;
  {
    const at::Tensor again = at::empty({(1 << 20) - 1000});  // a little smaller: the same block
    EXPECT_EQ(again.data_ptr(), first);
    EXPECT_EQ(caig::cpuCacheStats().hits, hits + 1);
    EXPECT_EQ(caig::cpuCacheStats().cachedBytes, 0u);
  }
  {
    const at::Tensor half = at::empty({1 << 19});  // 2 MiB: too small for the 4 MiB block
    EXPECT_NE(half.data_ptr(), first);
  }
  {
    const at::Tensor small = at::empty({1000});  // 4 kB: never cached
    (void)small;
  }
  EXPECT_EQ(caig::cpuCacheStats().cachedBytes, uint64_t{6} << 20);
  {
    // Three more 4 MiB blocks freed together: the cap keeps at most 12 MiB idle.
    const at::Tensor x = at::empty({1 << 20}), y = at::empty({1 << 20}), z = at::empty({1 << 20});
  }
  EXPECT_LE(caig::cpuCacheStats().cachedBytes, uint64_t{12} << 20);
  // The same maths on recycled blocks (filled with whatever was there before).
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(at::equal(at::sigmoid(a) * b + a, reference));
  caig::releaseCachedCpuMemory();
  EXPECT_EQ(caig::cpuCacheStats().cachedBytes, 0u);
}
