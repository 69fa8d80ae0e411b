#pragma once
// The `caig` command line as a function, so that tests run it in-process (app/cli_app.cpp).

namespace caig::cli {

// Parses and runs one command; returns the exit status. Registers the engines this build holds
// first (core/generation/standard_generators.h), after any a caller registered itself.
int run(int argc, char** argv);

}  // namespace caig::cli
