#include "core/model_files/model_registry.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "core/model_files/hf_cache.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/model_folder.h"
#include "models/io/safetensors_header.h"
#include "models/io/sd_file_kind.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace caig {

std::string modelFolderName(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(dir, ec);
  if (ec || p.empty()) p = dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

const char* modelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::BuiltIn: return "built-in engine";
    case ModelKind::Isnet: return "ISNet cutout";
    case ModelKind::StableDiffusion: return "Stable Diffusion model";
    case ModelKind::ControlNet: return "ControlNet";
    case ModelKind::Llava: return "LLaVA prompt model";
    case ModelKind::RewardModel: return "reward model";
    case ModelKind::LoraAdapter: return "LoRA adapter";
    case ModelKind::SdLora: return "LoRA (SD1.5)";
    case ModelKind::Vae: return "VAE";
    case ModelKind::Taesd: return "TAESD (fast previews)";
    case ModelKind::Other: return "other model";
  }
  return "?";
}

const char* modelStatusName(ModelStatus status) {
  switch (status) {
    case ModelStatus::Ok: return "ok";
    case ModelStatus::MissingFiles: return "missing files";
    case ModelStatus::Invalid: return "invalid";
  }
  return "?";
}

std::string InstalledModel::precision() const {
  if (dtypes.empty()) return "-";
  std::string out;
  for (const auto& d : dtypes) out += (out.empty() ? "" : "+") + d;
  return out;
}

std::string FileHash::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(xxh64));
  return buf;
}

namespace {

// A file the folder's layout requires is absent (an io::FileError for anything else).
struct MissingFile : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

bool containsNoCase(std::string haystack, std::string needle) {
  const auto lower = [](std::string& s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  lower(haystack);
  lower(needle);
  return haystack.find(needle) != std::string::npos;
}

io::SafetensorsHeader readHeader(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw MissingFile(quoted(file) + " is missing");
  const uint64_t size = fs::file_size(file, ec);
  if (ec) throw io::FileError("cannot read " + quoted(file) + ": " + ec.message());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw io::FileError("cannot open " + quoted(file));
  unsigned char prefix[8] = {};
  in.read(reinterpret_cast<char*>(prefix), size < 8 ? static_cast<std::streamsize>(size) : 8);
  const uint64_t n = io::readHeaderLength(prefix, size, file.string());
  std::string text(n, '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) throw io::FileError("cannot read " + quoted(file));
  return io::parseSafetensorsHeader(text, size - 8 - n, file.string());
}

// What the headers of one model's weights add up to.
struct Weights {
  std::set<std::string> dtypes;
  uint64_t parameters = 0;
  std::vector<fs::path> files;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, std::string> metadata;  // the first file's

  void addFile(const fs::path& file, const io::SafetensorsHeader& header) {
    if (files.empty()) metadata = header.metadata;
    files.push_back(file);
    for (const auto& t : header.tensors) {
      dtypes.insert(io::dtypeName(t.dtype));
      parameters += static_cast<uint64_t>(t.numel());
      shapes[t.name] = t.shape;
    }
  }

  // `weights`: a safetensors file or a sharded index. Every shard must be present and hold
  // every tensor the index assigns to it.
  void add(const fs::path& weights) {
    const std::string name = weights.filename().string();
    if (name.size() < 11 || name.compare(name.size() - 11, 11, ".index.json") != 0) {
      addFile(weights, readHeader(weights));
      return;
    }
    const json index = io::readJsonFile(weights);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object() ||
        index["weight_map"].empty()) {
      throw io::FormatError(quoted(weights) + " has no \"weight_map\" object");
    }
    std::map<std::string, std::vector<std::string>> byShard;
    for (const auto& [key, shard] : index["weight_map"].items()) {
      if (!shard.is_string()) throw io::FormatError(quoted(weights) + ": the shard of '" + key + "' is not a string");
      byShard[shard.get<std::string>()].push_back(key);
    }
    std::vector<std::string> missing;
    for (const auto& [shard, keys] : byShard) {
      const fs::path file = weights.parent_path() / shard;
      std::error_code ec;
      if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos) {
        throw io::FormatError(quoted(weights) + " names a shard outside its folder: '" + shard + "'");
      }
      if (!fs::is_regular_file(file, ec)) {
        missing.push_back(shard);
        continue;
      }
      const io::SafetensorsHeader header = readHeader(file);
      addFile(file, header);
      std::set<std::string> present;
      for (const auto& t : header.tensors) present.insert(t.name);
      for (const auto& key : keys) {
        if (!present.count(key)) {
          throw io::FormatError(quoted(weights) + " maps '" + key + "' to '" + shard + "', which has no such tensor");
        }
      }
    }
    if (!missing.empty()) {
      throw MissingFile("shard '" + missing.front() + "'" +
                        (missing.size() > 1 ? " and " + std::to_string(missing.size() - 1) + " more" : "") +
                        " named by " + quoted(weights) + " missing");
    }
  }

  const std::vector<int64_t>* find(const std::string& suffix) const {
    for (const auto& [name, shape] : shapes) {
      if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return &shape;
      }
    }
    return nullptr;
  }
};

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t configInt(const json& config, const char* key) {
  if (config.contains("text_config") && config["text_config"].is_object() &&
      config["text_config"].contains(key) && config["text_config"][key].is_number_integer()) {
    return config["text_config"][key].get<int64_t>();
  }
  if (config.contains(key) && config[key].is_number_integer()) return config[key].get<int64_t>();
  return -1;
}

