// caig: the command line (app/cli_app.cpp).

#include "app/build_commit.h"
#include "app/cli_app.h"
#include "core/base/version.h"
#include "models/device_info.h"

int main(int argc, char** argv) {
  caig::setStudioCommit(caigBuildCommit());
  caig::configureCpuThreads();  // every engine then shares one intra-op pool of this size
  return caig::cli::run(argc, argv);
}
