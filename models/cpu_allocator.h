#pragma once
// A caching CPU allocator for LibTorch, as PyTorch's CUDA allocator caches device memory: freed
// blocks of 1 MiB and more are kept (up to a cap) and handed out again for a request of about
// their size. Large tensors otherwise come from mmap and go back to the system on every free, so
// each denoising step pays again for page faults on its attention scores and activations (about a
// third of an SD1.5 step's CPU time on the development machine went to the kernel).
//
// Installed once for the process (the CLI and the studio do it at start-up, beside the thread
// count); $CAIG_CPU_CACHE=0 leaves LibTorch's own allocator. Torch-light header.

#include <cstdint>

namespace caig {

struct CpuCacheStats {
  bool installed = false;
  uint64_t cachedBytes = 0;       // idle blocks held for reuse
  uint64_t limitBytes = 0;        // most idle bytes kept
  uint64_t hits = 0, misses = 0;  // large allocations served from the cache / from the system
};

// Installs the caching allocator as LibTorch's CPU allocator (once; later calls only change the
// limit). `limitBytes` 0: an eighth of the machine's memory, at most 4 GiB. Returns false when
// $CAIG_CPU_CACHE is "0" (nothing installed).
bool useCachingCpuAllocator(uint64_t limitBytes = 0);
// Gives every idle cached block back to the system (a job ended, memory is short).
void releaseCachedCpuMemory();
CpuCacheStats cpuCacheStats();

}  // namespace caig
