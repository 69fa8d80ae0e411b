#pragma once
// Which device the engines run on and how much memory they have: the device (CUDA when
// LibTorch sees a GPU, else CPU), its name, VRAM and the caching allocator's figures (CUDA
// LibTorch builds only), the CPU thread count and the process's resident memory.
// Torch-free header: the studio's HUD and model manager include it.

#include <cstdint>
#include <string>

namespace caig {

struct DeviceInfo {
  bool cuda = false;
  std::string device = "cpu";  // "cuda:0" or "cpu": what the engines are given
  std::string name = "CPU";    // the GPU's name, or "CPU"
  // VRAM of the device as the driver reports it (0 on CPU).
  uint64_t vramTotal = 0;
  uint64_t vramFree = 0;
  uint64_t vramUsed = 0;
  // LibTorch's caching allocator: bytes reserved from the driver and handed out to tensors.
  bool allocatorStats = false;  // false on CPU and on a LibTorch built without CUDA
  uint64_t allocatorReserved = 0;
  uint64_t allocatorAllocated = 0;
  int cpuThreads = 0;          // at::get_num_threads(): the intra-op pool the CPU engines use
  uint64_t processRss = 0;     // resident set size of this process
};

// Cheap enough to call a few times a second (no allocation on the device).
DeviceInfo queryDeviceInfo();

// LibTorch's CPU intra-op threads, set once for the whole process (the CLI and the studio call it
// at start-up; engines never change it): $CAIG_THREADS when set, else one per hardware thread.
// Debian's LibTorch otherwise starts with one thread on small machines, and an OMP_NUM_THREADS the
// user exported is left alone. Later calls return the count without changing it.
int configureCpuThreads();

// Resident set size from /proc/self/statm; 0 when it cannot be read.
uint64_t processRssBytes();
// The machine's physical memory (sysconf); 0 when unknown.
uint64_t physicalMemoryBytes();

// Peak memory since the last resetPeakMemory() (benchmarks): the process's peak resident set
// (VmHWM, which writing 5 to /proc/self/clear_refs resets) and, on CUDA builds, the caching
// allocator's peak of bytes handed to tensors.
struct PeakMemory {
  uint64_t processRss = 0;
  bool cuda = false;
  uint64_t cudaAllocated = 0;
};
void resetPeakMemory();
PeakMemory peakMemory();

// Returns the CUDA caching allocator's unused blocks to the driver (no-op on CPU), so that a
// released model's VRAM is visible as free to other processes and to the HUD.
void releaseCachedDeviceMemory();

// "1.5 GiB", "312 MiB", "20 KiB", "12 B".
std::string formatBytes(uint64_t bytes);

}  // namespace caig
