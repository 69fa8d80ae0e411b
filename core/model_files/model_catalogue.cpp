#include "core/model_files/model_catalogue.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/base/resources.h"
#include "core/model_files/hf_cache.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace caig {
namespace {

std::string text(const json& j, const char* key, const std::string& where, bool required = true) {
  if (!j.contains(key)) {
    if (required) throw io::FormatError(where + " has no \"" + key + "\"");
    return {};
  }
  if (!j[key].is_string()) throw io::FormatError(where + ": \"" + key + "\" is not a string");
  return j[key].get<std::string>();
}

std::vector<std::string> texts(const json& j, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) throw io::FormatError(where + ": \"" + key + "\" is not a list");
  for (const auto& v : j[key]) {
    if (!v.is_string()) throw io::FormatError(where + ": \"" + key + "\" holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

ModelCatalogue ModelCatalogue::load() {
  return load(resourceDir() / "models" / "catalogue.json");
}

ModelCatalogue ModelCatalogue::load(const fs::path& file) {
  const json j = io::readJsonFile(file);
  const std::string name = "'" + file.string() + "'";
  if (!j.is_object() || !j.contains("models") || !j["models"].is_array()) {
    throw io::FormatError(name + " has no \"models\" list");
  }
  ModelCatalogue c;
  for (const auto& m : j["models"]) {
    if (!m.is_object()) throw io::FormatError(name + ": a model entry is not an object");
    CatalogueModel e;
    e.id = text(m, "id", name + ": a model entry");
    const std::string where = name + ": model \"" + e.id + "\"";
    if (c.find(e.id)) throw io::FormatError(where + " is listed twice");
    e.title = text(m, "title", where);
    e.role = text(m, "role", where);
    if (m.contains("source")) e.source = text(m, "source", where);
    if (e.source != "hf" && e.source != "npm") throw io::FormatError(where + ": source must be \"hf\" or \"npm\"");
    e.repo = text(m, "repo", where, e.source == "hf");
    if (e.source == "hf" && !hf::validRepoId(e.repo))
      throw io::FormatError(where + ": '" + e.repo + "' is not org/name");
    if (m.contains("revision")) e.revision = text(m, "revision", where);
    e.include = texts(m, "include", where);
    if (m.contains("approx_bytes")) {
      if (!m["approx_bytes"].is_number_unsigned()) throw io::FormatError(where + ": approx_bytes is not a byte count");
      e.approxBytes = m["approx_bytes"].get<uint64_t>();
    }
    e.licence = text(m, "licence", where);
    e.summary = text(m, "summary", where, false);
    e.package = text(m, "package", where, e.source == "npm");
    c.models_.push_back(std::move(e));
  }
  if (j.contains("packs")) {
    if (!j["packs"].is_array()) throw io::FormatError(name + ": \"packs\" is not a list");
    for (const auto& p : j["packs"]) {
      if (!p.is_object()) throw io::FormatError(name + ": a pack entry is not an object");
      CataloguePack pack;
      pack.id = text(p, "id", name + ": a pack");
      const std::string where = name + ": pack \"" + pack.id + "\"";
      pack.title = text(p, "title", where);
      pack.summary = text(p, "summary", where, false);
      pack.models = texts(p, "models", where);
      for (const auto& id : pack.models)
        if (!c.find(id)) throw io::FormatError(where + " names \"" + id + "\", which is not in the models list");
      if (c.find(pack.id)) throw io::FormatError(where + " has the id of a model");
      c.packs_.push_back(std::move(pack));
    }
  }
  return c;
}

const CatalogueModel* ModelCatalogue::find(const std::string& id) const {
  for (const auto& m : models_)
    if (m.id == id) return &m;
  return nullptr;
}

const CataloguePack* ModelCatalogue::findPack(const std::string& id) const {
  for (const auto& p : packs_)
    if (p.id == id) return &p;
  return nullptr;
}

std::vector<CatalogueModel> ModelCatalogue::resolve(const std::string& name) const {
  if (const auto* m = find(name)) return {*m};
  if (const auto* p = findPack(name)) {
    std::vector<CatalogueModel> out;
    for (const auto& id : p->models) out.push_back(*find(id));
    return out;
  }
  for (const auto& m : models_)  // the repository of a catalogue entry: its file list too
    if (m.repo == name) return {m};
  if (hf::validRepoId(name)) {
    CatalogueModel m;
    m.id = m.title = m.repo = name;
    m.role = "other";
    return {m};
  }
  std::string known;
  for (const auto& m : models_) known += (known.empty() ? "" : ", ") + m.id;
  for (const auto& p : packs_) known += ", " + p.id;
  throw std::invalid_argument("'" + name + "' is neither a catalogue name (" + known +
                              ") nor a repository id (org/name)");
}

}  // namespace caig
