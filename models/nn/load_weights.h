#pragma once
// Loading a torch::nn::Module's parameters and buffers from a Checkpoint whose keys are the
// module's own dotted names. Every key is checked: a missing or unexpected name, a shape that
// differs or a non-floating dtype is reported by name, all of them in one FormatError.

#include <string>

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

}  // namespace caig
