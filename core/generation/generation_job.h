#pragma once
// The main job, written once for every engine: product shot -> cutout (when it has none) ->
// placement on the ad (CAIG's 0.78 rule or the product's stored placement) -> N prompts (pinned
// and new prompts first, the built-in planner writes the rest) -> the BackgroundGenerator draws
// each at its working size -> the original product pixels pasted back at the ad size -> ranking
// against the plain original -> variants stored with every parameter. The command line, the
// studio and the preference rounds all run it.
//
// Three steps, so that the studio can keep its database on the GUI thread: prepareGeneration
// reads what the job needs from the project, runGeneration computes (any thread, no database),
// saveGeneration writes the result back. Qt-free and Torch-free.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/generation/background_generator.h"
#include "core/generation/composition.h"
#include "core/ranking/variant_ranking.h"

namespace caig {

class CtrRanker;
class CutoutEngine;
class GeneratorCache;
class Project;
struct PromptRecord;
struct Variant;

// fixed: every variant uses the seed; increment: variant i (over all prompts) uses seed + i;
// random: a fresh 32-bit seed per variant (recorded with it, so it can be made again).
enum class SeedMode { Fixed, Increment, Random };
std::string toString(SeedMode mode);
SeedMode parseSeedMode(const std::string& name);  // throws std::invalid_argument
std::uint64_t variantSeed(SeedMode mode, std::uint64_t seed, int index);

// One prompt of a job.
struct JobPrompt {
  std::string text;
  std::string source = "user";  // PromptRecord::source when it becomes a new record
  std::int64_t promptId = 0;    // the product's prompt record it is, 0 = none yet (matched by text when saved)
  nlohmann::json plan;          // the writer's plan for it (see BackgroundRequest::plan), null when none
};

struct GenerationRequest {
  std::string engine = "builtin";  // a registered GeneratorKind
  GeneratorSettings settings = nlohmann::json::object();  // its options; unset ones take their defaults
  std::string presetId = "1:1-1080";  // the ad size, see adPresets()
  int prompts = 4;                    // prompts to render
  int variantsPerPrompt = 1;
  std::uint64_t seed = 1;
  SeedMode seedMode = SeedMode::Increment;
  std::vector<JobPrompt> givenPrompts;  // used first (the command line's --prompt, "same seed again")
  // Then the product's own: pinned prompts, then prompts no variant was made from yet (typed by the
  // user or written by a prompt model), newest first. The built-in planner writes the rest.
  bool productPrompts = true;
  // The product's stored placement unless given (a recorded variant's; nullopt = CAIG's default).
  bool placementGiven = false;
  std::optional<PlacementOverride> placement;
  CompositionParams composition;
  bool previews = true;  // ask engines for per-step previews (GenerationEvent::preview)
};

// Outpainting: a stored ad extended to another frame. Its image is fitted inside the new frame
// (the room for copy left free), kept, and only the frame around it is painted by an inpainting
// engine with the same prompt and seed; the product's own pixels are pasted back where the ad had
// them. What the user picks over drawing the frame again when the ranked image must stay.
struct OutpaintSource {
  cv::Mat image;  // CV_8UC3, the ad to extend at its own size
  // How the product was placed on it (as recorded with the variant), so the job finds it again.
  std::optional<PlacementOverride> placement;
  double copyTop = 0.0, copyBottom = 0.0;
};

// Where the source lies in an outpainted frame of `frame` pixels: fitted (aspect kept) inside the
// rows that room for copy leaves free, centred there. Rounded to whole pixels.
cv::Rect outpaintRect(cv::Size source, cv::Size frame, double copyTop, double copyBottom);

// Everything the job reads before it runs.
struct GenerationInput {
  GenerationRequest request;  // settings complete and checked
  std::int64_t productId = 0;  // 0: a shot outside any project (nothing can be saved)
  std::string title, category;
  cv::Mat shot;   // the product shot, BGR(A)
  cv::Mat alpha;  // its cutout; empty: the job cuts it out
  // Non-empty: `alpha` came with the shot (e.g. "alpha-file", an exact mask beside it) and is
  // stored as the product's cutout with the variants.
  std::string alphaSource;
  std::vector<JobPrompt> prompts;  // at most request.prompts; the planner writes the others
  // Texts the product's variants used already (not pinned): the planner writes other ones.
  std::set<std::string> usedPromptTexts;
  std::map<std::string, double> styleWeights;  // the project's learnt planner preferences
  // The product's stored variants, ranked together with the new ones when the job ranks.
  std::vector<std::pair<std::int64_t, std::filesystem::path>> storedVariants;
  // The plain inpainting job: the canvas as given (image, mask, control at one size), no placement
  // and no paste-back; the variants are the engine's images at that size.
  std::optional<Layout> givenCanvas;
  // Set: the job extends this ad to the request's ad size instead of drawing a new one (one prompt,
  // an engine that inpaints; the request's room for copy places the source in the frame).
  std::optional<OutpaintSource> outpaint;
};

// Reads product `productId` of the project: shot, cutout, placement, prompts, style weights and
// stored variants. Throws StoreError for an unknown product, std::invalid_argument for a bad
// request (and the engine's own checks, e.g. a missing model folder), image errors for the shot.
GenerationInput prepareGeneration(const Project& project, std::int64_t productId, GenerationRequest request);
// A shot outside any project (only the given prompts and the planner's).
GenerationInput prepareGeneration(const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                                  const std::string& category, GenerationRequest request);
// The plain inpainting job on an image as given: `mask` (>= 128 = repaint; grey or the first
// channel) and `control` (empty: canny of the kept part) of the image's size. Needs given prompts.
// Throws std::invalid_argument naming the input whose size or type is wrong.
GenerationInput prepareGivenCanvas(const cv::Mat& image, const cv::Mat& mask, const cv::Mat& control,
                                   GenerationRequest request);

// The prompts a job takes from `given` and the product's `records` (see productPrompts), at most
// `count`; `used` holds the ids of prompts variants were made from.
std::vector<JobPrompt> choosePrompts(const std::vector<JobPrompt>& given, const std::vector<PromptRecord>& records,
                                     const std::vector<std::int64_t>& used, int count, bool productPrompts);

struct GenerationEvent {
  // Warning: something the user should know that did not stop the job (detail: the message, e.g.
  // a LoRA whose keys partly match nothing), once per job and message.
  enum class Stage { CuttingOut, WritingPrompts, LoadingEngine, EngineLoaded, Generating, Warning, Ranking };
  Stage stage = Stage::Generating;
  double fraction = 0;  // of the whole job, 0..1
  int variant = 0, variants = 0;  // Generating: this variant (0-based) of how many
  int step = 0, steps = 0;        // Generating: after step `step` (1-based) of `steps`
  // CuttingOut: the cutout engine; LoadingEngine: the engine's name; EngineLoaded: its device
  // ("" for engines without one).
  std::string detail;
  cv::Mat preview;  // Generating: the background so far at the working size, when the engine shows one
};
using GenerationObserver = std::function<void(const GenerationEvent&)>;

struct GenerationEngines {
  GeneratorCache* generators = nullptr;  // keeps the engine loaded across jobs; null: loaded for this job
  std::function<CutoutEngine&()> cutout;  // asked only when the product has no cutout yet
  CtrRanker* ranker = nullptr;            // null: the job does not rank
};

struct GeneratedVariant {
  int promptIndex = 0;  // into GenerationOutcome::prompts
  JobPrompt prompt;
  std::uint64_t seed = 0;
  cv::Size workingSize;
  cv::Mat background;   // CV_8UC3, the engine's image at the working size
  cv::Mat image;        // CV_8UC3 ad at the preset size, the original product pixels pasted back
  cv::Mat canvasAlpha;  // CV_8UC1 at the ad size, where the product sits
  nlohmann::json params;  // what is recorded with the variant: engine, model, settings, prompt, seed, ...
  double seconds = 0;
};

struct GenerationOutcome {
  std::vector<GeneratedVariant> variants;  // the finished ones (all unless cancelled)
  bool cancelled = false;
  std::vector<JobPrompt> prompts;  // every prompt of the job, the planner's included
  cv::Mat newCutout;               // the cutout the job made or was given, stored by saveGeneration
  std::string cutoutEngine, cutoutNote;
  std::string engine, modelId, device, description;  // the BackgroundGenerator's
  // With a ranker: every stored variant and the new ones (ids -1, -2, ... = variants[0], [1], ...).
  std::vector<VariantRanking> rankings;
  std::string rankerId, rankerStatus;
  double seconds = 0;
};

// Runs the job. Cancelling (`*cancel`) stops within one step, keeping the finished variants.
// Throws CompositionError (no product in the cutout), std::invalid_argument (no prompts, more
// than 256 variants), and the engines' errors.
GenerationOutcome runGeneration(GenerationEngines& engines, const GenerationInput& input,
                               const GenerationObserver& observe = {}, const std::atomic<bool>* cancel = nullptr);

// In one transaction: the new cutout, a prompt record per prompt not stored yet, the images under
// variants/ and a variant record each with its parameters, and the rankings. Returns the new
// variants in result order.
std::vector<Variant> saveGeneration(Project& project, const GenerationInput& input, const GenerationOutcome& result);

// "Same seed again": the request that renders stored variant `variant` (of prompt record `prompt`,
// when it still exists) once more from its recorded engine, settings, prompt, plan, seed, ad size
// and placement. Throws std::invalid_argument when its record lacks what is needed or this build
// has not its engine.
GenerationRequest repeatRequest(const Variant& variant, const std::optional<PromptRecord>& prompt);

// One ad for one prompt with nothing stored (the preference rounds render their sampled prompts so).
cv::Mat renderPromptAd(GenerationEngines& engines, const std::string& engine, const GeneratorSettings& settings,
                       const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                       const std::string& category, const std::string& prompt, std::uint64_t seed,
                       const std::string& presetId);

}  // namespace caig
