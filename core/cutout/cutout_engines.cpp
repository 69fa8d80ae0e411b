#include "core/cutout/cutout_engines.h"

#include <cstdlib>

#include "core/cutout/grabcut_cutout.h"
#include "core/cutout/isnet_cutout.h"

namespace fs = std::filesystem;

namespace caig {

fs::path defaultIsnetDir() {
  if (const char* env = std::getenv("CAIG_ISNET_DIR"); env && *env) return env;
  const char* data = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = data && *data ? fs::path(data) : fs::path(home ? home : ".") / ".local" / "share";
  return base / "caig-studio" / "models" / "isnet";
}

CutoutChoice chooseCutoutEngine(const fs::path& isnetDir) {
  std::error_code ec;
  if (!isnetDir.empty() && fs::is_regular_file(isnetDir / "isnet.safetensors", ec)) {
    return {std::make_unique<IsnetCutout>(isnetDir), ""};
  }
  const std::string where = isnetDir.empty() ? std::string("no ISNet folder given") : "no ISNet weights in " + isnetDir.string();
  return {std::make_unique<GrabCutCutout>(),
          "Cut out with GrabCut (" + where + "; run packaging/fetch-isnet.sh for the neural cutout)"};
}

CutoutEngine& CutoutProvider::get() {
  if (!engine_) {
    auto choice = chooseCutoutEngine(dirGiven_ ? isnetDir_ : defaultIsnetDir());
    engine_ = std::move(choice.engine);
    note_ = std::move(choice.note);
  }
  return *engine_;
}

}  // namespace caig
