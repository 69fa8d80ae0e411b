#include "models/device_info.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

// CAIG_TORCH_CUDA comes from CMake (LibTorch links torch_cuda): Debian's CPU LibTorch ships the
// c10/cuda headers without the library, so __has_include alone would compile and fail to link.
#if defined(CAIG_TORCH_CUDA) && __has_include(<c10/cuda/CUDACachingAllocator.h>) && \
    __has_include(<cuda_runtime_api.h>)
#define CAIG_DEVICE_INFO_CUDA 1
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace caig {

uint64_t processRssBytes() {
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  const long page = sysconf(_SC_PAGESIZE);
  return resident * static_cast<uint64_t>(page > 0 ? page : 4096);
}

uint64_t physicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

void resetPeakMemory() {
  std::ofstream("/proc/self/clear_refs") << "5";
#ifdef CAIG_DEVICE_INFO_CUDA
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::resetPeakStats(at::cuda::current_device());
#endif
}

PeakMemory peakMemory() {
  PeakMemory peak;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      peak.processRss = std::stoull(line.substr(6)) * 1024;  // "VmHWM:   123456 kB"
      break;
    }
  }
#ifdef CAIG_DEVICE_INFO_CUDA
  if (torch::cuda::is_available()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(at::cuda::current_device());
    peak.cuda = true;
    peak.cudaAllocated = static_cast<uint64_t>(stats.allocated_bytes[0].peak);
  }
#endif
  return peak;
}

void releaseCachedDeviceMemory() {
#ifdef CAIG_DEVICE_INFO_CUDA
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

std::string formatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, value < 10.0 ? "%.1f %s" : "%.0f %s", value, units[unit]);
  }
  return buf;
}

int configureCpuThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    int threads = 0;
    if (const char* env = std::getenv("CAIG_THREADS"); env && *env) {
      threads = std::atoi(env);
    } else if (!std::getenv("OMP_NUM_THREADS")) {
      threads = static_cast<int>(std::thread::hardware_concurrency());
    }
    if (threads > 0 && threads != at::get_num_threads()) at::set_num_threads(threads);
  });
  return at::get_num_threads();
}

DeviceInfo queryDeviceInfo() {
  DeviceInfo info;
  info.cpuThreads = at::get_num_threads();
  info.processRss = processRssBytes();
  if (!torch::cuda::is_available()) return info;
  info.cuda = true;
#ifdef CAIG_DEVICE_INFO_CUDA
  const int index = at::cuda::current_device();
  info.device = "cuda:" + std::to_string(index);
  if (const cudaDeviceProp* props = at::cuda::getDeviceProperties(index)) info.name = props->name;
  size_t freeBytes = 0, totalBytes = 0;
  if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) {
    info.vramFree = freeBytes;
    info.vramTotal = totalBytes;
    info.vramUsed = totalBytes - freeBytes;
  }
  // Index 0 is StatType::AGGREGATE in every LibTorch version (the enum moved namespaces in 2.x).
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
  info.allocatorStats = true;
  info.allocatorReserved = static_cast<uint64_t>(stats.reserved_bytes[0].current);
  info.allocatorAllocated = static_cast<uint64_t>(stats.allocated_bytes[0].current);
#else
  info.device = "cuda:0";
  info.name = "CUDA device";
#endif
  return info;
}

}  // namespace caig
