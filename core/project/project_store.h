#pragma once
// The project's SQLite store: products, prompts, variants, click records, installed models and
// training runs. WAL journal, foreign keys on, a schema version with forward migrations, and
// every write inside a transaction (nested calls become savepoints), so an error or a crash
// never leaves half a change behind.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/generation/composition.h"

struct sqlite3;
struct sqlite3_stmt;

namespace caig {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Product {
  int64_t id = 0;
  std::string title;
  std::string category;
  std::string imagePath;  // relative to the project folder
  std::string createdAt;  // UTC, ISO 8601, set by the store
  std::string cutoutPath;    // alpha PNG relative to the project folder; empty = not cut out yet
  std::string cutoutEngine;  // "isnet", "grabcut", "painted"...
};

struct PromptRecord {
  int64_t id = 0;
  int64_t productId = 0;
  std::string text;
  std::string source;  // "builtin", "llava: <model>", "user", "user (edited from builtin)"...
  bool pinned = false;
};

struct Variant {
  int64_t id = 0;
  int64_t productId = 0;
  std::optional<int64_t> promptId;
  std::string imagePath;
  int64_t seed = 0;
  std::string paramsJson = "{}";  // engine, sampler, steps, cfg, size...
  bool favourite = false;
  // Ranking, stored so a reload shows it without recomputing.
  std::optional<double> score;
  std::optional<int> rank;
  std::optional<double> winProbability;
  std::string rankerId;
  // Schema 5, for the CTR readout (empty for rankings stored before): the score's standard error,
  // logit P(beats the plain original) with its standard error, and the ranker's uncertainty basis.
  std::optional<double> stdError;
  std::optional<double> vsOriginal;
  std::optional<double> vsOriginalStdError;
  std::vector<double> uncertaintyBasis;  // CtrRanker::uncertaintyBasis; empty when unknown
  std::optional<double> ctrScale;        // CtrRanker::ctrScale of the ranker that ranked it
};

// One variant's ranking as setRanking stores it.
struct StoredRanking {
  double score = 0;
  int rank = 0;
  double winProbability = 0.5;
  std::string rankerId;
  double stdError = 0;
  double vsOriginal = 0;
  double vsOriginalStdError = 0;
  std::vector<double> uncertaintyBasis;
  std::optional<double> ctrScale;
};

struct ClickRecord {
  int64_t id = 0;
  std::string creativeId;
  std::optional<int64_t> productId;
  std::string productKey;  // product id or name as given by the click export
  std::string imagePath;
  std::string imageHash;
  int64_t impressions = 0;
  int64_t clicks = 0;
  // Schema 3: which imported click product and import the record belongs to, its product
  // mask (relative; empty = none) and the click file it came from.
  std::optional<int64_t> clickProductId;
  std::optional<int64_t> importId;
  std::string alphaPath;
  std::string sourceFile;
};

// A product as named by click data (its creatives are compared with each other). Linked to a
// studio product when the key matches one's id or title.
struct ClickProduct {
  int64_t id = 0;
  std::string key;  // product id or name as given by the click export; unique
  std::string title;
  std::string category;
  std::optional<int64_t> productId;
};

// One imported click file; the same content (by hash) is never imported twice.
struct ClickImport {
  int64_t id = 0;
  std::string sourceFile;
  std::string fileHash;
  std::string format;  // "csv", "json"
  int64_t rowsRead = 0;
  int64_t rowsImported = 0;
  int64_t rowsRejected = 0;
  std::string importedAt;
};

struct ModelEntry {
  int64_t id = 0;
  std::string kind;  // "isnet", "sd15", "controlnet", "llava", "reward", "adapter"
  std::string name;
  std::string path;
  std::string precision;
};

struct TrainingRun {
  int64_t id = 0;
  std::string kind;  // "builtin-ranker", "reward-model", "pcpo"
  std::string configJson = "{}";
  std::string status;  // "running", "finished", "failed", "cancelled"
  std::string metricsJson = "{}";
  std::string startedAt;
  std::string finishedAt;
};

class ProjectStore {
 public:
  static constexpr int kSchemaVersion = 5;

  enum class Access { ReadWrite, ReadOnly };