// Cheap consistency checks of a transformers config against the tensor shapes.
void checkLanguageShapes(const json& config, const Weights& w, const fs::path& dir) {
  const int64_t hidden = configInt(config, "hidden_size");
  const int64_t vocab = configInt(config, "vocab_size");
  if (const auto* embed = w.find("embed_tokens.weight"); embed && hidden > 0) {
    if (embed->size() != 2 || (*embed)[1] != hidden || (vocab > 0 && (*embed)[0] < vocab)) {
      throw io::FormatError(quoted(dir / "config.json") + " says vocab_size " + std::to_string(vocab) +
                            ", hidden_size " + std::to_string(hidden) + " but embed_tokens.weight is " +
                            shapeText(*embed));
    }
  }
  if (const auto* score = w.find("score.weight"); score && hidden > 0) {
    if (score->size() != 2 || (*score)[1] != hidden) {
      throw io::FormatError("score.weight is " + shapeText(*score) + ", expected [n, " + std::to_string(hidden) +
                            "] (hidden_size of " + quoted(dir / "config.json") + ")");
    }
  }
}

bool isConfigOnlyComponent(const json& entry) {
  // model_index.json entries are [library, class]; tokenizers, schedulers and image processors
  // have no weights.
  if (!entry.is_array() || entry.size() != 2 || !entry[1].is_string()) return true;
  const std::string cls = entry[1].get<std::string>();
  return containsNoCase(cls, "tokenizer") || containsNoCase(cls, "scheduler") ||
         containsNoCase(cls, "featureextractor") || containsNoCase(cls, "imageprocessor");
}

// A single .safetensors file, named by its keys (the header only; models/io/sd_file_kind.h): an
// SD1.x checkpoint or an original-layout ControlNet the sd15 engine loads, or why it is refused.
void inspectFileInto(InstalledModel& m, Weights& w) {
  w.add(m.path);
  std::vector<std::string> names;
  for (const auto& [name, shape] : w.shapes) names.push_back(name);
  const io::SdFileKind kind = io::classifySdFile(names);
  if (kind == io::SdFileKind::ControlNet) {
    m.kind = ModelKind::ControlNet;
    m.detail = "single-file ControlNet (original layout)";
    return;
  }
  if (kind == io::SdFileKind::Lora) {
    m.kind = ModelKind::SdLora;
    m.detail = io::summariseSdLora({w.shapes.begin(), w.shapes.end()}).text();
    return;
  }
  if (kind == io::SdFileKind::Vae) {
    m.kind = ModelKind::Vae;
    m.detail = w.shapes.count("encoder.down_blocks.0.resnets.0.conv1.weight") ? "VAE file (diffusers names)"
                                                                              : "VAE file (original layout)";
    return;
  }
  if (kind == io::SdFileKind::Taesd) {
    m.kind = ModelKind::Taesd;
    std::vector<std::string> keys;
    for (const auto& [name, shape] : w.shapes) keys.push_back(name);
    const io::TaesdParts parts = io::taesdFileParts(keys);
    if (parts == io::TaesdParts::Encoder) throw io::FormatError("a TAESD encoder alone: previews need the decoder");
    m.detail = parts == io::TaesdParts::Both ? "TAESD encoder + decoder" : "TAESD decoder";
    return;
  }
  if (kind != io::SdFileKind::Sd1Checkpoint) throw io::FormatError(io::sdFileRefusal(kind));
  const auto& convIn = w.shapes.at(io::kLdmUnetConvIn);
  if (convIn.size() != 4) throw io::FormatError(std::string(io::kLdmUnetConvIn) + " is not a convolution");
  m.kind = ModelKind::StableDiffusion;
  m.detail = convIn[1] == 9 ? "single-file SD1.x inpainting checkpoint" : "single-file SD1.x checkpoint";
  if (!w.shapes.count("first_stage_model.encoder.conv_in.weight") && !w.shapes.count("vae.encoder.conv_in.weight")) {
    throw MissingFile("the checkpoint has no VAE (first_stage_model.*)");
  }
}

