#pragma once
// The built-in PromptWriter: a template planner over a style library (resources/styles/
// styles.json, editable data) and the product's palette. For each description it picks a style
// (weighted, without repeats while styles remain), a colour harmony of the product's dominant
// colour (complementary, analogous, neutral), and writes both a Stable-Diffusion-style
// background prompt and the BackdropSpec that the built-in renderer draws for it.

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/backdrop/backdrop_spec.h"

namespace caig {

struct DominantColour {
  cv::Vec3b bgr;
  cv::Vec3f lab;      // CIE L*a*b* (L 0..100)
  double weight = 0;  // share of the product's opaque area, the list sums to 1
  std::string name;   // nearest named colour
};

// k-means in Lab over the pixels under `alpha` (> 127; the whole image when alpha is empty),
// sorted by weight, heaviest first. Deterministic. Empty when no pixel is opaque.
std::vector<DominantColour> dominantColours(const cv::Mat& bgr, const cv::Mat& alpha, int k = 3);

// Nearest entry of the named-colour table by Lab distance ("sage green", "warm beige", ...).
std::string colourName(const cv::Vec3b& bgr);

enum class Harmony { Complementary, Analogous, Neutral };
std::string toString(Harmony h);
Harmony parseHarmony(const std::string& s);  // throws SpecError

// Hue of a Lab colour in degrees [0,360).
double labHue(const cv::Vec3f& lab);

struct BackgroundDescription {
  std::string prompt;
  BackdropSpec spec;
  std::string styleId;
  Harmony harmony = Harmony::Neutral;
};

struct ProductBrief {
  std::string title;
  std::string category;
  std::vector<DominantColour> palette;  // from dominantColours(); may be empty
};

class TemplatePromptWriter {
 public:
  // Loads the style library; throws SpecError naming the file and the style for bad data.
  explicit TemplatePromptWriter(const std::filesystem::path& stylesFile = defaultStylesFile());
  static std::filesystem::path defaultStylesFile();  // resourceDir()/styles/styles.json

  // N descriptions, deterministic for (product, n, seed, styleWeights).
  std::vector<BackgroundDescription> write(const ProductBrief& product, int n, std::uint64_t seed) const;
  // Same, with the palette extracted from the product's pixels under its alpha.
  std::vector<BackgroundDescription> write(const std::string& title, const std::string& category,
                                           const cv::Mat& bgr, const cv::Mat& alpha, int n,
                                           std::uint64_t seed) const;

  std::vector<std::string> styleIds() const;

  // Sampling bias per style id (missing = 1.0, 0 = never while others remain); learnable from
  // preferences. Saved as {"styleWeights": {"id": w, ...}}.
  std::map<std::string, double> styleWeights;
  void loadStyleWeights(const std::filesystem::path& file);  // throws SpecError / io errors
  void saveStyleWeights(const std::filesystem::path& file) const;

 private:
  std::vector<nlohmann::json> styles_;
};

class Project;
// Where a project keeps what its style rounds learnt (caig pcpo --engine builtin): <project>/style_weights.json.
std::filesystem::path styleWeightsFile(const Project& project);
// Loads the project's learnt style weights into `writer` when the project has some; false otherwise.
bool loadProjectStyleWeights(const Project& project, TemplatePromptWriter& writer);

}  // namespace caig
