#pragma once
// The main job on the built-in engines: a cut-out product -> CAIG placement on the ad canvas ->
// N template prompts -> N procedural backdrops with the product pasted back -> variants stored
// in the project. Split into a pure compute step (safe on a worker thread) and a save step
// (on the thread that owns the project's database).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/composition.h"
#include "core/prompt_writer.h"

namespace caig {

class Project;
struct Variant;

struct BuiltinRequest {
  std::string presetId = "1:1-1080";  // ad size, see adPresets()
  int variants = 4;                   // one prompt and one backdrop each
  std::uint64_t seed = 1;
  CompositionParams composition;
  // The template planner's learned style preferences (core/style_preferences.h); empty = uniform.
  std::map<std::string, double> styleWeights;
  // The user's placement of the product (ProjectStore::placement); none = CAIG's default.
  std::optional<PlacementOverride> placement;
};

struct BuiltinVariant {
  BackgroundDescription description;
  cv::Mat image;        // CV_8UC3 ad at the preset size
  cv::Mat canvasAlpha;  // CV_8UC1, where the product sits (for rankers and paste-back checks)
};

// Throws CompositionError (no product in the alpha), SpecError (bad styles) or
// std::invalid_argument (bad request). `progress(done, total)` is called after each variant;
// returning false cancels, keeping the variants finished so far.
std::vector<BuiltinVariant> renderBuiltinVariants(const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                                                  const std::string& category, const BuiltinRequest& request,
                                                  const std::function<bool(int, int)>& progress = {});

// Writes the images under variants/ and a prompt + variant record for each, in one transaction.
std::vector<Variant> saveBuiltinVariants(Project& project, std::int64_t productId,
                                         const std::vector<BuiltinVariant>& variants, const BuiltinRequest& request);

}  // namespace caig
