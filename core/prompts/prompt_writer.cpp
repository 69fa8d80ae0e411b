#include "core/prompts/prompt_writer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/base/resources.h"
#include "core/project/project.h"
#include "core/base/splitmix.h"
#include "models/io/atomic_file.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

constexpr double kPi = 3.14159265358979;

cv::Vec3f bgrToLab(const cv::Vec3b& bgr) {
  cv::Mat3f px(1, 1, cv::Vec3f(bgr[0], bgr[1], bgr[2]) / 255.f), lab;
  cv::cvtColor(px, lab, cv::COLOR_BGR2Lab);
  return lab(0, 0);
}

cv::Vec3b labToBgr(const cv::Vec3f& lab) {
  cv::Mat3f px(1, 1, lab), bgr;
  cv::cvtColor(px, bgr, cv::COLOR_Lab2BGR);
  const cv::Vec3f c = bgr(0, 0);
  return cv::Vec3b(cv::saturate_cast<uchar>(c[0] * 255.f), cv::saturate_cast<uchar>(c[1] * 255.f),
                   cv::saturate_cast<uchar>(c[2] * 255.f));
}

cv::Vec3f lch(double L, double chroma, double hueDeg) {
  const double h = hueDeg * kPi / 180.0;
  return cv::Vec3f(float(L), float(chroma * std::cos(h)), float(chroma * std::sin(h)));
}

// Names a designer would use in a prompt; matched by Lab distance.
struct NamedColour {
  const char* name;
  const char* hex;
};
constexpr std::array<NamedColour, 44> kNamedColours = {{
    {"white", "#f7f7f5"},       {"off-white", "#efece4"},     {"ivory", "#f4efe0"},
    {"cream", "#efe4c8"},       {"warm beige", "#dccbb0"},    {"sand", "#d6c09a"},
    {"taupe", "#a89888"},       {"light grey", "#cfd0d0"},    {"warm grey", "#a8a29a"},
    {"cool grey", "#9ea5ac"},   {"charcoal", "#3c3d40"},      {"black", "#141414"},
    {"espresso brown", "#4b3326"}, {"chocolate brown", "#6b4430"}, {"caramel", "#b07a45"},
    {"amber", "#c8781e"},       {"terracotta", "#c0664a"},    {"rust", "#a8502c"},
    {"burnt orange", "#d0682a"}, {"peach", "#f2c2a0"},        {"apricot", "#f0b07c"},
    {"coral", "#ee7a64"},       {"blush pink", "#efc6c4"},    {"dusty rose", "#c99494"},
    {"rose gold", "#d9a89a"},   {"crimson", "#a8202c"},       {"burgundy", "#6a1f2b"},
    {"mauve", "#b08aa0"},       {"lavender", "#c6b8e0"},      {"plum", "#6c3a62"},
    {"navy blue", "#1f2d50"},   {"cobalt blue", "#2850a8"},   {"powder blue", "#b8cfe6"},
    {"sky blue", "#8ec2e8"},    {"teal", "#1f7a7a"},          {"aqua", "#7fd0cc"},
    {"mint green", "#bfe6d0"},  {"sage green", "#a8b89a"},    {"olive green", "#707a3c"},
    {"forest green", "#2c5a3a"}, {"emerald green", "#1f8a5a"}, {"mustard yellow", "#d4a82a"},
    {"lemon yellow", "#f0dc6a"}, {"butter yellow", "#f4e4a6"},
}};

// Lab of the table, computed once.
const std::vector<cv::Vec3f>& namedLab() {
  static const std::vector<cv::Vec3f> lab = [] {
    std::vector<cv::Vec3f> v;
    for (const auto& c : kNamedColours) v.push_back(bgrToLab(parseHexColour(c.hex)));
    return v;
  }();
  return lab;
}

std::string nameOfLab(const cv::Vec3f& lab) {
  const auto& table = namedLab();
  std::size_t best = 0;
  double bestD = 1e30;
  for (std::size_t i = 0; i < table.size(); ++i) {
    const double d = cv::norm(table[i] - lab, cv::NORM_L2SQR);
    if (d < bestD) bestD = d, best = i;
  }
  return kNamedColours[best].name;
}

