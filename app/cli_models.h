#pragma once
// `caig models list | catalogue | install | locations`: what is installed and found on disk, what
// can be installed, installing it from the Hugging Face Hub (app/cli_models.cpp).

namespace CLI {
class App;
}

namespace caig::cli {

void addModelCommands(CLI::App& models);

}  // namespace caig::cli
