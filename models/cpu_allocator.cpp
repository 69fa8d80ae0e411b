#include "models/cpu_allocator.h"

#include "models/device_info.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

namespace caig {
namespace {

constexpr std::size_t kAlignment = 64;                   // c10's own CPU alignment
constexpr std::size_t kSmallest = std::size_t{1} << 20;  // below: glibc's heap is cheap already

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const override {
    void* p = const_cast<CachingCpuAllocator*>(this)->take(n);
    return {p, p, &CachingCpuAllocator::deleter, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::deleter; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
#endif

  static CachingCpuAllocator& instance() {
    static auto* a = new CachingCpuAllocator;  // lives as long as any tensor may
    return *a;
  }

  void setLimit(uint64_t limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = limit;
    trimLocked(limit_);
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    trimLocked(0);
  }
  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {true, cached_, limit_, hits_, misses_};
  }

 private:
  static void deleter(void* p) {
    instance().give(p);
  }

  void* take(std::size_t n) {
    if (n == 0) n = 1;
    if (n >= kSmallest) {
      std::lock_guard<std::mutex> lock(mutex_);
      // The smallest idle block that fits without wasting more than an eighth of it.
      auto it = idle_.lower_bound(n);
      if (it != idle_.end() && it->first <= n + n / 8) {
        void* p = it->second;
        sizes_[p] = it->first;
        cached_ -= it->first;
        idle_.erase(it);
        ++hits_;
        return p;
      }
      ++misses_;
    }
    void* p = nullptr;
    if (posix_memalign(&p, kAlignment, n) != 0 || !p) throw std::bad_alloc();
    if (n >= kSmallest) {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[p] = n;
    }
    return p;
  }

  void give(void* p) {
    if (!p) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = sizes_.find(p);
      if (it != sizes_.end()) {
        const std::size_t n = it->second;
        sizes_.erase(it);
        if (n <= limit_) {
          trimLocked(limit_ - n);  // at the cap, the largest idle blocks go first
          idle_.emplace(n, p);
          cached_ += n;
          return;
        }
      }
    }
    std::free(p);
  }

  // Frees idle blocks, largest first, until at most `keep` bytes stay idle.
  void trimLocked(uint64_t keep) {
    while (cached_ > keep && !idle_.empty()) {
      auto it = std::prev(idle_.end());
      cached_ -= it->first;
      std::free(it->second);
      idle_.erase(it);
    }
  }

  std::mutex mutex_;
  std::multimap<std::size_t, void*> idle_;        // size -> idle block
  std::unordered_map<void*, std::size_t> sizes_;  // large blocks handed out
  uint64_t cached_ = 0, limit_ = 0, hits_ = 0, misses_ = 0;
};

std::atomic<bool> gInstalled{false};
std::mutex gInstallMutex;

}  // namespace

bool useCachingCpuAllocator(uint64_t limitBytes) {
  if (const char* env = std::getenv("CAIG_CPU_CACHE"); env && std::string(env) == "0") return false;
  if (limitBytes == 0) {
    const uint64_t known = physicalMemoryBytes();
    const uint64_t memory = known ? known : (uint64_t{8} << 30);
    // An SD1.5 step at 512 keeps 1.7 GiB idle between its uses; more buys nothing there.
    limitBytes = std::min<uint64_t>(memory / 8, uint64_t{4} << 30);
  }
  std::lock_guard<std::mutex> lock(gInstallMutex);
  CachingCpuAllocator& a = CachingCpuAllocator::instance();
  a.setLimit(limitBytes);
  if (!gInstalled) {
    // Priority above the default's 0: later registrations of the default do not replace it.
    c10::SetCPUAllocator(&a, /*priority=*/10);
    gInstalled = true;
  }
  return true;
}

void releaseCachedCpuMemory() {
  if (gInstalled) CachingCpuAllocator::instance().release();
}

CpuCacheStats cpuCacheStats() {
  if (!gInstalled) return {};
  return CachingCpuAllocator::instance().stats();
}

}  // namespace caig