void inspectInto(InstalledModel& m, Weights& w) {
  const fs::path& dir = m.path;
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) {
    inspectFileInto(m, w);
    return;
  }
  if (fs::is_regular_file(dir / "isnet.safetensors", ec)) {
    m.kind = ModelKind::Isnet;
    m.detail = "IS-Net (DIS) salient object segmentation";
    if (fs::is_regular_file(dir / "config.json", ec)) io::readJsonFile(dir / "config.json");
    w.add(dir / "isnet.safetensors");
    return;
  }
  if (!fs::is_regular_file(dir / "config.json", ec) && fs::is_regular_file(dir / "taesd_decoder.safetensors", ec)) {
    m.kind = ModelKind::Taesd;  // madebyollin's files without the diffusers config
    m.detail = fs::is_regular_file(dir / "taesd_encoder.safetensors", ec) ? "TAESD encoder + decoder" : "TAESD decoder";
    w.add(dir / "taesd_decoder.safetensors");
    if (fs::is_regular_file(dir / "taesd_encoder.safetensors", ec)) w.add(dir / "taesd_encoder.safetensors");
    return;
  }
  if (fs::is_regular_file(dir / "adapter_config.json", ec)) {
    m.kind = ModelKind::LoraAdapter;
    const json config = io::readJsonFile(dir / "adapter_config.json");
    if (!config.is_object()) throw io::FormatError(quoted(dir / "adapter_config.json") + " is not a JSON object");
    const int64_t r = config.contains("r") && config["r"].is_number_integer() ? config["r"].get<int64_t>() : -1;
    m.detail = "rank " + std::to_string(r);
    if (config.contains("base_model_name_or_path") && config["base_model_name_or_path"].is_string()) {
      m.detail += ", base " + config["base_model_name_or_path"].get<std::string>();
    }
    const fs::path weights = dir / "adapter_model.safetensors";
    if (!fs::is_regular_file(weights, ec)) throw MissingFile(quoted(weights) + " is missing");
    w.add(weights);
    for (const auto& [name, shape] : w.shapes) {
      if (r > 0 && name.find("lora_A") != std::string::npos && (shape.empty() || shape[0] != r)) {
        throw io::FormatError("'" + name + "' is " + shapeText(shape) + " but adapter_config.json says r = " +
                              std::to_string(r));
      }
    }
    return;
  }
  const bool pipeline = fs::is_regular_file(dir / "model_index.json", ec);
  if (!pipeline && !fs::is_regular_file(dir / "config.json", ec)) {
    throw io::FormatError("not a model folder: no config.json, model_index.json, adapter_config.json or "
                          "isnet.safetensors in " + quoted(dir));
  }
  const io::ModelFolder folder = io::ModelFolder::open(dir);
  m.detail = folder.className();
  if (folder.kind() == io::FolderKind::DiffusersPipeline) {
    m.kind = containsNoCase(m.detail, "StableDiffusion") ? ModelKind::StableDiffusion : ModelKind::Other;
    std::vector<std::string> missing;
    for (const auto& component : folder.components()) {
      const json& entry = folder.config()[component];
      if (!entry.is_array() || entry.size() != 2 || entry[0].is_null()) continue;  // e.g. no safety checker
      // Never run by the studio: not fetched by the installer, not required here.
      if (component == "safety_checker" || component == "feature_extractor") continue;
      if (!fs::is_directory(dir / component, ec)) {
        missing.push_back(component + "/");
        continue;
      }
      if (isConfigOnlyComponent(entry)) continue;
      try {
        w.add(io::findWeights(dir / component));
      } catch (const io::FileError& e) {
        missing.push_back(component + " weights");
      } catch (const MissingFile& e) {
        missing.push_back(e.what());
      }
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& s : missing) list += (list.empty() ? "" : ", ") + s;
      throw MissingFile("missing " + list);
    }
    return;
  }
  if (folder.kind() == io::FolderKind::DiffusersModel) {
    m.kind = containsNoCase(m.detail, "ControlNet") ? ModelKind::ControlNet
             : m.detail == "AutoencoderKL"          ? ModelKind::Vae
             : m.detail == "AutoencoderTiny"        ? ModelKind::Taesd
                                                    : ModelKind::Other;
  } else {
    const json& config = folder.config();
    const std::string type = config.contains("model_type") && config["model_type"].is_string()
                                 ? config["model_type"].get<std::string>() : "";
    m.kind = containsNoCase(m.detail, "llava") || containsNoCase(type, "llava") ? ModelKind::Llava : ModelKind::Other;
    if (m.detail.empty()) m.detail = type;
  }
  try {
    w.add(folder.weights());
  } catch (const io::FileError& e) {
    throw MissingFile(e.what());
  }
  if (folder.kind() == io::FolderKind::TransformersModel) {
    if (m.kind == ModelKind::Llava && w.find("score.weight")) m.kind = ModelKind::RewardModel;
    checkLanguageShapes(folder.config(), w, dir);
  }
}

}  // namespace