using Rng = SplitMix64;

template <typename T>
const T& pick(const std::vector<T>& v, Rng& rng) {
  return v[rng.index(v.size())];
}

std::vector<std::string> strings(const nlohmann::json& style, const char* key) {
  std::vector<std::string> out;
  if (const auto it = style.find(key); it != style.end())
    for (const auto& s : *it) out.push_back(s.get<std::string>());
  return out;
}

std::pair<double, double> range(const nlohmann::json& j, const char* key, std::pair<double, double> fallback) {
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  return {it->at(0).get<double>(), it->at(1).get<double>()};
}

// Checks one style when the library is loaded, so that writing never fails on bad data.
void validateStyle(const nlohmann::json& st) {
  if (!st.is_object() || !st.contains("id") || !st["id"].is_string())
    throw SpecError("style without a string 'id'");
  const std::string id = st["id"];
  try {
    for (const char* key : {"lighting", "mood", "surfaces", "harmonies"})
      if (!st.contains(key) || !st[key].is_array() || st[key].empty())
        throw SpecError(std::string("needs a non-empty '") + key + "' list");
    for (const auto& h : strings(st, "harmonies")) parseHarmony(h);
    for (const char* key : {"floorColours", "accentColours"})
      for (const auto& c : strings(st, key)) parseHexColour(c);
    BackdropSpec probe = backdropSpecFromJson(st.value("spec", nlohmann::json::object()));
    for (const auto& surface : st["surfaces"]) {
      if (!surface.contains("text")) throw SpecError("a surface without 'text'");
      nlohmann::json merged = toJson(probe);
      merged.merge_patch(surface.value("spec", nlohmann::json::object()));
      backdropSpecFromJson(merged);
    }
    range(st.value("colour", nlohmann::json::object()), "lightness", {0, 0});
    const nlohmann::json ranges = st.value("ranges", nlohmann::json::object());
    for (const auto& [key, r] : ranges.items())
      if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number())
        throw SpecError("range '" + key + "' must be [lo, hi]");
  } catch (const nlohmann::json::exception& e) {
    throw SpecError("style '" + id + "': " + e.what());
  } catch (const SpecError& e) {
    throw SpecError("style '" + id + "': " + e.what());
  }
}

std::string lightnessWord(double L, const std::string& name) {
  if (name == "white" || name == "black" || name == "off-white" || name == "ivory") return "";
  if (L > 84) return "pale ";
  if (L > 66) return "soft ";
  if (L < 30) return "deep ";
  return "";
}

}  // namespace

// ---- palette ----

