#pragma once
// A product photographer's backdrop described as data: the set-up (sweep, gradient, window
// light, floor and horizon), surfaces, key light, podium, lens effects and grade. The built-in
// BackgroundGenerator renders it (core/backdrop/backdrop_renderer.h); the template PromptWriter writes
// one next to each text prompt. Colours are BGR (OpenCV order) in memory, "#rrggbb" in JSON.
//
// Validation policy: a number outside its range is CLAMPED to the range (clampSpec() says
// which fields it changed); a value that cannot mean anything is REJECTED with SpecError:
// NaN or infinite numbers, unknown layout/material/shape names, malformed colours, wrong JSON
// types. Missing JSON fields keep their defaults.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

class SpecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class BackdropLayout {
  Sweep,           // seamless paper curving from wall to floor, light pooled behind the product
  LinearGradient,  // wall colour to floor colour along the light direction
  RadialGradient,  // wall colour in a lit centre, floor colour towards the edges
  WindowLight,     // plain wall with the soft shape of a window's light on it
  FloorHorizon,    // a table or floor plane meeting the wall at `horizon`
};

enum class SurfaceMaterial { Paper, Marble, Wood, Concrete, Fabric };
enum class PodiumShape { None, Cylinder, Box };

struct PodiumSpec {
  PodiumShape shape = PodiumShape::None;
  cv::Vec3b colour{232, 236, 240};
  SurfaceMaterial material = SurfaceMaterial::Paper;
  double centerX = 0.5;  // [0,1] of the width
  double top = 0.85;     // [0,1] of the height: where the product stands (centre of the top face)
  double width = 0.55;   // [0.05,1.5] of the width
  double height = 0.3;   // [0.01,1] of the height: the visible body below the top face
};

struct BackdropSpec {
  BackdropLayout layout = BackdropLayout::Sweep;
  cv::Vec3b wallColour{225, 228, 232};
  cv::Vec3b floorColour{232, 235, 238};
  SurfaceMaterial wallMaterial = SurfaceMaterial::Paper;
  SurfaceMaterial floorMaterial = SurfaceMaterial::Paper;
  cv::Vec3b accentColour{150, 150, 150};  // marble veins, wood grain, concrete pores
  double materialScale = 1.0;             // [0.25,4] pattern size
  double materialContrast = 0.5;          // [0,1]
  double horizon = 0.62;                  // [0.2,0.95] of the height: wall meets floor

  double lightAngle = -30.0;     // [-180,180] degrees, where the key light comes from; 0 = above,
                                 // negative = from the left
  double lightSoftness = 0.6;    // [0,1] 1 = very wide, soft pool of light
  double lightIntensity = 0.6;   // [0,1.5] depth of the falloff from the lit spot
  double vignette = 0.3;         // [0,1]

  PodiumSpec podium;

  double bokeh = 0.0;            // [0,1] out-of-focus light discs on the wall
  double depthBlur = 0.0;        // [0,1] blur of the wall and far floor
  double shadowOpacity = 0.55;   // [0,1] product's contact shadow
  double shadowSoftness = 0.5;   // [0,1]
  double reflection = 0.0;       // [0,1] mirror image of the product under it
  cv::Vec3b gradeTint{200, 220, 255};  // warm by default
  double gradeStrength = 0.1;    // [0,1]
  double grain = 0.25;           // [0,1] film grain
  std::uint64_t seed = 1;

  bool operator==(const BackdropSpec& other) const;
  bool operator!=(const BackdropSpec& other) const { return !(*this == other); }
};

// Clamps every number into its range; returns one line per changed field ("vignette 3 -> 1").
// Throws SpecError for NaN / infinity.
std::vector<std::string> clampSpec(BackdropSpec& spec);

nlohmann::json toJson(const BackdropSpec& spec);
// Clamps out-of-range numbers (`notes` receives clampSpec's lines); throws SpecError for the rest.
BackdropSpec backdropSpecFromJson(const nlohmann::json& j, std::vector<std::string>* notes = nullptr);

std::string toString(BackdropLayout v);
std::string toString(SurfaceMaterial v);
std::string toString(PodiumShape v);
// Throw SpecError naming the accepted values.
BackdropLayout parseLayout(const std::string& s);
SurfaceMaterial parseMaterial(const std::string& s);
PodiumShape parsePodiumShape(const std::string& s);

// "#rrggbb" <-> BGR. parseHexColour throws SpecError.
std::string hexColour(const cv::Vec3b& bgr);
cv::Vec3b parseHexColour(const std::string& s);

}  // namespace caig
