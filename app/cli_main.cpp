// caig: the command line (app/cli_app.cpp).

#include "app/cli_app.h"

int main(int argc, char** argv) { return caig::cli::run(argc, argv); }
