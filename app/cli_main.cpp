// caig: the command line (app/cli_app.cpp).

#include "app/build_commit.h"
#include "app/cli_app.h"
#include "core/base/version.h"

int main(int argc, char** argv) {
  caig::setStudioCommit(caigBuildCommit());
  return caig::cli::run(argc, argv);
}
