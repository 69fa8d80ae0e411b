#pragma once
// Choosing the cutout engine: ISNet when its imported weights are installed, GrabCut otherwise.
// Torch-free header, so the studio's widgets can call it.

#include <filesystem>
#include <memory>
#include <string>

#include "core/cutout.h"

namespace caig {

// $CAIG_ISNET_DIR, else ~/.local/share/caig-studio/models/isnet (where packaging/fetch-isnet.sh
// puts it).
std::filesystem::path defaultIsnetDir();

struct CutoutChoice {
  std::unique_ptr<CutoutEngine> engine;
  std::string note;  // why this engine, shown to the user (e.g. how to install ISNet)
};

// Never throws for missing weights: falls back to GrabCut and says so in `note`. Throws
// CutoutError when the weights exist but cannot be loaded (corrupt file), naming the file.
CutoutChoice chooseCutoutEngine(const std::filesystem::path& isnetDir = defaultIsnetDir());

}  // namespace caig
