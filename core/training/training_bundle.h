#pragma once
// Training bundles: a project's reward-model fine-tuning taken to a server and its result
// brought back. Torch-free (the studio's Training dock calls it); library caig_core_clicks.
//
// A bundle is a folder:
//   bundle.json   what it is (format "caig-training-bundle", version 1), the base model's folder
//                 name, where it came from and its fingerprint (modelFolderFingerprint,
//                 core/training/distributed.h),
//                 the options, the pair counts, and the exact train-rm arguments
//   project/      a CAIG project holding only the click records and their images (imported here
//                 from a CSV of the records, so the server needs no import step)
//   run.sh        the one command: MODEL=<the server's copy of the base model> sh run.sh
//                 [--nproc N | under the torchrun variables], extra train-rm flags appended
//   README.txt    the same in words, and how to bring the result back
// The server's run writes project/models/<name>/ (adapter, heads, reward_model.json with the base
// model's fingerprint; merged/ with "Standalone"). importTrainingResult() copies that folder (from
// the bundle, the adapter folder itself, or a merged folder alone) into the open project and
// registers it as the studio's own training run would.
//
// Both write into a "<target>.partial" sibling first and rename it into place, so a full disk or
// a killed process leaves the old state, never half a bundle or half a model.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/training/neural_training_jobs.h"

namespace caig {

class Project;

// A bundle or a result that cannot be written or taken in; nothing was changed.
class TrainingBundleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TrainingBundleExport {
  std::filesystem::path dir;
  int records = 0, products = 0, pairs = 0;
  uint64_t bytes = 0;  // the bundle's files
  std::string modelFingerprint;
  std::vector<std::string> trainArguments;  // what run.sh passes to `caig train-rm`
  std::string command;                      // the one line to run on the server, beside the bundle's copy
  std::string summary;                      // for people: what was written and how to run it
};

// The `caig train-rm` flags that reproduce the studio's run with `options` (everything the
// Training dock sets, alpha = 2 x rank as the dock trains); --project and --model are left to
// the caller.
std::vector<std::string> trainRmArguments(const NeuralRmJobOptions& options);

// Writes a bundle for fine-tuning options.modelDir (recorded by name and fingerprint, not copied:
// the server has its own copy) on the project's click records into `out`, which must not exist
// unless `replace`. Throws TrainingBundleError (no click pairs, too little space, `out` exists,
// a record's image missing) or io::FileError on a failed write; the partial folder is removed.
TrainingBundleExport exportTrainingBundle(Project& project, const NeuralRmJobOptions& options,
                                          const std::filesystem::path& out, bool replace = false,
                                          const std::function<void(int done, int total)>& progress = {});

struct TrainingResultImport {
  std::string name;                  // <project>/models/<name>
  std::filesystem::path adapterDir;  // empty when a merged folder alone was imported
  std::filesystem::path mergedDir;   // empty without one
  std::filesystem::path logFile;     // the server run's log, copied into <project>/logs/ (may be empty)
  std::string summary;
};

struct TrainingResultImportOptions {
  // The local copy of the base model an adapter needs (empty: the bundle's record of it, else
  // the adapter's own reward_model.json). Its fingerprint must be the one the server trained on.
  std::filesystem::path baseModelDir;
  bool replace = false;  // an existing <project>/models/<name> is replaced (else an error)
};

// `from`: a bundle folder after its run, an adapter folder (reward_model.json), or a standalone
// reward-model folder (config.json + score head). Throws TrainingBundleError naming what is
// missing or different, io::FileError on a failed copy; the project is then unchanged.
TrainingResultImport importTrainingResult(Project& project, const std::filesystem::path& from,
                                          const TrainingResultImportOptions& options = {});
// The name importTrainingResult would give `from` (<project>/models/<name>), so that a caller can
// ask before replacing; empty when `from` is none of the three.
std::string trainingResultName(const std::filesystem::path& from);

}  // namespace caig
