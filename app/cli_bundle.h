#pragma once
// caig bundle export / import: the Training dock's training bundles (core/training/training_bundle.h)
// from the command line: a project's reward-model fine-tuning written out for a server, and the
// server's result taken back into the project.

#include <CLI/CLI.hpp>

namespace caig::cli {

// Adds `bundle` with `export` and `import`; their callbacks store the exit status in `status`
// (0; 1 with a message on stderr).
void addBundleCommands(CLI::App& app, int& status);

}  // namespace caig::cli
