#pragma once
// caig generate: the generation job (core/generation/generation_job.h) on the command line, for
// every registered engine. The options every engine shares are written here; each engine's own
// (--steps, --sampler, ...) come from its GeneratorKind, so a new engine needs nothing in app/.

#include <CLI/CLI.hpp>

namespace caig::cli {

// Adds the `generate` subcommand; its callback stores the exit status in `status` (0; 1 with a
// message on stderr for bad input; 2 for an engine this build does not have; 130 when cancelled).
void addGenerateCommand(CLI::App& app, int& status);

}  // namespace caig::cli