InstalledModel ModelRegistry::inspect(const fs::path& folder) {
  InstalledModel m;
  m.path = folder.lexically_normal();
  if (m.path.filename().empty()) m.path = m.path.parent_path();
  m.name = m.path.filename().string();
  m.neural = true;
  std::error_code ec;
  const bool file = fs::is_regular_file(m.path, ec);
  if (!file && !fs::is_directory(m.path, ec)) {
    m.status = ModelStatus::MissingFiles;
    m.reason = "folder " + quoted(m.path) + " not found";
    return m;
  }
  if (file) m.name = m.path.stem().string();  // as A1111 lists checkpoints
  m.bytesOnDisk = file ? static_cast<uint64_t>(fs::file_size(m.path, ec)) : folderBytes(m.path);
  Weights w;
  try {
    inspectInto(m, w);
  } catch (const MissingFile& e) {
    m.status = ModelStatus::MissingFiles;
    m.reason = e.what();
  } catch (const io::FileError& e) {
    m.status = ModelStatus::MissingFiles;
    m.reason = e.what();
  } catch (const std::exception& e) {  // io::FormatError, JSON type errors
    m.status = ModelStatus::Invalid;
    m.reason = e.what();
  }
  if (file) m.metadata = w.metadata;
  m.dtypes.assign(w.dtypes.begin(), w.dtypes.end());
  m.parameters = w.parameters;
  m.weightFiles = w.files;
  return m;
}

std::vector<InstalledModel> ModelRegistry::builtInEngines() {
  const auto make = [](std::string name, std::string detail) {
    InstalledModel m;
    m.name = std::move(name);
    m.kind = ModelKind::BuiltIn;
    m.detail = std::move(detail);
    m.reason = "always available, runs on the CPU";
    return m;
  };
  return {make("builtin generator", "procedural backdrops composited under the product"),
          make("builtin prompt writer", "style templates"),
          make("builtin ranker", "pairwise logistic model on 9 image features"),
          make("GrabCut cutout", "OpenCV GrabCut from the image border")};
}

fs::path ModelRegistry::defaultModelsDir() {
  if (const char* env = std::getenv("CAIG_MODELS_DIR"); env && *env) return env;
  const char* data = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = data && *data ? fs::path(data) : fs::path(home ? home : ".") / ".local" / "share";
  return base / "caig-studio" / "models";
}

