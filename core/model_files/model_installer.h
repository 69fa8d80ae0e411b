#pragma once
// Installing catalogue models (model_catalogue.h) through the Hub client (hf_hub.h), one after
// another: what `caig models install` and the studio's Install dialog both run.

#include <functional>
#include <string>
#include <vector>

#include "core/model_files/hf_hub.h"
#include "core/model_files/model_catalogue.h"

namespace caig {

struct ModelInstallProgress {
  size_t modelIndex = 0;  // 1-based
  size_t modelCount = 0;
  std::string title;  // the catalogue title, or the repository id
  hf::InstallProgress file;
};
using ModelInstallProgressFn = std::function<bool(const ModelInstallProgress&)>;  // false: cancel

// "3.1 GB of 5.9 GB, 42 MB/s, 1m20s left: unet/diffusion_pytorch_model.safetensors (SD1.5, model 1
// of 4)": the line the CLI and the studio show under their bars.
std::string describeInstallProgress(const ModelInstallProgress& p);

// Each model with its catalogue file patterns; `include` replaces them when given (a plain
// repository's --include). A model that does not come from the Hub (ISNet, from npm) throws
// HubError(Refused) saying how it is installed. Stops at the first error; what finished before
// it stays installed.
std::vector<hf::InstallResult> installModels(const hf::HubClient& client, const std::vector<CatalogueModel>& models,
                                             const std::vector<std::string>& include,
                                             const ModelInstallProgressFn& progress = {});

}  // namespace caig
