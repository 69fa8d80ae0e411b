#include "models/data_parallel.h"

#if defined(CAIG_WITH_GLOO) && !defined(USE_C10D_GLOO)
#define USE_C10D_GLOO 1  // ProcessGroupGloo.hpp declares the class only under this
#endif
#if defined(CAIG_WITH_NCCL) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL 1
#endif

#include <ATen/ATen.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CAIG_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CAIG_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <sstream>

namespace caig {
namespace {

// c10d's process groups became "backends" behind a ProcessGroup front in LibTorch 2.0; the
// backend object has the collectives we call in both.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

int envInt(const char* name, std::optional<int> fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    if (fallback) return *fallback;
    throw std::invalid_argument(std::string("data-parallel launch: ") + name +
                                " is not set (torchrun sets MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK)");
  }
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end || n < 0 || n > 1 << 30)
    throw std::invalid_argument(std::string("data-parallel launch: ") + name + "='" + v + "' is not a number");
  return static_cast<int>(n);
}

bool isLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

}  // namespace

std::optional<DataParallelOptions> dataParallelFromEnvironment() {
  const char* world = std::getenv("WORLD_SIZE");
  if (!world || !*world) return std::nullopt;
  DataParallelOptions o;
  o.worldSize = envInt("WORLD_SIZE", std::nullopt);
  if (o.worldSize < 1) throw std::invalid_argument("data-parallel launch: WORLD_SIZE must be >= 1");
  o.rank = envInt("RANK", o.worldSize == 1 ? std::optional<int>(0) : std::nullopt);
  if (o.rank >= o.worldSize)
    throw std::invalid_argument("data-parallel launch: RANK=" + std::to_string(o.rank) +
                                " is not below WORLD_SIZE=" + std::to_string(o.worldSize));
  o.localRank = envInt("LOCAL_RANK", o.rank);
  const char* addr = std::getenv("MASTER_ADDR");
  if (o.worldSize > 1 && (!addr || !*addr))
    throw std::invalid_argument("data-parallel launch: MASTER_ADDR is not set (the address of rank 0's machine)");
  if (addr && *addr) o.masterAddr = addr;
  o.masterPort = envInt("MASTER_PORT", o.worldSize == 1 ? std::optional<int>(29500) : std::nullopt);
  if (o.masterPort < 1 || o.masterPort > 65535)
    throw std::invalid_argument("data-parallel launch: MASTER_PORT must be a TCP port");
  const int timeout = envInt("CAIG_DIST_TIMEOUT", 300);
  if (timeout < 1) throw std::invalid_argument("data-parallel launch: CAIG_DIST_TIMEOUT must be >= 1 second");
  o.timeout = std::chrono::seconds(timeout);
  return o;
}

bool dataParallelAvailable(bool cuda) {
#if defined(CAIG_WITH_GLOO)
  (void)cuda;
  return true;
#elif defined(CAIG_WITH_NCCL)
  return cuda;
#else
  (void)cuda;
  return false;
#endif
}

struct DataParallel::Impl {
  DataParallelOptions options;
  std::string backend;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> group;
  int64_t gatherRound = 0;
  double seconds = 0;

