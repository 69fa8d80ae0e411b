#pragma once
// Data-parallel training over PyTorch's own distributed engine (c10d): a TCPStore for the
// rendezvous and small metadata, ProcessGroupGloo for CPU tensors (and CUDA tensors when NCCL is
// not built in), ProcessGroupNCCL for CUDA tensors in a build configured with CAIG_WITH_NCCL.
// Launched the way torchrun launches: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK.
//
// Every collective here is blocking and bounded by the timeout: a peer that is killed or
// unplugged turns into a DistributedError on the others (Gloo sees the closed connection at
// once; a peer that hangs is caught by the timeout), never a hang. Torch-light header.

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

// A peer did not join, stopped answering or disagrees; the message names the rank.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DataParallelOptions {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  std::chrono::milliseconds timeout = std::chrono::seconds(300);  // join and every collective
  // Where the tensors to reduce live: CUDA picks NCCL when this build has it, else Gloo.
  bool cuda = false;
  int64_t bucketBytes = 25 << 20;  // gradients are reduced in flat buckets of about this size (DDP's default)
};

// The torchrun variables, or nullopt when WORLD_SIZE is unset. CAIG_DIST_TIMEOUT (seconds)
// overrides the timeout. Throws std::invalid_argument naming a missing or malformed variable.
std::optional<DataParallelOptions> dataParallelFromEnvironment();

// Whether this build has a c10d backend for CPU tensors (Gloo) / CUDA tensors (NCCL or Gloo).
bool dataParallelAvailable(bool cuda);

class DataParallel {
 public:
  // Joins the group: rank 0 serves the store, every rank checks in and waits for the others.
  // Throws DistributedError naming the ranks that did not join within the timeout.
  explicit DataParallel(const DataParallelOptions& options);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const;
  int worldSize() const;
  bool isMain() const { return rank() == 0; }
  const DataParallelOptions& options() const;
  std::string describe() const;  // "rank 1 of 2 (gloo)"

  // In place: every tensor becomes the sum over ranks. Tensors of one dtype and device are
  // flattened into buckets of about bucketBytes on the group's device (this rank's GPU for a CUDA
  // group, whatever device the tensors are on), all launched, then waited for.
  void allReduceSum(std::vector<at::Tensor>& tensors);
  // In place: every tensor becomes rank `root`'s.
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // Every rank's string, in rank order (small data, through the store).
  std::vector<std::string> allGather(const std::string& mine);
  // The element-wise sum over ranks of a vector of the same length on every rank (e.g. per-record
  // results, each filled in by the rank that owns the record and 0 elsewhere).
  std::vector<double> sum(const std::vector<double>& mine);
  bool anyTrue(bool mine);  // true on every rank when it is true on any
  void barrier();
  // Throws DistributedError on every rank when any rank's `digest` differs from rank 0's,
  // naming those ranks and `what` was compared.
  void requireSame(const std::string& digest, const std::string& what);

  // Seconds spent inside the collectives so far (for the benchmark's all-reduce share).
  double communicationSeconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