std::vector<DominantColour> dominantColours(const cv::Mat& bgrIn, const cv::Mat& alpha, int k) {
  if (bgrIn.empty() || k < 1) return {};
  cv::Mat bgr = bgrIn;
  if (bgr.type() == CV_8UC4) cv::cvtColor(bgrIn, bgr, cv::COLOR_BGRA2BGR);
  if (bgr.type() != CV_8UC3) throw std::invalid_argument("dominantColours: expected CV_8UC3 or CV_8UC4");
  if (!alpha.empty() && (alpha.type() != CV_8UC1 || alpha.size() != bgr.size()))
    throw std::invalid_argument("dominantColours: alpha must be CV_8UC1 of the image's size");
  // At most ~6000 samples on a regular grid: deterministic and fast.
  const int step = std::max(1, static_cast<int>(std::sqrt(double(bgr.total()) / 6000.0)));
  std::vector<cv::Vec3b> px;
  for (int y = 0; y < bgr.rows; y += step)
    for (int x = 0; x < bgr.cols; x += step)
      if (alpha.empty() || alpha.at<uchar>(y, x) > 127) px.push_back(bgr.at<cv::Vec3b>(y, x));
  if (px.empty()) return {};
  cv::Mat3f lab(static_cast<int>(px.size()), 1);
  for (std::size_t i = 0; i < px.size(); ++i) lab(int(i), 0) = cv::Vec3f(px[i][0], px[i][1], px[i][2]) / 255.f;
  cv::cvtColor(lab, lab, cv::COLOR_BGR2Lab);
  const int n = lab.rows;
  // Farthest-point seeding from the mean, then Lloyd iterations.
  cv::Vec3f mean(0, 0, 0);
  for (int i = 0; i < n; ++i) mean += lab(i, 0) / float(n);
  std::vector<cv::Vec3f> centres;
  std::vector<float> dist(n, 0.f);
  for (int i = 0; i < n; ++i) dist[i] = float(cv::norm(lab(i, 0) - mean, cv::NORM_L2SQR));
  for (int c = 0; c < k; ++c) {
    const int far = int(std::max_element(dist.begin(), dist.end()) - dist.begin());
    if (c > 0 && dist[far] < 4.f) break;  // fewer distinct colours than k
    const cv::Vec3f seed = c == 0 ? mean : lab(far, 0);
    centres.push_back(seed);
    for (int i = 0; i < n; ++i) dist[i] = std::min(dist[i], float(cv::norm(lab(i, 0) - seed, cv::NORM_L2SQR)));
    if (c == 0) {  // the mean is only a start: restart distances from the farthest point too
      centres.back() = lab(far, 0);
      for (int i = 0; i < n; ++i) dist[i] = float(cv::norm(lab(i, 0) - lab(far, 0), cv::NORM_L2SQR));
    }
  }
  std::vector<int> label(n, 0);
  std::vector<double> count;
  for (int iter = 0; iter < 20; ++iter) {
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      int best = 0;
      double bd = 1e30;
      for (std::size_t c = 0; c < centres.size(); ++c) {
        const double d = cv::norm(lab(i, 0) - centres[c], cv::NORM_L2SQR);
        if (d < bd) bd = d, best = int(c);
      }
      changed |= label[i] != best;
      label[i] = best;
    }
    std::vector<cv::Vec3d> sum(centres.size(), cv::Vec3d(0, 0, 0));
    count.assign(centres.size(), 0.0);
    for (int i = 0; i < n; ++i) {
      const cv::Vec3f v = lab(i, 0);
      sum[label[i]] += cv::Vec3d(v[0], v[1], v[2]);
      count[label[i]] += 1;
    }
    for (std::size_t c = 0; c < centres.size(); ++c)
      if (count[c] > 0) centres[c] = cv::Vec3f(sum[c] * (1.0 / count[c]));
    if (!changed && iter > 0) break;
  }
  std::vector<DominantColour> out;
  for (std::size_t c = 0; c < centres.size(); ++c) {
    if (count[c] <= 0) continue;
    DominantColour d;
    d.lab = centres[c];
    d.bgr = labToBgr(centres[c]);
    d.weight = count[c] / n;
    d.name = nameOfLab(centres[c]);
    out.push_back(d);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.weight > b.weight; });
  return out;
}

std::string colourName(const cv::Vec3b& bgr) { return nameOfLab(bgrToLab(bgr)); }

std::string toString(Harmony h) {
  switch (h) {
    case Harmony::Complementary: return "complementary";
    case Harmony::Analogous: return "analogous";
    case Harmony::Neutral: break;
  }
  return "neutral";
}

Harmony parseHarmony(const std::string& s) {
  if (s == "complementary") return Harmony::Complementary;
  if (s == "analogous") return Harmony::Analogous;
  if (s == "neutral") return Harmony::Neutral;
  throw SpecError("unknown harmony '" + s + "' (expected complementary, analogous or neutral)");
}

double labHue(const cv::Vec3f& lab) {
  const double h = std::atan2(lab[2], lab[1]) * 180.0 / kPi;
  return h < 0 ? h + 360.0 : h;
}

// ---- writer ----

std::filesystem::path TemplatePromptWriter::defaultStylesFile() {
  return resourceDir() / "styles" / "styles.json";
}

TemplatePromptWriter::TemplatePromptWriter(const std::filesystem::path& stylesFile) {
  const nlohmann::json lib = io::readJsonFile(stylesFile);
  if (!lib.contains("styles") || !lib["styles"].is_array() || lib["styles"].empty())
    throw SpecError(stylesFile.string() + ": needs a non-empty 'styles' list");
  for (const auto& st : lib["styles"]) {
    try {
      validateStyle(st);
    } catch (const SpecError& e) {
      throw SpecError(stylesFile.string() + ": " + e.what());
    }
    styles_.push_back(st);
  }
}

