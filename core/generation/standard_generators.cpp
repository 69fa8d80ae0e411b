#include "core/generation/standard_generators.h"

#include "core/generation/generator_registry.h"
#ifdef CAIG_HAVE_SD
#include "core/sd/sd_generation.h"
#endif

namespace caig {

void registerStandardGenerators() {
  generatorKinds();  // the built-in backdrops
#ifdef CAIG_HAVE_SD
  registerSdGenerator();
#endif
}

}  // namespace caig
