// Device info on the machine running the tests: CPU unless LibTorch sees a GPU.

#include "models/device_info.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <thread>
#include <vector>

TEST(DeviceInfo, ReportsTheEngineDevice) {
  const caig::DeviceInfo info = caig::queryDeviceInfo();
  EXPECT_EQ(info.cuda, torch::cuda::is_available());
  EXPECT_GE(info.cpuThreads, 1);
  if (!info.cuda) {
    EXPECT_EQ(info.device, "cpu");
    EXPECT_EQ(info.name, "CPU");
    EXPECT_EQ(info.vramTotal, 0u);
    EXPECT_FALSE(info.allocatorStats);
  } else {
    EXPECT_EQ(info.device.rfind("cuda:", 0), 0u);
    EXPECT_GE(info.vramTotal, info.vramUsed);
    EXPECT_EQ(info.vramTotal, info.vramUsed + info.vramFree);
    if (info.allocatorStats) {
      EXPECT_GE(info.allocatorReserved, info.allocatorAllocated);
    }
  }
}

TEST(DeviceInfo, ResidentMemoryGrowsWithTouchedPages) {
  const uint64_t before = caig::processRssBytes();
  EXPECT_GT(before, 1u << 20);  // a LibTorch process is well over a megabyte
  std::vector<char> block(64u << 20, 1);  // written, so resident
  const uint64_t after = caig::processRssBytes();
  EXPECT_GE(after, before + (48u << 20)) << "block at " << static_cast<const void*>(block.data());
}

TEST(DeviceInfo, FormatsBytes) {
  EXPECT_EQ(caig::formatBytes(12), "12 B");
  EXPECT_EQ(caig::formatBytes(20 * 1024), "20 KiB");
  EXPECT_EQ(caig::formatBytes(1536ull << 20), "1.5 GiB");
  EXPECT_EQ(caig::formatBytes(312ull << 20), "312 MiB");
}

TEST(DeviceInfo, PeakMemoryCoversAReleasedBlockAndResets) {
  caig::resetPeakMemory();
  const uint64_t start = caig::peakMemory().processRss;
  ASSERT_GT(start, 1u << 20);
  {
    std::vector<char> block(96u << 20, 1);  // resident while it lives
    EXPECT_EQ(block[12345], 1);
  }
  // Freed (glibc hands blocks this large back with munmap), yet the peak remembers it.
  const uint64_t peak = caig::peakMemory().processRss;
  EXPECT_GE(peak, start + (80u << 20));
  EXPECT_GE(peak, caig::processRssBytes() + (80u << 20));
  // After a reset the peak is back near the current resident size.
  caig::resetPeakMemory();
  EXPECT_LT(caig::peakMemory().processRss, peak - (64u << 20));
  caig::releaseCachedDeviceMemory();  // harmless without CUDA
  EXPECT_EQ(caig::peakMemory().cuda, torch::cuda::is_available() && caig::queryDeviceInfo().allocatorStats);
}