  std::string who() const {
    return "rank " + std::to_string(options.rank) + " of " + std::to_string(options.worldSize);
  }
  double timeoutSeconds() const { return std::chrono::duration<double>(options.timeout).count(); }
  // Where the group's buffers live: this rank's GPU for a CUDA group (NCCL reduces nothing else).
  c10::Device device() const {
    return options.cuda ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(options.localRank))
                        : c10::Device(c10::kCPU);
  }

  // Runs one collective, timing it and turning c10d's errors into one that says what happened.
  template <typename F>
  auto guarded(const char* what, F&& f) -> decltype(f()) {
    const auto start = std::chrono::steady_clock::now();
    struct Timer {
      Impl* impl;
      std::chrono::steady_clock::time_point start;
      ~Timer() { impl->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
    } timer{this, start};
    try {
      return f();
    } catch (const DistributedError&) {
      throw;
    } catch (const std::exception& e) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s: %s failed: another worker stopped or did not answer within %.0f s",
                    who().c_str(), what, timeoutSeconds());
      throw DistributedError(std::string(buf) + " (" + e.what() + ")");
    }
  }

  // Buckets of same-dtype, same-device tensors, each flattened onto the group's device, run
  // through `op`, copied back (so callers may hand CPU scalars to a CUDA group).
  void bucketed(std::vector<at::Tensor>& tensors,
                const std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)>& op) {
    at::NoGradGuard noGrad;  // the tensors may be trainable leaves
    std::map<std::pair<int, std::string>, std::vector<std::vector<std::size_t>>> groups;
    std::map<std::pair<int, std::string>, int64_t> filled;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto key = std::make_pair(static_cast<int>(tensors[i].scalar_type()), tensors[i].device().str());
      auto& buckets = groups[key];
      const int64_t bytes = static_cast<int64_t>(tensors[i].numel()) * static_cast<int64_t>(tensors[i].element_size());
      if (buckets.empty() || (filled[key] > 0 && filled[key] + bytes > options.bucketBytes)) {
        buckets.emplace_back();
        filled[key] = 0;
      }
      buckets.back().push_back(i);
      filled[key] += bytes;
    }
    struct Pending {
      std::vector<std::size_t> members;
      std::vector<at::Tensor> flat;
      c10::intrusive_ptr<c10d::Work> work;
    };
    std::vector<Pending> pending;
    for (auto& [key, buckets] : groups) {
      for (auto& members : buckets) {
        Pending p;
        p.members = members;
        std::vector<at::Tensor> parts;
        for (const auto i : members) parts.push_back(tensors[i].reshape({-1}));
        p.flat = {(parts.size() == 1 ? parts.front().clone() : at::cat(parts)).to(device())};
        p.work = op(p.flat);  // launched now, waited for below: buckets overlap
        pending.push_back(std::move(p));
      }
    }
    for (auto& p : pending) {
      p.work->wait(options.timeout);
      int64_t offset = 0;
      for (const auto i : p.members) {
        const int64_t n = tensors[i].numel();
        tensors[i].copy_(p.flat.front().narrow(0, offset, n).view(tensors[i].sizes()));
        offset += n;
      }
    }
  }
};

