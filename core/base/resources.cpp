#include "core/base/resources.h"

#include <cstdlib>

namespace fs = std::filesystem;

namespace caig {
namespace {

bool inside(const fs::path& file, const fs::path& dir) {
  const auto rel = file.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

fs::path resourceDir() {
  if (const char* env = std::getenv("CAIG_RESOURCE_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::weakly_canonical(fs::read_symlink("/proc/self/exe", ec), ec);
  // A program still in the build tree it was built in reads the source tree's resources, so an
  // edit to a style file shows without installing. Anywhere else (an installed or unpacked
  // package, a copied binary) only <prefix>/share/caig-studio beside the binary counts: an
  // installed studio never reads a build machine's paths.
  if (ec || inside(exe, fs::weakly_canonical(CAIG_BUILD_TREE_DIR, ec))) return CAIG_SOURCE_RESOURCE_DIR;
  return exe.parent_path().parent_path() / "share" / "caig-studio";
}

fs::path demoProductShot() { return resourceDir() / "demo" / "perfume.png"; }

}  // namespace caig
