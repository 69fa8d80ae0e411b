#include "core/backdrop/backdrop_spec.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace caig {
namespace {

// One table drives clamping and JSON for every number, so the two cannot drift apart.
struct NumberField {
  const char* name;  // JSON key; "podium.x" lives in the "podium" object
  double lo, hi;
  double& (*ref)(BackdropSpec&);
};

#define CAIG_FIELD(key, lo, hi, member) \
  NumberField { key, lo, hi, [](BackdropSpec& s) -> double& { return s.member; } }

const std::array<NumberField, 18> kNumbers = {{
    CAIG_FIELD("materialScale", 0.25, 4.0, materialScale),
    CAIG_FIELD("materialContrast", 0.0, 1.0, materialContrast),
    CAIG_FIELD("horizon", 0.2, 0.95, horizon),
    CAIG_FIELD("lightAngle", -180.0, 180.0, lightAngle),
    CAIG_FIELD("lightSoftness", 0.0, 1.0, lightSoftness),
    CAIG_FIELD("lightIntensity", 0.0, 1.5, lightIntensity),
    CAIG_FIELD("vignette", 0.0, 1.0, vignette),
    CAIG_FIELD("podium.centerX", 0.0, 1.0, podium.centerX),
    CAIG_FIELD("podium.top", 0.0, 1.0, podium.top),
    CAIG_FIELD("podium.width", 0.05, 1.5, podium.width),
    CAIG_FIELD("podium.height", 0.01, 1.0, podium.height),
    CAIG_FIELD("bokeh", 0.0, 1.0, bokeh),
    CAIG_FIELD("depthBlur", 0.0, 1.0, depthBlur),
    CAIG_FIELD("shadowOpacity", 0.0, 1.0, shadowOpacity),
    CAIG_FIELD("shadowSoftness", 0.0, 1.0, shadowSoftness),
    CAIG_FIELD("reflection", 0.0, 1.0, reflection),
    CAIG_FIELD("gradeStrength", 0.0, 1.0, gradeStrength),
    CAIG_FIELD("grain", 0.0, 1.0, grain),
}};
#undef CAIG_FIELD

template <typename E, std::size_t N>
std::string nameOf(E v, const std::array<const char*, N>& names) {
  return names.at(static_cast<std::size_t>(v));
}

template <typename E, std::size_t N>
E parseName(const std::string& s, const std::array<const char*, N>& names, const char* what) {
  for (std::size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  std::string list;
  for (const char* n : names) list += std::string(list.empty() ? "" : ", ") + n;
  throw SpecError("unknown " + std::string(what) + " '" + s + "' (expected one of: " + list + ")");
}

constexpr std::array<const char*, 5> kLayouts = {"sweep", "linear-gradient", "radial-gradient",
                                                 "window-light", "floor-horizon"};
constexpr std::array<const char*, 5> kMaterials = {"paper", "marble", "wood", "concrete", "fabric"};
constexpr std::array<const char*, 3> kShapes = {"none", "cylinder", "box"};

std::string formatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Reads j[key] as a number if present; type errors name the key.
void readNumber(const nlohmann::json& obj, const std::string& key, double& out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return;
  if (!it->is_number()) throw SpecError("backdrop spec: '" + key + "' must be a number");
  out = it->get<double>();
}

template <typename F>
void readString(const nlohmann::json& obj, const std::string& key, F&& apply) {
  const auto it = obj.find(key);
  if (it == obj.end()) return;
  if (!it->is_string()) throw SpecError("backdrop spec: '" + key + "' must be a string");
  apply(it->get<std::string>());
}

}  // namespace

bool BackdropSpec::operator==(const BackdropSpec& o) const {
  return toJson(*this) == toJson(o);
}

std::vector<std::string> clampSpec(BackdropSpec& spec) {
  std::vector<std::string> notes;
  for (const auto& f : kNumbers) {
    double& v = f.ref(spec);
    if (!std::isfinite(v)) throw SpecError(std::string("backdrop spec: '") + f.name + "' is not a finite number");
    const double c = std::clamp(v, f.lo, f.hi);
    if (c != v) {
      notes.push_back(std::string(f.name) + " " + formatNumber(v) + " -> " + formatNumber(c));
      v = c;
    }
  }
  return notes;
}

std::string toString(BackdropLayout v) { return nameOf(v, kLayouts); }
std::string toString(SurfaceMaterial v) { return nameOf(v, kMaterials); }
std::string toString(PodiumShape v) { return nameOf(v, kShapes); }
BackdropLayout parseLayout(const std::string& s) { return parseName<BackdropLayout>(s, kLayouts, "layout"); }
SurfaceMaterial parseMaterial(const std::string& s) {
  return parseName<SurfaceMaterial>(s, kMaterials, "material");
}
PodiumShape parsePodiumShape(const std::string& s) { return parseName<PodiumShape>(s, kShapes, "podium shape"); }

std::string hexColour(const cv::Vec3b& bgr) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", bgr[2], bgr[1], bgr[0]);
  return buf;
}

