#pragma once
// Loading a torch::nn::Module's parameters and buffers from a Checkpoint whose keys are the
// module's own dotted names. Every key is checked: a missing or unexpected name, a shape that
// differs or a non-floating dtype is reported by name, all of them in one FormatError.

#include <ATen/core/Tensor.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}

namespace caig::io {
class Checkpoint;
}

namespace caig {

// Copies (converting floating dtypes to the module's) into the module in place. `what` names
// the model in the message. Throws caig::io::FormatError; the module is untouched on error.
void loadModuleWeights(torch::nn::Module& module, const io::Checkpoint& checkpoint, const std::string& what);
// How a model's names meet a checkpoint whose layout differs (one place per model, no code in
// the model itself).
struct WeightNaming {
  // Module name -> checkpoint key, e.g. a "language_model." prefix; identity when unset.
  std::function<std::string(const std::string&)> checkpointKey;
  // Checkpoint keys that may be present without being loaded: non-weight buffers some exporters
  // saved (CLIP's position_ids), other models' parts (a LLaVA file's vision tower).
  std::function<bool(const std::string&)> ignore;
  // Checkpoint keys whose tensor may come in another shape of as many elements, reshaped to the
  // module's: LDM files store the VAE's attention projections as 1x1 convolutions.
  std::function<bool(const std::string&)> reshapes;
  // A CPU tensor stored in the module tensor's dtype and shape becomes a view of the checkpoint's
  // mapped file (copy-on-write) instead of a copy: no second copy in memory while loading, pages
  // read when first used and shared with other processes mapping the same file.
  bool aliasMatching = false;
};
void loadModuleWeights(torch::nn::Module& module, const io::Checkpoint& checkpoint, const std::string& what,
                       const WeightNaming& naming);

// Copies the parameters named in `names` (module names) again from the checkpoint into the live
// tensors, converted as the first load converted them: undoes in-place changes (merged LoRAs,
// models/sd_lora.h) bit for bit without a second copy of the weights in memory. Throws
// io::FormatError naming `what` and the key when it is gone or of another size.
void reloadParameters(const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                      const io::Checkpoint& checkpoint, const WeightNaming& naming, const std::set<std::string>& names,
                      const std::string& what);

}  // namespace caig