ModelRegistry::ModelRegistry(fs::path modelsDir) : modelsDir_(std::move(modelsDir)) {
  std::error_code ec;
  if (fs::exists(locationsFile(), ec)) {
    const json list = io::readJsonFile(locationsFile());
    if (!list.is_object() || !list.contains("locations") || !list["locations"].is_array()) {
      throw io::FormatError(quoted(locationsFile()) + " has no \"locations\" array");
    }
    for (const auto& entry : list["locations"]) {
      const auto kind = entry.is_object() && entry.contains("kind") && entry["kind"].is_string()
                            ? locationKindFromKey(entry["kind"].get<std::string>())
                            : std::nullopt;
      if (!kind || !entry.contains("path") || !entry["path"].is_string()) {
        throw io::FormatError(quoted(locationsFile()) +
                              ": each location needs a \"kind\" (hf-cache, comfyui, "
                              "a1111) and a \"path\"");
      }
      userLocations_.push_back({*kind, fs::path(entry["path"].get<std::string>()), true});
    }
  }
  const fs::path file = userFoldersFile();
  if (!fs::exists(file, ec)) return;
  const json list = io::readJsonFile(file);
  if (!list.is_object() || !list.contains("folders") || !list["folders"].is_array()) {
    throw io::FormatError(quoted(file) + " has no \"folders\" array");
  }
  for (const auto& entry : list["folders"]) {
    if (!entry.is_string()) throw io::FormatError(quoted(file) + ": a folder entry is not a string");
    userFolders_.emplace_back(entry.get<std::string>());
  }
}

void ModelRegistry::writeList(const fs::path& file, const json& list) const {
  std::error_code ec;
  fs::create_directories(modelsDir_, ec);
  if (ec) throw io::FileError("cannot create " + quoted(modelsDir_) + ": " + ec.message());
  const std::string text = list.dump(2) + "\n";
  io::AtomicFile out(file);
  out.write(text.data(), text.size());
  out.commit();
}

void ModelRegistry::save() const {
  json list = {{"folders", json::array()}};
  for (const auto& f : userFolders_) list["folders"].push_back(f.string());
  writeList(userFoldersFile(), list);
}

void ModelRegistry::saveLocations() const {
  json list = {{"locations", json::array()}};
  for (const auto& l : userLocations_)
    list["locations"].push_back({{"kind", locationKindKey(l.kind)}, {"path", l.root.string()}});
  writeList(locationsFile(), list);
}

std::vector<ModelLocation> ModelRegistry::locations() const {
  std::vector<ModelLocation> out = userLocations_;
  for (const auto& usual : usualLocations()) {
    const bool given =
        std::any_of(out.begin(), out.end(), [&](const ModelLocation& l) { return l.root == usual.root; });
    if (!given) out.push_back(usual);
  }
  return out;
}

ModelLocation ModelRegistry::addLocation(const fs::path& folder) {
  const auto location = detectLocation(folder);
  if (!location) {
    throw io::FileError(quoted(folder) +
                        " is not a Hugging Face cache (models--org--name folders), a ComfyUI "
                        "install (models/checkpoints) or an A1111 install (models/Stable-diffusion)");
  }
  for (const auto& l : userLocations_)
    if (l.root == location->root) return l;
  userLocations_.push_back(*location);
  try {
    saveLocations();
  } catch (...) {
    userLocations_.pop_back();
    throw;
  }
  return *location;
}

bool ModelRegistry::removeLocation(const fs::path& root) {
  const fs::path norm = root.lexically_normal();
  const auto it = std::find_if(userLocations_.begin(), userLocations_.end(),
                               [&](const ModelLocation& l) { return l.root.lexically_normal() == norm; });
  if (it == userLocations_.end()) return false;
  const ModelLocation removed = *it;
  const auto pos = userLocations_.erase(it);
  try {
    saveLocations();
  } catch (...) {
    userLocations_.insert(pos, removed);
    throw;
  }
  return true;
}

bool ModelRegistry::addFolder(const fs::path& folder) {
  std::error_code ec;
  fs::path abs = fs::absolute(folder, ec).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  const bool singleFile = fs::is_regular_file(abs, ec) && abs.extension() == ".safetensors";
  if (!singleFile && !fs::is_directory(abs, ec)) {
    throw io::FileError(quoted(folder) + " is neither a model folder nor a .safetensors checkpoint");
  }
  if (std::find(userFolders_.begin(), userFolders_.end(), abs) != userFolders_.end()) return false;
  userFolders_.push_back(abs);
  try {
    save();
  } catch (...) {
    userFolders_.pop_back();
    throw;
  }
  return true;
}

