#pragma once
// Registers every engine this build holds with core/generation/generator_registry.h: the built-in
// backdrops (always there) and, when built, SD1.5 + ControlNet. The studio and the command line
// call it once at start; a new engine is added here, and nowhere in app/ or widgets/.

namespace caig {

// Idempotent.
void registerStandardGenerators();

}  // namespace caig
