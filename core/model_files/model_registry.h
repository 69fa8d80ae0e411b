#pragma once
// The installed models: the built-in engines (always there) and every Hugging Face folder found
// in the models directory (~/.local/share/caig-studio/models) or added by the user (the list is
// kept in <models dir>/user-folders.json, written atomically). Each folder is classified (ISNet,
// SD1.5 pipeline, ControlNet, VAE, TAESD, LLaVA, reward model, LoRA adapter), measured (size on disk, dtypes,
// parameters) and checked (every safetensors header valid, all shards present, the index covering
// what it names, cheap shape checks against the config). Torch-free: reads headers, never weights.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/model_files/model_locations.h"

namespace caig {

// The folder's own name, also for "dir/" and "." spellings: how models are named in ids.
std::string modelFolderName(const std::filesystem::path& dir);

// Bytes of every regular file under `dir` (what the registry reports as a model's size on disk).
uint64_t folderBytes(const std::filesystem::path& dir);

// The tensor names in a safetensors file's header (the header alone is read and checked).
// Throws io::FileError (missing, unreadable) or io::FormatError.
std::vector<std::string> safetensorsTensorNames(const std::filesystem::path& file);

// LoraAdapter: a PEFT adapter folder of a LLaVA model (what training writes); SdLora: a LoRA file
// for SD1.5 (kohya / A1111 / diffusers), merged by the sd15 engine.
// Vae: an SD VAE to use instead of a model's own; Taesd: the tiny autoencoder for previews and
// fast decodes.
enum class ModelKind {
  BuiltIn,
  Isnet,
  StableDiffusion,
  ControlNet,
  Llava,
  RewardModel,
  LoraAdapter,
  SdLora,
  Vae,
  Taesd,
  Other
};
const char* modelKindName(ModelKind kind);

enum class ModelStatus { Ok, MissingFiles, Invalid };
const char* modelStatusName(ModelStatus status);  // "ok", "missing files", "invalid"

struct InstalledModel {
  std::string name;               // folder name, or the built-in engine's name
  ModelKind kind = ModelKind::Other;
  std::filesystem::path path;     // empty for built-in engines
  bool userAdded = false;         // from user-folders.json (can be removed from the list)
  // Where it was found when not in the models folder or the user list: "Hugging Face cache",
  // "ComfyUI ~/ComfyUI", "A1111 ~/stable-diffusion-webui" (used in place, never copied).
  std::string source;
  bool neural = false;            // runs on the engine device (built-ins run on the CPU)
  uint64_t bytesOnDisk = 0;       // every regular file under the folder
  std::vector<std::string> dtypes;  // safetensors dtypes present, e.g. {"F16", "F32"}
  uint64_t parameters = 0;        // elements over all weight tensors
  std::vector<std::filesystem::path> weightFiles;  // safetensors files (shards included)
  ModelStatus status = ModelStatus::Ok;
  std::string reason;             // why the status is not ok; a note for built-ins
  std::string detail;             // e.g. the architecture or pipeline class
  // A single .safetensors file's own metadata (its header's __metadata__: modelspec.title,
  // ss_base_model_version, ss_network_dim, sd_merge_recipe, ...), as written.
  std::map<std::string, std::string> metadata;
  // The few metadata entries worth a line in a list ("title: majicMIX realistic v7; base: sd_v1"),
  // empty when the file has none of them.
  std::string metadataSummary() const;

  std::string precision() const;  // dtypes joined by "+", "-" when none
};

struct FileHash {
  std::filesystem::path file;
  uint64_t xxh64 = 0;
  std::string hex() const;  // 16 lowercase hex digits
};

struct VerifyOptions {
  bool hash = false;  // also stream every weight file through xxHash64
  // Called as bytes are hashed (and once per file when not hashing); return false to cancel.
  std::function<bool(uint64_t doneBytes, uint64_t totalBytes, const std::filesystem::path& file)> progress;
};

struct VerifyResult {
  InstalledModel model;          // re-inspected: status and reason are current
  std::vector<FileHash> hashes;  // in weightFiles order, when hashing
  bool cancelled = false;
};

class ModelRegistry {
 public:
  // $CAIG_MODELS_DIR, else $XDG_DATA_HOME (or ~/.local/share)/caig-studio/models, as the ISNet
  // import does (defaultIsnetDir() is <this>/isnet).
  static std::filesystem::path defaultModelsDir();

