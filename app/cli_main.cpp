// caig: the command line (app/cli_app.cpp).

#include "app/build_commit.h"
#include "app/cli_app.h"
#include "core/base/version.h"
#include "models/cpu_allocator.h"
#include "models/device_info.h"

int main(int argc, char** argv) {
  caig::setStudioCommit(caigBuildCommit());
  caig::configureCpuThreads();  // every engine then shares one intra-op pool of this size
  caig::useCachingCpuAllocator();  // large blocks reused from step to step (models/cpu_allocator.h)
  return caig::cli::run(argc, argv);
}
