#pragma once
// Choosing the cutout engine: ISNet when its imported weights are installed, GrabCut otherwise.
// Torch-free header, so the studio's widgets can call it.

#include <filesystem>
#include <memory>
#include <string>

#include "core/cutout/cutout.h"

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

// The engine chosen and loaded on first use, then reused (ISNet's weights load once). One user
// at a time (the studio's job queue runs one job at a time).
class CutoutProvider {
 public:
  CutoutProvider() = default;  // defaultIsnetDir() as it is at the first get()
  explicit CutoutProvider(std::filesystem::path isnetDir) : isnetDir_(std::move(isnetDir)), dirGiven_(true) {}
  CutoutEngine& get();
  const std::string& note() const { return note_; }  // chooseCutoutEngine's, once get() ran

 private:
  std::filesystem::path isnetDir_;
  bool dirGiven_ = false;
  std::unique_ptr<CutoutEngine> engine_;
  std::string note_;
};

}  // namespace caig