bool ModelRegistry::removeFolder(const fs::path& folder) {
  fs::path norm = folder.lexically_normal();
  if (norm.filename().empty()) norm = norm.parent_path();
  const auto it = std::find(userFolders_.begin(), userFolders_.end(), norm);
  if (it == userFolders_.end()) return false;
  const fs::path removed = *it;
  const auto pos = userFolders_.erase(it);
  try {
    save();
  } catch (...) {
    userFolders_.insert(pos, removed);
    throw;
  }
  return true;
}

std::vector<InstalledModel> ModelRegistry::scan() const {
  std::vector<InstalledModel> out = builtInEngines();
  std::error_code ec;
  std::vector<fs::path> found;
  if (fs::is_directory(modelsDir_, ec)) {
    for (fs::directory_iterator it(modelsDir_, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code dirEc;
      // Folders, and single-file checkpoints dropped in beside them (what A1111 users have).
      if (it->path() == lorasDir()) continue;
      if (it->is_directory(dirEc) || (it->is_regular_file(dirEc) && it->path().extension() == ".safetensors")) {
        found.push_back(it->path());
      }
    }
  }
  if (fs::is_directory(lorasDir(), ec)) {  // LoRA files, as A1111 keeps them in models/Lora
    for (fs::directory_iterator it(lorasDir(), ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fileEc;
      if (it->is_regular_file(fileEc) && it->path().extension() == ".safetensors") found.push_back(it->path());
    }
  }
  // An ISNet folder moved elsewhere with $CAIG_ISNET_DIR (see core/cutout/cutout_engines.h) is installed too.
  if (const char* isnet = std::getenv("CAIG_ISNET_DIR"); isnet && *isnet && fs::is_directory(isnet, ec)) {
    const fs::path dir = fs::path(isnet).lexically_normal();
    if (dir.parent_path() != modelsDir_.lexically_normal()) found.push_back(dir);
  }
  std::sort(found.begin(), found.end());
  for (const auto& dir : found) out.push_back(inspect(dir));
  for (const auto& dir : userFolders_) {
    out.push_back(inspect(dir));
    out.back().userAdded = true;
  }
  const auto key = [](const fs::path& p) {
    std::error_code e;
    const fs::path c = fs::weakly_canonical(p, e);
    return e ? p.lexically_normal() : c;
  };
  std::set<fs::path> seen;
  for (const auto& m : out)
    if (!m.path.empty()) seen.insert(key(m.path));
  for (const auto& location : locations()) {
    for (const auto& elsewhere : findModels(location)) {
      if (!seen.insert(key(elsewhere.path)).second) continue;
      out.push_back(inspect(elsewhere.path));
      out.back().name = elsewhere.name;
      out.back().source = elsewhere.source;
    }
  }
  return out;
}

fs::path ModelRegistry::resolveReference(const std::string& reference) const {
  std::error_code ec;
  if (reference.empty() || fs::exists(reference, ec)) return reference;
  if (hf::validRepoId(reference)) {
    std::vector<fs::path> caches = {hf::defaultCacheDir()};
    for (const auto& l : locations())
      if (l.kind == LocationKind::HuggingFaceCache) caches.push_back(l.root);
    for (const auto& cache : caches)
      if (const auto snapshot = hf::cachedSnapshot(cache, reference)) return *snapshot;
  }
  if (fs::path(reference).is_absolute()) return reference;
  for (const auto& m : scan())  // also "org/name/file", a file of a cache repository
    if (!m.path.empty() && m.name == reference) return m.path;
  return reference;
}

fs::path ModelRegistry::findSdLora(const std::string& name) const {
  for (const auto& m : scan()) {
    if (m.path.filename() != fs::path(name + ".safetensors")) continue;
    if (m.kind != ModelKind::SdLora) {
      throw std::invalid_argument("<lora:" + name + ">: " + m.path.string() + " is not a usable LoRA" +
                                  (m.reason.empty() ? "" : " (" + m.reason + ")"));
    }
    if (m.status != ModelStatus::Ok)
      throw std::invalid_argument("<lora:" + name + ">: " + m.path.string() + ": " + m.reason);
    return m.path;
  }
  throw std::invalid_argument("<lora:" + name + ">: no " + name + ".safetensors among the installed models (" +
                              lorasDir().string() + ", " + modelsDir_.string() +
                              " and the files added in the model manager); add it there or give --lora FILE");
}

std::string InstalledModel::metadataSummary() const {
  // The keys A1111 / kohya / Stability's modelspec write, in the order worth reading.
  static const std::pair<const char*, const char*> keys[] = {
      {"modelspec.title", "title"},      {"modelspec.architecture", "architecture"},
      {"ss_base_model_version", "base"}, {"ss_sd_model_name", "trained on"},
      {"ss_network_dim", "rank"},        {"ss_network_alpha", "alpha"},
      {"modelspec.author", "author"},    {"format", "format"}};
  std::string out;
  for (const auto& [key, label] : keys) {
    const auto it = metadata.find(key);
    if (it == metadata.end() || it->second.empty()) continue;
    std::string value = it->second.size() > 80 ? it->second.substr(0, 77) + "..." : it->second;
    out += (out.empty() ? "" : "; ") + std::string(label) + ": " + value;
  }
  return out;
}

fs::path ModelRegistry::findUsable(ModelKind kind, const std::string& preferName) const {
  fs::path first;
  for (const auto& m : scan()) {
    if (m.kind != kind || m.status != ModelStatus::Ok || m.path.empty()) continue;
    if (!preferName.empty() && m.name == preferName) return m.path;
    if (first.empty()) first = m.path;
  }
  return first;
}

std::vector<InstalledModel> ModelRegistry::projectModels(const fs::path& projectDir) {
  std::vector<std::pair<fs::path, std::string>> found;  // folder, display name
  std::error_code ec;
  const fs::path models = projectDir / "models";
  if (!fs::is_directory(models, ec)) return {};
  for (fs::directory_iterator it(models, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dirEc;
    if (!it->is_directory(dirEc)) continue;
    const std::string name = it->path().filename().string();
    if (fs::is_directory(it->path() / "merged", dirEc)) found.emplace_back(it->path() / "merged", name + " (project)");
    for (fs::directory_iterator round(it->path(), dirEc), roundEnd; !dirEc && round != roundEnd; round.increment(dirEc)) {
      const std::string sub = round->path().filename().string();
      std::error_code modelEc;
      if (sub.rfind("round-", 0) == 0 && fs::is_directory(round->path() / "model", modelEc)) {
        found.emplace_back(round->path() / "model", name + " round " + sub.substr(6) + " (project)");
      }
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<InstalledModel> out;
  for (const auto& [dir, name] : found) {
    out.push_back(inspect(dir));
    out.back().name = name;
  }
  return out;
}

VerifyResult ModelRegistry::verify(const InstalledModel& model, const VerifyOptions& options) {
  VerifyResult result;
  if (model.kind == ModelKind::BuiltIn) {
    result.model = model;
    return result;
  }
  result.model = inspect(model.path);
  result.model.userAdded = model.userAdded;
  const auto& files = result.model.weightFiles;
  uint64_t total = 0, done = 0;
  std::error_code ec;
  for (const auto& f : files) total += fs::file_size(f, ec), ec.clear();
  std::vector<char> buffer(options.hash ? (4u << 20) : 0);
  for (const auto& file : files) {
    if (!options.hash) {
      done += fs::file_size(file, ec);
      if (options.progress && !options.progress(done, total, file)) return result.cancelled = true, result;
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    XXH64_state_t* state = XXH64_createState();
    XXH64_reset(state, 0);
    bool ok = static_cast<bool>(in);
    while (ok && in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto got = static_cast<size_t>(in.gcount());
      if (got == 0) break;
      XXH64_update(state, buffer.data(), got);
      done += got;
      if (options.progress && !options.progress(done, total, file)) {
        XXH64_freeState(state);
        result.cancelled = true;
        return result;
      }
    }
    if (in.bad()) ok = false;
    const uint64_t digest = XXH64_digest(state);
    XXH64_freeState(state);
    if (!ok) {
      result.model.status = ModelStatus::Invalid;
      result.model.reason = "cannot read " + quoted(file) + " while hashing";
      return result;
    }
    result.hashes.push_back({file, digest});
  }
  return result;
}

std::vector<std::string> safetensorsTensorNames(const fs::path& file) {
  std::vector<std::string> names;
  try {
    for (const auto& t : readHeader(file).tensors) names.push_back(t.name);
  } catch (const MissingFile& e) {
    throw io::FileError(e.what());
  }
  return names;
}

uint64_t folderBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code fileEc;
    if (it->is_regular_file(fileEc)) {
      const auto size = it->file_size(fileEc);
      if (!fileEc) total += size;
    }
  }
  return total;
}

}  // namespace caig