DataParallel::DataParallel(const DataParallelOptions& o) : impl_(std::make_unique<Impl>()) {
  if (o.worldSize < 1 || o.rank < 0 || o.rank >= o.worldSize)
    throw std::invalid_argument("data parallel: rank " + std::to_string(o.rank) + " outside world size " +
                                std::to_string(o.worldSize));
  if (!dataParallelAvailable(o.cuda))
    throw DistributedError(std::string("data-parallel training needs c10d's ") + (o.cuda ? "NCCL or Gloo" : "Gloo") +
                           " backend, which this build has not (configure with libgloo-dev installed)");
  impl_->options = o;
  Impl& s = *impl_;
  const std::string where = o.masterAddr + ":" + std::to_string(o.masterPort);
  // 1. The store: rank 0 serves it, the others connect (retrying until the timeout).
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.masterPort);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.worldSize);
    so.waitWorkers = false;  // we wait ourselves, to name who is missing
    so.timeout = o.timeout;
    s.store = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, so);
  } catch (const std::exception& e) {
    throw DistributedError(s.who() + ": " +
                           (o.rank == 0 ? "cannot serve the rendezvous store on " + where + " (port in use?)"
                                        : "no rendezvous store at " + where + " within " +
                                              std::to_string(static_cast<int>(s.timeoutSeconds())) +
                                              " s (is rank 0 running, are MASTER_ADDR/MASTER_PORT right?)") +
                           ": " + e.what());
  }
  // 2. Check in and wait for everyone, naming the ranks that never came.
  std::vector<std::string> keys;
  for (int r = 0; r < o.worldSize; ++r) keys.push_back("caig/joined/" + std::to_string(r));
  try {
    const std::string me = std::to_string(getpid()) + "@" + hostName();
    s.store->set(keys[static_cast<std::size_t>(o.rank)], std::vector<uint8_t>(me.begin(), me.end()));
    s.store->wait(keys, o.timeout);
  } catch (const std::exception& e) {
    std::string missing;
    try {
      for (int r = 0; r < o.worldSize; ++r)
        if (!s.store->check({keys[static_cast<std::size_t>(r)]}))
          missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    } catch (const std::exception&) {
      missing = "unknown (the store stopped answering)";
    }
    throw DistributedError(s.who() + ": rank(s) " + missing + " did not join " + where + " within " +
                           std::to_string(static_cast<int>(s.timeoutSeconds())) + " s (WORLD_SIZE=" +
                           std::to_string(o.worldSize) + ": start every worker, or lower WORLD_SIZE)");
  }
  // 3. The process group for the tensors' device.
  auto groupStore = c10::make_intrusive<c10d::PrefixStore>("caig/pg", s.store);
  s.guarded("starting the process group", [&] {
#ifdef CAIG_WITH_NCCL
    if (o.cuda) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = o.timeout;
      s.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(groupStore, o.rank, o.worldSize, opts);
      s.backend = "nccl";
      return;
    }
#endif
#ifdef CAIG_WITH_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    if (iface && *iface)
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    else if (isLoopback(o.masterAddr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    s.group = c10::make_intrusive<c10d::ProcessGroupGloo>(groupStore, o.rank, o.worldSize, opts);
    s.backend = "gloo";
#endif
  });
}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const {
  return impl_->options.rank;
}
int DataParallel::worldSize() const {
  return impl_->options.worldSize;
}
const DataParallelOptions& DataParallel::options() const {
  return impl_->options;
}
std::string DataParallel::describe() const {
  return impl_->who() + " (" + impl_->backend + ")";
}
double DataParallel::communicationSeconds() const {
  return impl_->seconds;
}

void DataParallel::allReduceSum(std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return;
  impl_->guarded("all-reduce", [&] {
    impl_->bucketed(tensors, [&](std::vector<at::Tensor>& flat) { return impl_->group->allreduce(flat); });
  });
}

void DataParallel::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  impl_->guarded("broadcast", [&] {
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    impl_->bucketed(tensors, [&](std::vector<at::Tensor>& flat) { return impl_->group->broadcast(flat, bo); });
  });
}

std::vector<std::string> DataParallel::allGather(const std::string& mine) {
  Impl& s = *impl_;
  const std::string prefix = "caig/gather/" + std::to_string(s.gatherRound++) + "/";
  return s.guarded("exchanging run data", [&] {
    s.store->set(prefix + std::to_string(s.options.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
    std::vector<std::string> all;
    for (int r = 0; r < s.options.worldSize; ++r) {
      const std::string key = prefix + std::to_string(r);
      s.store->wait({key}, s.options.timeout);
      const auto bytes = s.store->get(key);
      all.emplace_back(bytes.begin(), bytes.end());
    }
    return all;
  });
}

std::vector<double> DataParallel::sum(const std::vector<double>& mine) {
  if (mine.empty()) return {};
  std::vector<at::Tensor> v{at::tensor(mine, at::TensorOptions().dtype(at::kDouble))};
  allReduceSum(v);
  const at::Tensor out = v.front().cpu().contiguous();
  return std::vector<double>(out.data_ptr<double>(), out.data_ptr<double>() + out.numel());
}

bool DataParallel::anyTrue(bool mine) {
  std::vector<at::Tensor> t{at::full({1}, mine ? 1.0 : 0.0, at::TensorOptions().dtype(at::kFloat))};
  allReduceSum(t);
  return t.front().item<double>() > 0.5;
}

void DataParallel::barrier() {
  (void)anyTrue(false);
}

void DataParallel::requireSame(const std::string& digest, const std::string& what) {
  const auto all = allGather(digest);
  std::string differ;
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all.front()) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw DistributedError(impl_->who() + ": the " + what + " of rank(s) " + differ +
                           " differ from rank 0's: every worker must run the same command on the same data and model");
}

}  // namespace caig
