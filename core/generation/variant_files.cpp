#include "core/generation/variant_files.h"

#include <opencv2/core.hpp>

#include "core/project/export.h"
#include "models/io/atomic_file.h"

namespace caig {

namespace fs = std::filesystem;

namespace {

void writeFile(const fs::path& path, const void* data, std::size_t size) {
  io::AtomicFile file(path);
  file.write(data, size);
  file.commit();
}

std::string text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return cv::format("%g", v.get<double>());
  return v.dump();
}

}  // namespace

std::string a1111Parameters(const nlohmann::json& p) {
  std::string out = p.value("prompt", "");
  if (p.contains("negativePrompt") && p["negativePrompt"].is_string()) {
    out += "\nNegative prompt: " + p["negativePrompt"].get<std::string>();
  }
  std::string fields;
  auto add = [&](const char* name, const std::string& value) { fields += (fields.empty() ? "" : ", ") + (name + (": " + value)); };
  // A1111's order for the fields both know; the rest after them.
  if (p.contains("steps")) add("Steps", text(p["steps"]));
  if (p.contains("sampler")) add("Sampler", text(p["sampler"]));
  if (p.contains("cfg")) add("CFG scale", text(p["cfg"]));
  if (p.contains("seed")) add("Seed", text(p["seed"]));
  if (p.contains("size") && p["size"].is_array() && p["size"].size() == 2) {
    add("Size", text(p["size"][0]) + "x" + text(p["size"][1]));
  }
  if (p.contains("model")) add("Model", text(p["model"]));
  if (p.contains("controlnetScale")) add("ControlNet scale", text(p["controlnetScale"]));
  if (p.contains("clipSkip") && p["clipSkip"].is_number() && p["clipSkip"].get<int>() > 1) {
    add("Clip skip", text(p["clipSkip"]));
  }
  if (p.contains("style") && p["style"].is_string()) add("Style", text(p["style"]));
  if (p.contains("engine")) add("Engine", text(p["engine"]));
  return out + "\n" + fields;
}

std::vector<fs::path> writeVariantFiles(const fs::path& folder, const GenerationOutcome& result,
                                        const std::string& prefix) {
  fs::create_directories(folder);
  std::vector<fs::path> files;
  nlohmann::json index = nlohmann::json::array();
  for (std::size_t i = 0; i < result.variants.size(); ++i) {
    const auto& v = result.variants[i];
    const std::string name =
        cv::format("%s-%02zu-seed%llu.png", prefix.c_str(), i + 1, static_cast<unsigned long long>(v.seed));
    const auto png = encodeWithMetadata(v.image, ExportFormat::Png, {{"parameters", a1111Parameters(v.params)}});
    writeFile(folder / name, png.data(), png.size());
    nlohmann::json entry = v.params;
    entry["file"] = name;
    index.push_back(std::move(entry));
    files.push_back(folder / name);
  }
  const std::string json = index.dump(2) + "\n";
  writeFile(folder / "variants.json", json.data(), json.size());
  return files;
}

}  // namespace caig
