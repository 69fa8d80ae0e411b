#include "core/base/resources.h"

#include <cstdlib>

namespace fs = std::filesystem;

namespace caig {

fs::path resourceDir() {
  if (const char* env = std::getenv("CAIG_RESOURCE_DIR"); env && *env) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "caig-studio";
    if (fs::is_directory(installed / "demo", ec)) return installed;
  }
  return CAIG_SOURCE_RESOURCE_DIR;
}

fs::path demoProductShot() { return resourceDir() / "demo" / "perfume.png"; }

}  // namespace caig
