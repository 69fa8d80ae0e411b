#pragma once
// What data-parallel training needs beside the process group (models/data_parallel.h): which
// rank owns which products' records, a fingerprint of a run's options, model files and data
// (compared across ranks before any work), and the local launcher behind `--nproc N` (N
// copies of this program with torchrun's variables). Torch-free.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace caig {

// The rank of every record, records grouped by product: the products, largest first (then by
// name), each go to the rank with the fewest records so far (then the lowest rank). The same on
// every rank and for every world size's own split. Throws std::invalid_argument when there are
// fewer products than ranks ("every worker needs a product"), naming `what` the records are.
std::vector<int> shardByProduct(const std::vector<std::string>& recordProducts, int worldSize,
                                const std::string& what = "training pairs");

// A digest that changes with the text, and with the model folders' files: names, sizes and the
// first and last MiB of each (a whole-file hash of 14 GB would take minutes on every start).
// Hidden files and folders and Markdown files (model cards) are left out.
class RunFingerprint {
 public:
  void add(const std::string& text);
  void addModelFolder(const std::filesystem::path& dir);
  std::string hex() const;

 private:
  std::string text_;
};

// A model folder's RunFingerprint alone (names, sizes, first and last MiB of its files): what a
// trained adapter records as its base ("baseFingerprint") and a training bundle as its model.
std::string modelFolderFingerprint(const std::filesystem::path& dir);

struct LocalLaunchOptions {
  int processes = 2;
  int firstPort = 0;                       // 0: a free port on 127.0.0.1, picked here
  std::chrono::milliseconds grace{10000};  // after one worker fails, how long the others get to stop
  std::filesystem::path executable;        // empty: this program (/proc/self/exe)
};

// Runs `args` (argv without argv[0]) in `processes` workers on this machine, with MASTER_ADDR
// 127.0.0.1, MASTER_PORT, RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE and, unless already set,
// CAIG_THREADS = the machine's threads / processes. Interrupts (SIGINT, SIGTERM) are passed on.
// When a worker fails, the others get `grace` to stop by themselves, then SIGTERM, then SIGKILL.
// Returns the first failing worker's exit status (128 + signal for a killed one), else 0.
int runLocalWorkers(const std::vector<std::string>& args, const LocalLaunchOptions& options);

// Removes "--nproc N" / "--nproc=N" from argv; returns N (0 when absent). Throws
// std::invalid_argument for a value that is not a number >= 1.
int takeNprocArgument(std::vector<std::string>& args);

}  // namespace caig
