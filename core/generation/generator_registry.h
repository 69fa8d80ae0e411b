#pragma once
// The engines a studio build can generate with, described once as data: each GeneratorKind names
// its options (type, default, range, help) and how to create the engine. The command line makes
// its `caig generate` flags from them, the studio's Generate dock its widgets, and the job checks
// settings against them, so a new engine registers here and nothing in app/ or widgets/ changes.
// The built-in backdrops are always registered; registerStandardGenerators() adds the neural
// engines this build holds. Qt-free and Torch-free.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/generation/background_generator.h"
#include "core/model_files/model_registry.h"

namespace caig {

enum class OptionType {
  Integer,  // a whole number in [min, max], a multiple of `multiple`
  Number,   // a real number in [min, max]
  Choice,   // one of `choices`
  Text,     // free text
  Model,    // an installed model folder of `modelKind` (the studio offers what model_registry finds)
  File,     // a path (command line only)
  // LoRA files, each at a weight: [{"file": path, "weight": w}, ...]; the command line repeats
  // its flag as FILE[:WEIGHT].
  LoraList,
};

struct GeneratorOption {
  std::string key;    // in the settings and the recorded parameters; the studio's widget is key + "Spin"/"Combo"/"Edit"
  std::string flag;   // the command line's --flag (without the dashes)
  std::string label;  // the studio's label
  std::string help;   // one line, for --help and the tooltip
  OptionType type = OptionType::Integer;
  nlohmann::json defaultValue;  // null: unset (Model, File and Text only)
  double min = 0, max = 0, step = 1;
  int multiple = 1;  // Integer: values must be multiples of it (the studio snaps to it)
  std::vector<std::string> choices;
  ModelKind modelKind = ModelKind::Other;
  std::string noneLabel;  // Model: what no choice means, e.g. "The pipeline's own controlnet/"
  // Model: the studio selects the first installed model of the kind until the user picks another
  // (TAESD previews as soon as TAESD is installed).
  bool pickFirstInstalled = false;
  // Model: the same while the engine's primary model is a single file (it holds no ControlNet);
  // back to none for a folder.
  bool pickFirstForFileModels = false;
  // The engine's main model: the studio offers one engine entry per installed model of its kind.
  bool primaryModel = false;
  bool inStudio = true;  // false: the command line only (devices, reference noise files)
  bool givenCanvasOnly = false;  // only for the plain inpainting job on a given image and mask
  // Choice: the other options' values each choice stands for ({"fast": {"steps": 4, ...}}); the
  // studio sets those widgets when the user picks it, the engine's validate applies them.
  nlohmann::json presets = nlohmann::json::object();
};

struct GeneratorKind {
  std::string name;   // "builtin", "sd15": the --engine value and the variants' "engine"
  std::string label;  // "Built-in backdrops (procedural)"
  std::string filePrefix;  // names of written variant files ("sd-01-seed7.png"); empty: the name
  std::vector<GeneratorOption> options;
  // Keys of the recorded parameters that hold the prompt's plan this engine follows ("spec" for
  // the built-in planner); "same seed again" hands them back as the plan.
  std::vector<std::string> planKeys;
  // An inpainting engine: its image already holds the layout's pixels where the mask is black, so
  // the plain inpainting job keeps it as it is (as diffusers' pipeline returns it) and a stored ad
  // can be outpainted to another frame with it. False: it paints a whole background (the plain job
  // copies the kept pixels back over it).
  bool inpaints = false;
  // Checks beyond the options' types and ranges (folders exist, ...) and may normalise values
  // (model paths made absolute, so that a recorded variant finds them again); throws with the reason.
  std::function<void(GeneratorSettings&)> validate;
  // Loads the engine for complete settings.
  std::function<std::unique_ptr<BackgroundGenerator>(const GeneratorSettings&)> create;
  // Settings for a variant recorded before variants kept them (optional).
  std::function<GeneratorSettings(const nlohmann::json& params)> settingsFromOldParams;

  const GeneratorOption* option(const std::string& key) const;
  const GeneratorOption* primaryModel() const;  // null for engines without a model
};

// Adds an engine. Throws std::invalid_argument for a name already registered, an option without
// key or flag, or a flag another engine uses for an option of another type.
void registerGenerator(GeneratorKind kind);
// Every registered engine, the built-in backdrops first, then in registration order.
const std::vector<GeneratorKind>& generatorKinds();
bool hasGenerator(const std::string& name);
// Throws std::invalid_argument naming the engines there are.
const GeneratorKind& generatorKind(const std::string& name);

// `settings` with every unset option at its default, checked: unknown keys, wrong types, values
// out of range or not among the choices, then the kind's own validate. Throws
// std::invalid_argument naming the option (and the engine's own errors from validate).
GeneratorSettings completeSettings(const GeneratorKind& kind, const GeneratorSettings& settings);

// Holds one loaded engine and hands it out again while it can serve the settings asked for (the
// studio keeps one across jobs; loading SD weights takes seconds). Not thread-safe: one job at a time.
class GeneratorCache {
 public:
  // Loads (kind.create) unless the engine held is of this kind and reusableFor(settings); the old
  // one is freed first. `settings` must be complete.
  BackgroundGenerator& get(const GeneratorKind& kind, const GeneratorSettings& settings);
  void clear() { current_.reset(); }

 private:
  std::unique_ptr<BackgroundGenerator> current_;
};

}  // namespace caig