  // Reads the user folder list when present. Throws io::FormatError when it is malformed (the
  // file is left as is, for the user to repair).
  explicit ModelRegistry(std::filesystem::path modelsDir = defaultModelsDir());

  const std::filesystem::path& modelsDir() const { return modelsDir_; }
  std::filesystem::path userFoldersFile() const { return modelsDir_ / "user-folders.json"; }
  const std::vector<std::filesystem::path>& userFolders() const { return userFolders_; }

  // Adds an absolute, existing folder and saves the list (creates the models directory). Returns
  // false when it is already listed. Throws io::FileError when it is not a folder or on write errors.
  bool addFolder(const std::filesystem::path& folder);
  // Forgets the folder (never deletes files) and saves the list; false when not listed.
  bool removeFolder(const std::filesystem::path& folder);

  // Locations of models used in place (model_locations.h): the ones the user gave (kept in
  // locations.json), then the usual places not among them.
  std::filesystem::path locationsFile() const { return modelsDir_ / "locations.json"; }
  const std::vector<ModelLocation>& userLocations() const { return userLocations_; }
  std::vector<ModelLocation> locations() const;
  // Adds a Hugging Face cache, ComfyUI or A1111 folder and saves the list. Throws io::FileError
  // saying what was looked for when the folder is none of them; returns the location (also when
  // it was already listed).
  ModelLocation addLocation(const std::filesystem::path& folder);
  bool removeLocation(const std::filesystem::path& root);  // forgets it (never deletes files)

  // Built-in engines first, then the models directory's subfolders and .safetensors files, the
  // files of its loras/ folder (A1111's models/Lora), $CAIG_ISNET_DIR (sorted), the user
  // folders and files, then the models of every location (a path already listed is not repeated).
  std::vector<InstalledModel> scan() const;
  std::filesystem::path lorasDir() const { return modelsDir_ / "loras"; }

  // The installed SD LoRA A1111's <lora:name> means: the one whose file is name.safetensors.
  // Throws std::invalid_argument saying where it looked when there is none (or it is broken).
  std::filesystem::path findSdLora(const std::string& name) const;
  // What a model reference names: an existing file or folder as it is; else a repository id
  // ("org/name") in the Hugging Face cache (the default one and every cache location), its main
  // snapshot; else the path of the listed model of that name (a ComfyUI checkpoint's file stem).
  // The reference unchanged when none matches (the caller's "no such model" names it).
  std::filesystem::path resolveReference(const std::string& reference) const;
  // The usable (status ok) model of that kind listed as `preferName`, else the first usable one of
  // the kind; empty when there is none.
  std::filesystem::path findUsable(ModelKind kind, const std::string& preferName = {}) const;
  // The first usable installed TAESD (folder or taesd_decoder.safetensors), empty when none.
  std::filesystem::path findTaesd() const { return findUsable(ModelKind::Taesd); }

  // What a project trained itself, ready to use: <project>/models/<name>/merged (a standalone
  // reward model from the neural RM training) and <project>/models/<name>/round-<k>/model (PCPO's
  // prompt models), each named "<name> (project)" or "<name> round <k> (project)". Sorted; never throws.
  static std::vector<InstalledModel> projectModels(const std::filesystem::path& projectDir);

  // Classifies, measures and checks one folder. Never throws: problems become the status.
  static InstalledModel inspect(const std::filesystem::path& folder);
  static std::vector<InstalledModel> builtInEngines();

  // Re-reads every header (inspect()) and, with options.hash, hashes every weight file in
  // 4 MiB reads. Never throws for a broken model; I/O errors while hashing make it invalid.
  static VerifyResult verify(const InstalledModel& model, const VerifyOptions& options = {});

 private:
  void save() const;                                                                    // user-folders.json
  void saveLocations() const;                                                           // locations.json
  void writeList(const std::filesystem::path& file, const nlohmann::json& list) const;  // atomically

  std::filesystem::path modelsDir_;
  std::vector<std::filesystem::path> userFolders_;
  std::vector<ModelLocation> userLocations_;
};

}  // namespace caig