std::vector<std::string> TemplatePromptWriter::styleIds() const {
  std::vector<std::string> ids;
  for (const auto& st : styles_) ids.push_back(st["id"]);
  return ids;
}

std::vector<BackgroundDescription> TemplatePromptWriter::write(const std::string& title, const std::string& category,
                                                               const cv::Mat& bgr, const cv::Mat& alpha, int n,
                                                               std::uint64_t seed) const {
  return write(ProductBrief{title, category, dominantColours(bgr, alpha, 3)}, n, seed);
}

std::vector<BackgroundDescription> TemplatePromptWriter::write(const ProductBrief& product, int n,
                                                               std::uint64_t seed) const {
  std::vector<BackgroundDescription> out;
  if (n <= 0) return out;
  Rng rng{seed * 0x9E3779B97F4A7C15ull ^ 0xC0FFEEull};
  // The key colour: the heaviest clearly coloured cluster (labels and caps are often neutral).
  cv::Vec3f key(70.f, 10.f, 20.f);  // warm default when there is no palette
  if (!product.palette.empty()) {
    key = product.palette.front().lab;
    for (const auto& c : product.palette)
      if (std::hypot(c.lab[1], c.lab[2]) > 15.0 && c.weight > 0.15) {
        key = c.lab;
        break;
      }
  }
  const double keyHue = labHue(key);

  std::vector<double> weight(styles_.size());
  for (std::size_t i = 0; i < styles_.size(); ++i) {
    const std::string id = styles_[i]["id"];
    const auto w = styleWeights.find(id);
    weight[i] = std::max(0.0, w == styleWeights.end() ? 1.0 : w->second);
    if (const auto cats = styles_[i].find("categories"); cats != styles_[i].end() && cats->contains(product.category))
      weight[i] *= (*cats)[product.category].get<double>();
  }
  std::vector<bool> used(styles_.size(), false);
  std::array<int, 3> harmonyUse{0, 0, 0};

  for (int d = 0; d < n; ++d) {
    // Weighted choice among styles not used in this pass; a new pass when all are used.
    double total = 0;
    for (std::size_t i = 0; i < styles_.size(); ++i) total += used[i] ? 0 : weight[i];
    if (total <= 0) {
      std::fill(used.begin(), used.end(), false);
      for (std::size_t i = 0; i < styles_.size(); ++i) total += weight[i];
    }
    std::size_t si = 0;
    if (total <= 0) {
      si = rng.index(styles_.size());  // every weight zero: uniform
    } else {
      double r = rng.uniform() * total;
      for (si = 0; si < styles_.size(); ++si) {
        if (used[si] || weight[si] <= 0) continue;
        if ((r -= weight[si]) < 0) break;
      }
      if (si == styles_.size())
        for (si = styles_.size(); si-- > 0;)
          if (!used[si] && weight[si] > 0) break;
    }
    used[si] = true;
    const nlohmann::json& st = styles_[si];

    // Harmony: the style's allowed one used least so far (ties: the style's order, rotated).
    const auto allowed = strings(st, "harmonies");
    const std::size_t rot = rng.index(allowed.size());
    Harmony harmony = parseHarmony(allowed[rot]);
    for (std::size_t j = 0; j < allowed.size(); ++j) {
      const Harmony h = parseHarmony(allowed[(rot + j) % allowed.size()]);
      if (harmonyUse[int(h)] < harmonyUse[int(harmony)]) harmony = h;
    }
    ++harmonyUse[int(harmony)];

    const nlohmann::json colour = st.value("colour", nlohmann::json::object());
    const auto [l0, l1] = range(colour, "lightness", {78, 90});
    const auto [c0, c1] = range(colour, "chroma", {6, 18});
    double hue = keyHue, chroma = rng.uniform(c0, c1);
    if (harmony == Harmony::Complementary) hue += 180.0;
    if (harmony == Harmony::Analogous) hue += (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(25, 40);
    if (harmony == Harmony::Neutral) chroma = std::min(chroma, rng.uniform(2.5, 6.0));
    const double L = rng.uniform(l0, l1);
    const cv::Vec3b wall = labToBgr(lch(L, chroma, hue));

    nlohmann::json spec = toJson(BackdropSpec{});
    spec.merge_patch(st.value("spec", nlohmann::json::object()));
    spec["wallColour"] = hexColour(wall);
    const auto floors = strings(st, "floorColours");
    spec["floorColour"] = floors.empty() ? hexColour(labToBgr(lch(std::clamp(L + st.value("floorLightness", 3.0), 0.0, 100.0), chroma, hue)))
                                         : pick(floors, rng);
    const auto accents = strings(st, "accentColours");
    spec["accentColour"] = accents.empty() ? hexColour(labToBgr(lch(std::max(0.0, L - 30), chroma * 0.6, hue)))
                                           : pick(accents, rng);
    spec["gradeTint"] = st.contains("gradeTint") ? st["gradeTint"].get<std::string>()
                                                 : hexColour(labToBgr(lch(80, 18, hue)));
    // Podium in a lighter shade of the backdrop unless the surface names its colour.
    spec["podium"]["colour"] = hexColour(labToBgr(lch(std::min(96.0, L + 7), chroma * 0.8, hue)));
    const nlohmann::json ranges = st.value("ranges", nlohmann::json::object());
    for (const auto& [field, r] : ranges.items()) {
      const double v = rng.uniform(r[0].get<double>(), r[1].get<double>());
      if (field.rfind("podium.", 0) == 0) spec["podium"][field.substr(7)] = v;
      else spec[field] = v;
    }
    const nlohmann::json& surface = st["surfaces"][rng.index(st["surfaces"].size())];
    spec.merge_patch(surface.value("spec", nlohmann::json::object()));
    spec["seed"] = (seed * 1000003ull + std::uint64_t(d) * 7919ull) & 0xFFFFFFFFFFFFull;

    BackgroundDescription desc;
    desc.spec = backdropSpecFromJson(spec);
    desc.styleId = st["id"];
    desc.harmony = harmony;
    const std::string name = nameOfLab(bgrToLab(wall));
    std::string prompt = product.title.empty() ? std::string("the product") : product.title;
    prompt += " on " + surface["text"].get<std::string>();
    prompt += ", " + pick(strings(st, "lighting"), rng);
    prompt += ", " + lightnessWord(L, name) + name + " backdrop";
    prompt += ", " + pick(strings(st, "mood"), rng);
    const auto extras = strings(st, "extras");
    if (!extras.empty()) prompt += ", " + pick(extras, rng);
    desc.prompt = std::move(prompt);
    out.push_back(std::move(desc));
  }
  return out;
}

void TemplatePromptWriter::loadStyleWeights(const std::filesystem::path& file) {
  const nlohmann::json j = io::readJsonFile(file);
  if (!j.contains("styleWeights") || !j["styleWeights"].is_object())
    throw SpecError(file.string() + ": needs a 'styleWeights' object");
  std::map<std::string, double> w;
  for (const auto& [id, v] : j["styleWeights"].items()) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
      throw SpecError(file.string() + ": weight of '" + id + "' must be a number >= 0");
    w[id] = v.get<double>();
  }
  styleWeights = std::move(w);
}

void TemplatePromptWriter::saveStyleWeights(const std::filesystem::path& file) const {
  nlohmann::json j;
  j["styleWeights"] = nlohmann::json::object();
  for (const auto& [id, v] : styleWeights) j["styleWeights"][id] = v;
  const std::string text = j.dump(2) + "\n";
  io::AtomicFile f(file);
  f.write(text.data(), text.size());
  f.commit();
}

std::filesystem::path styleWeightsFile(const Project& project) { return project.absolute("style_weights.json"); }

bool loadProjectStyleWeights(const Project& project, TemplatePromptWriter& writer) {
  const std::filesystem::path f = styleWeightsFile(project);
  if (!std::filesystem::is_regular_file(f)) return false;
  writer.loadStyleWeights(f);
  return true;
}

}  // namespace caig