  // ReadWrite creates the database if absent and migrates an older one; ReadOnly changes nothing
  // (works on a read-only mount) and refuses transactions. Throws StoreError for a file that is
  // not a CAIG project, is empty (0 bytes: a failed copy, never silently replaced) or was written
  // by a newer version; every check runs before the file is opened for writing, so a refused
  // file stays byte-identical. Writers wait up to a minute for another process's transaction.
  static ProjectStore open(const std::filesystem::path& dbFile, Access access = Access::ReadWrite);
  ProjectStore(ProjectStore&& other) noexcept;
  ProjectStore& operator=(ProjectStore&& other) noexcept;
  ~ProjectStore();

  int schemaVersion() const;
  const std::filesystem::path& path() const { return path_; }

  // Runs `work` atomically: everything it writes is committed together or not at all.
  void transaction(const std::function<void()>& work);

  int64_t addProduct(const Product& product);
  void updateProduct(const Product& product);
  void removeProduct(int64_t id);  // with its prompts and variants
  void removeVariant(int64_t id);  // throws StoreError for an unknown id
  // Whether any record names this project-relative file (a variant image, a shot or cutout, a
  // click creative's image or mask): files are shared by content, so one may serve several.
  bool fileReferenced(const std::string& relativePath) const;
  std::vector<Product> products() const;
  std::optional<Product> product(int64_t id) const;
  // The user's placement of the product on the ad canvas (core/generation/composition.h); none = CAIG's
  // default. setPlacement(id, std::nullopt) resets it. Throws std::invalid_argument for a scale
  // <= 0 or a non-finite number (nothing changes) and StoreError for an unknown product.
  std::optional<PlacementOverride> placement(int64_t productId) const;
  void setPlacement(int64_t productId, const std::optional<PlacementOverride>& placement);

  int64_t addPrompt(const PromptRecord& prompt);
  void setPromptPinned(int64_t id, bool pinned);
  // Replaces a prompt's text (surrounding whitespace trimmed). A prompt that a writer generated
  // becomes the user's, saying where it came from: "builtin" -> "user (edited from builtin)".
  // Variants made from it keep the old text as "prompt" in their params JSON (when not there
  // yet). Throws std::invalid_argument for empty or whitespace-only text (nothing changes) and
  // StoreError for an unknown id.
  void setPromptText(int64_t id, const std::string& text);
  // Removes a prompt. The variants made from it stay, with no prompt id and the prompt text as
  // "prompt" in their params JSON (SD variants have it already); one transaction. Throws
  // StoreError for an unknown id.
  void deletePrompt(int64_t id);
  std::vector<PromptRecord> prompts(int64_t productId) const;

  int64_t addVariant(const Variant& variant);
  void setRanking(int64_t variantId, const StoredRanking& ranking);
  void setFavourite(int64_t variantId, bool favourite);
  std::vector<Variant> variants(int64_t productId) const;
  std::optional<Variant> variant(int64_t id) const;

  int64_t addClickRecord(const ClickRecord& record);
  std::vector<ClickRecord> clickRecords() const;
  int64_t clickRecordCount() const;
  bool hasClickRecord(const std::string& creativeId) const;

  // Inserts the product or, when its key exists, fills in an empty title/category. Returns its id.
  int64_t upsertClickProduct(const ClickProduct& product);
  std::vector<ClickProduct> clickProducts() const;
  int64_t addClickImport(const ClickImport& import);
  std::optional<ClickImport> clickImportByHash(const std::string& fileHash) const;
  std::vector<ClickImport> clickImports() const;

  int64_t registerModel(const ModelEntry& model);
  std::vector<ModelEntry> models() const;

  int64_t startTrainingRun(const TrainingRun& run);
  void finishTrainingRun(int64_t id, const std::string& status, const std::string& metricsJson);
  std::vector<TrainingRun> trainingRuns() const;

  // Free-form project settings. open() keeps two: "created_with" (the studio version that
  // created the file) and "written_with" (the last version that opened it for writing).
  void setSetting(const std::string& key, const std::string& value);
  std::optional<std::string> setting(const std::string& key) const;

 private:
  ProjectStore() = default;
  void exec(const char* sql);
  void checkVersion() const;
  void migrate();
  // Copies a prompt's current text into the params JSON of its variants that lack "prompt".
  void keepPromptInVariants(int64_t promptId);

  // The hot statements of a click import (one row each), prepared once per connection and reset
  // after each use; keyed by the address of their SQL literal. Never used re-entrantly.
  sqlite3_stmt* cachedStatement(const char* sql) const;
  void finalizeCachedStatements() noexcept;

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  int savepointDepth_ = 0;
  bool readOnly_ = false;
  mutable std::vector<std::pair<const char*, sqlite3_stmt*>> cached_;
};

}  // namespace caig
