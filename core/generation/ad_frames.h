#pragma once
// Every ad size composed for its own frame. A stored variant is drawn again at another ad size from
// what it recorded (engine, settings, prompt and plan, seed, the product's placement): the product
// placed on that frame by the same rule, the backdrop drawn at that aspect, the product's own
// pixels pasted back. So a 9:16 story or a 1.91:1 banner of a square variant is a composed ad, not
// the square with its edges stretched outward. The built-in engine draws a frame in milliseconds;
// an SD1.5 variant costs one generation per frame. Qt-free and Torch-free.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/generation/generation_job.h"
#include "core/project/export.h"

namespace caig {

class Project;

// draw: each size composed for its frame (drawn again); outpaint: the stored image kept whole and
// the frame around it painted with the same prompt and seed (engines that inpaint; the others'
// variants are drawn); fit: the stored image fitted to each size, its backdrop extended (instant,
// the exact pixels that were ranked, blurred around them).
enum class FrameMode { Draw, Outpaint, Fit };
std::string toString(FrameMode mode);               // "draw", "outpaint", "fit"
FrameMode parseFrameMode(const std::string& name);  // throws std::invalid_argument

// Room for copy at the top or the bottom of every frame: "none", "top", "bottom" (kCopySpace of the height).
inline constexpr double kCopySpace = 0.2;
struct CopySpace {
  double top = 0.0, bottom = 0.0;  // fractions of the frame's height
};
CopySpace parseCopySpace(const std::string& name);  // throws std::invalid_argument

// True when the sizes have the same aspect ratio (within 0.5%): one is the other scaled.
bool sameAspect(cv::Size a, cv::Size b);

class AdFrames {
 public:
  // Reads from the project, on its thread, what composing `items` at `presetIds` needs. A frame is
  // composed for each size whose aspect differs from the variant's own, and for every size when
  // `copy` asks for room (the product moves): drawn again, or with FrameMode::Outpaint outpainted
  // when the variant's engine inpaints (the built-in backdrops are drawn, with a note). A variant
  // that cannot be drawn again (an engine this build lacks, a record without its parameters, a
  // product without its cutout) is fitted instead, and notes() says so. `mode` Fit composes none.
  AdFrames(const Project& project, const std::vector<ExportItem>& items, const std::vector<std::string>& presetIds,
           CopySpace copy = {}, FrameMode mode = FrameMode::Draw);

  // How many files will be drawn (the others are fitted).
  int framesToDraw() const { return static_cast<int>(requests_.size()); }
  // The engines those frames run on ("builtin", "sd15"), each once.
  std::vector<std::string> engines() const;
  const std::vector<std::string>& notes() const { return notes_; }

  // Item `index` composed at `presetId` (any thread, no database; an outpainted frame reads the
  // variant's image file), or an empty image when that file is to be fitted. Throws the engine's
  // errors, image errors for an unreadable variant, and std::runtime_error("export cancelled")
  // when `*cancel` stops it.
  ExportFrame draw(GenerationEngines& engines, std::size_t index, const std::string& presetId,
                   const std::atomic<bool>* cancel = nullptr) const;

 private:
  struct ProductShot {
    cv::Mat shot, alpha;
    std::string title, category;
  };
  std::map<std::int64_t, ProductShot> products_;
  struct Frame {
    std::int64_t productId = 0;
    GenerationRequest request;
    // Outpainting: the variant's image and how its product was placed on it; empty: drawn again.
    std::filesystem::path outpaintFrom;
    std::optional<PlacementOverride> sourcePlacement;
    double sourceCopyTop = 0.0, sourceCopyBottom = 0.0;
  };
  std::map<std::pair<std::size_t, std::string>, Frame> requests_;
  std::vector<std::string> notes_;
};

}  // namespace caig
