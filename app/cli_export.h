#pragma once
// caig export: what the studio's Export dialog does (core/project/export.h), for a whole project,
// one product or chosen variants.

#include <CLI/CLI.hpp>

namespace caig::cli {

// Adds the `export` subcommand; its callback stores the exit status in `status` (0; 1 with a
// message on stderr for bad input, a failed write or files it would replace without --overwrite).
void addExportCommand(CLI::App& app, int& status);

}  // namespace caig::cli