cv::Vec3b parseHexColour(const std::string& s) {
  const auto bad = [&] { return SpecError("colour '" + s + "' is not of the form #rrggbb"); };
  if (s.size() != 7 || s[0] != '#') throw bad();
  int rgb[3];
  for (int i = 0; i < 3; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = s[1 + 2 * i + k];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else throw bad();
      v = v * 16 + d;
    }
    rgb[i] = v;
  }
  return cv::Vec3b(static_cast<uchar>(rgb[2]), static_cast<uchar>(rgb[1]), static_cast<uchar>(rgb[0]));
}

nlohmann::json toJson(const BackdropSpec& spec) {
  BackdropSpec s = spec;  // the table's accessors need a mutable object
  nlohmann::json j;
  j["layout"] = toString(s.layout);
  j["wallColour"] = hexColour(s.wallColour);
  j["floorColour"] = hexColour(s.floorColour);
  j["wallMaterial"] = toString(s.wallMaterial);
  j["floorMaterial"] = toString(s.floorMaterial);
  j["accentColour"] = hexColour(s.accentColour);
  j["gradeTint"] = hexColour(s.gradeTint);
  j["seed"] = s.seed;
  nlohmann::json podium;
  podium["shape"] = toString(s.podium.shape);
  podium["colour"] = hexColour(s.podium.colour);
  podium["material"] = toString(s.podium.material);
  for (const auto& f : kNumbers) {
    const std::string name = f.name;
    if (name.rfind("podium.", 0) == 0) podium[name.substr(7)] = f.ref(s);
    else j[name] = f.ref(s);
  }
  j["podium"] = podium;
  return j;
}

BackdropSpec backdropSpecFromJson(const nlohmann::json& j, std::vector<std::string>* notes) {
  if (!j.is_object()) throw SpecError("backdrop spec: expected a JSON object");
  BackdropSpec s;
  readString(j, "layout", [&](const std::string& v) { s.layout = parseLayout(v); });
  readString(j, "wallMaterial", [&](const std::string& v) { s.wallMaterial = parseMaterial(v); });
  readString(j, "floorMaterial", [&](const std::string& v) { s.floorMaterial = parseMaterial(v); });
  readString(j, "wallColour", [&](const std::string& v) { s.wallColour = parseHexColour(v); });
  readString(j, "floorColour", [&](const std::string& v) { s.floorColour = parseHexColour(v); });
  readString(j, "accentColour", [&](const std::string& v) { s.accentColour = parseHexColour(v); });
  readString(j, "gradeTint", [&](const std::string& v) { s.gradeTint = parseHexColour(v); });
  if (const auto it = j.find("seed"); it != j.end()) {
    if (!it->is_number_integer()) throw SpecError("backdrop spec: 'seed' must be an integer");
    s.seed = it->get<std::uint64_t>();
  }
  nlohmann::json podium = nlohmann::json::object();
  if (const auto it = j.find("podium"); it != j.end()) {
    if (!it->is_object()) throw SpecError("backdrop spec: 'podium' must be an object");
    podium = *it;
    readString(podium, "shape", [&](const std::string& v) { s.podium.shape = parsePodiumShape(v); });
    readString(podium, "colour", [&](const std::string& v) { s.podium.colour = parseHexColour(v); });
    readString(podium, "material", [&](const std::string& v) { s.podium.material = parseMaterial(v); });
  }
  for (const auto& f : kNumbers) {
    const std::string name = f.name;
    if (name.rfind("podium.", 0) == 0) readNumber(podium, name.substr(7), f.ref(s));
    else readNumber(j, name, f.ref(s));
  }
  auto changed = clampSpec(s);
  if (notes) *notes = std::move(changed);
  return s;
}

}  // namespace caig
