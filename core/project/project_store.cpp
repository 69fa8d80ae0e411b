#include "core/project/project_store.h"
#include "core/base/version.h"

#include <sqlite3.h>

#include "core/base/utf8.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace caig {
namespace {

// 'CAIG' in ASCII: marks the file as a studio project for `file` and for open().
constexpr int kApplicationId = 0x43414947;

// Migration i takes the schema from version i to i + 1. Never edit a released step: append.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE products (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  category TEXT NOT NULL DEFAULT '',
  image_path TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE prompts (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  text TEXT NOT NULL,
  source TEXT NOT NULL,
  pinned INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE variants (
  id INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
  image_path TEXT NOT NULL,
  seed INTEGER NOT NULL,
  params_json TEXT NOT NULL DEFAULT '{}',
  favourite INTEGER NOT NULL DEFAULT 0,
  score REAL, rank INTEGER, win_probability REAL, ranker_id TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX variants_by_product ON variants(product_id);
CREATE TABLE click_records (
  id INTEGER PRIMARY KEY,
  creative_id TEXT NOT NULL UNIQUE,
  product_id INTEGER REFERENCES products(id) ON DELETE SET NULL,
  product_key TEXT NOT NULL DEFAULT '',
  image_path TEXT NOT NULL DEFAULT '',
  image_hash TEXT NOT NULL DEFAULT '',
  impressions INTEGER NOT NULL CHECK (impressions >= 0),
  clicks INTEGER NOT NULL CHECK (clicks >= 0 AND clicks <= impressions),
  imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE models (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL UNIQUE,
  precision TEXT NOT NULL DEFAULT '',
  added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE training_runs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  config_json TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL,
  metrics_json TEXT NOT NULL DEFAULT '{}',
  started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  finished_at TEXT NOT NULL DEFAULT ''
);
)sql",
    // 1 -> 2: a product keeps its cutout (alpha PNG in the project) and which engine made it.
    R"sql(
ALTER TABLE products ADD COLUMN cutout_path TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN cutout_engine TEXT NOT NULL DEFAULT '';
)sql",
    // 2 -> 3: imported click data. Products as the click export names them, one row per
    // imported file (its content hash refuses a second import), and the creatives (the existing
    // click_records) linked to both, with their product mask and source file.
    R"sql(
CREATE TABLE click_imports (
  id INTEGER PRIMARY KEY,
  source_file TEXT NOT NULL,
  file_hash TEXT NOT NULL UNIQUE,
  format TEXT NOT NULL,
  rows_read INTEGER NOT NULL DEFAULT 0,
  rows_imported INTEGER NOT NULL DEFAULT 0,
  rows_rejected INTEGER NOT NULL DEFAULT 0,
  imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE click_products (
  id INTEGER PRIMARY KEY,
  product_key TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL DEFAULT '',
  category TEXT NOT NULL DEFAULT '',
  product_id INTEGER REFERENCES products(id) ON DELETE SET NULL
);
ALTER TABLE click_records ADD COLUMN click_product_id INTEGER REFERENCES click_products(id) ON DELETE CASCADE;
ALTER TABLE click_records ADD COLUMN import_id INTEGER REFERENCES click_imports(id) ON DELETE CASCADE;
ALTER TABLE click_records ADD COLUMN alpha_path TEXT NOT NULL DEFAULT '';
ALTER TABLE click_records ADD COLUMN source_file TEXT NOT NULL DEFAULT '';
INSERT OR IGNORE INTO click_products(product_key, product_id)
  SELECT product_key, min(product_id) FROM click_records GROUP BY product_key;
UPDATE click_records SET click_product_id =
  (SELECT id FROM click_products WHERE click_products.product_key = click_records.product_key);
CREATE INDEX click_records_by_click_product ON click_records(click_product_id);
)sql",
    // 3 -> 4: where the user placed a product on the ad canvas (scale relative to CAIG's default
    // placement, offset as a fraction of the canvas), so one placement serves every ad size.
    R"sql(
CREATE TABLE product_placements (
  product_id INTEGER PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
  scale REAL NOT NULL CHECK (scale > 0),
  dx REAL NOT NULL DEFAULT 0,
  dy REAL NOT NULL DEFAULT 0
);
)sql",
    // 4 -> 5: what the CTR readout needs of a ranking: the score's standard error, the logit of
    // P(beats the original) with its standard error (the lift over the original), and the
    // ranker's uncertainty basis (numbers separated by spaces; NULL when the ranker has none) and
    // its CTR scale (log CTR ratio per logit; NULL when not fitted to clicks).
    R"sql(
ALTER TABLE variants ADD COLUMN std_error REAL;
ALTER TABLE variants ADD COLUMN vs_original REAL;
ALTER TABLE variants ADD COLUMN vs_original_std_error REAL;
ALTER TABLE variants ADD COLUMN uncertainty_basis TEXT;
ALTER TABLE variants ADD COLUMN ctr_scale REAL;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == ProjectStore::kSchemaVersion,
              "one migration per schema version");

// How long a writer waits for another process (the studio, a second `caig import-clicks`) to
// finish its transaction before giving up.
constexpr int kBusyTimeoutMs = 60'000;

// SQLite reports a full disk as SQLITE_FULL when a page write fails, but as an I/O error when
// its WAL index (-shm) cannot grow: look at the file system to tell.
bool diskFull(const char* file) {
  struct statvfs fs {};
  return file && *file && ::statvfs(file, &fs) == 0 && uint64_t(fs.f_bavail) * fs.f_frsize < (256u << 10);
}

// SQLite's message, with the cases a user can act on said in words.
std::string describeFailure(sqlite3* db) {
  const int code = sqlite3_errcode(db) & 0xff;
  const char* file = sqlite3_db_filename(db, "main");
  const std::string where = file && *file ? std::string(" '") + file + "'" : std::string();
  if (code == SQLITE_FULL || ((code == SQLITE_IOERR || code == SQLITE_CANTOPEN) && diskFull(file))) return "the disk is full: cannot write the project" + where + "; free some space and try again";
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return "the project" + where + " stayed locked by another process for " + std::to_string(kBusyTimeoutMs / 1000) +
           " s; try again when it has finished";
  }
  if (code == SQLITE_READONLY) return "the project" + where + " is read-only here (a read-only folder or mount?)";
  if (code == SQLITE_IOERR) return std::string("disk I/O error writing the project") + where + ": " + sqlite3_errmsg(db);
  return sqlite3_errmsg(db);
}

// One prepared statement; binds by position (1-based) and reads columns by index.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw StoreError(std::string("SQL error: ") + sqlite3_errmsg(db));
    }
  }
  // A statement the store keeps prepared (ProjectStore::cachedStatement): reset, not finalised.
  Statement(sqlite3* db, sqlite3_stmt* cached) : db_(db), stmt_(cached), owned_(false) {}
  ~Statement() {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v) { return check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v) { return check(sqlite3_bind_double(stmt_, i, v)); }
  Statement& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  template <class T>
  Statement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : check(sqlite3_bind_null(stmt_, i));
  }

  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError("database error: " + describeFailure(db_));
  }
  void run() { step(); }

  int64_t i64(int c) const { return sqlite3_column_int64(stmt_, c); }
  double f64(int c) const { return sqlite3_column_double(stmt_, c); }
  bool isNull(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(stmt_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, c)) : "";
  }
  std::optional<int64_t> optI64(int c) const { return isNull(c) ? std::nullopt : std::optional(i64(c)); }
  std::optional<double> optF64(int c) const { return isNull(c) ? std::nullopt : std::optional(f64(c)); }

 private:
  Statement& check(int rc) {
    if (rc != SQLITE_OK) throw StoreError(std::string("SQL bind failed: ") + sqlite3_errmsg(db_));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool owned_ = true;
};

int64_t queryInt(sqlite3* db, const char* sql) {
  Statement s(db, sql);
  return s.step() ? s.i64(0) : 0;
}

}  // namespace

namespace {

bool directoryWritable(const std::filesystem::path& dbFile) {
  const auto dir = dbFile.has_parent_path() ? dbFile.parent_path() : std::filesystem::path(".");
  return ::access(dir.c_str(), W_OK) == 0;
}

bool onReadOnlyFileSystem(const std::filesystem::path& file) {
  struct statvfs fs {};
  return ::statvfs(file.c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY);
}

// Opens the file read-only. A WAL project on a read-only mount has no -shm file and cannot get
// one; nobody can write there, so reading it as immutable is exact.
sqlite3* openReadOnlyConnection(const std::filesystem::path& dbFile) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(dbFile.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    // Touch the schema: a WAL file that cannot get its -shm fails here, not at the first query.
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK && !directoryWritable(dbFile)) {
    sqlite3_close_v2(db);
    db = nullptr;
    char* uri = sqlite3_mprintf("file:%s?immutable=1", dbFile.c_str());
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nullptr);
    sqlite3_free(uri);
  }
  if (rc != SQLITE_OK) {
    const std::string why = db ? describeFailure(db) : "out of memory";
    sqlite3_close_v2(db);
    throw StoreError(why);
  }
  return db;
}

}  // namespace

ProjectStore ProjectStore::open(const std::filesystem::path& dbFile, Access access) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(dbFile, ec);
  if (exists) {
    if (!fs::is_regular_file(dbFile, ec)) {
      throw StoreError("cannot open project '" + dbFile.string() + "': not a regular file");
    }
    if (fs::file_size(dbFile, ec) == 0 && !ec) {
      throw StoreError("'" + dbFile.string() + "' is empty (0 bytes), most likely a failed copy; restore it "
                       "from a backup, or delete it to start a new project in that folder");
    }
  } else if (access == Access::ReadOnly) {
    throw StoreError("cannot open project database '" + dbFile.string() + "': it does not exist");
  }

  ProjectStore store;
  store.path_ = dbFile;
  store.readOnly_ = access == Access::ReadOnly;
  try {
    // Everything that decides whether to refuse the file is read through a read-only
    // connection, so a refused file stays byte-identical (switching it to WAL would not).
    if (exists) {
      store.db_ = openReadOnlyConnection(dbFile);
      const int64_t appId = queryInt(store.db_, "PRAGMA application_id");
      const int64_t tables = queryInt(store.db_, "SELECT count(*) FROM sqlite_master");
      if (appId != kApplicationId && (appId != 0 || tables != 0)) {
        throw StoreError("'" + dbFile.string() + "' is an SQLite file but not a CAIG Studio project");
      }
      store.checkVersion();
      if (store.readOnly_) {
        if (store.schemaVersion() < kSchemaVersion) {
          throw StoreError("uses the older schema version " + std::to_string(store.schemaVersion()) +
                           "; open it once where it can be written to upgrade it");
        }
        return store;
      }
      sqlite3_close_v2(std::exchange(store.db_, nullptr));
    }
    // SQLite would fail later with "unable to open database file" (it cannot create the WAL
    // index beside the file): say what is wrong.
    if (exists && (!directoryWritable(dbFile) || ::access(dbFile.c_str(), W_OK) != 0 || onReadOnlyFileSystem(dbFile))) {
      throw StoreError("the project is read-only here (a read-only folder or mount); it can be opened for "
                       "viewing, not changed");
    }
    const int rc = sqlite3_open_v2(dbFile.c_str(), &store.db_,
                                   SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK) {
      const std::string why = store.db_ ? describeFailure(store.db_) : "out of memory";
      throw StoreError("cannot open it for writing: " + why);
    }
    sqlite3_busy_timeout(store.db_, kBusyTimeoutMs);
    store.exec("PRAGMA journal_mode = WAL");
    store.exec("PRAGMA synchronous = NORMAL");
    store.exec("PRAGMA foreign_keys = ON");
    store.migrate();
    // Which studio wrote the file: once at creation, and again when another version opens it
    // for writing (an unchanged version writes nothing).
    const std::string version = studioVersionLine();
    if (!exists) store.setSetting("created_with", version);
    if (store.setting("written_with") != version) store.setSetting("written_with", version);
  } catch (const StoreError& e) {
    throw StoreError("cannot open project '" + dbFile.string() + "': " + e.what());
  }
  return store;
}

ProjectStore::ProjectStore(ProjectStore&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      savepointDepth_(other.savepointDepth_),
      readOnly_(other.readOnly_),
      cached_(std::exchange(other.cached_, {})) {}

ProjectStore& ProjectStore::operator=(ProjectStore&& other) noexcept {
  if (this != &other) {
    finalizeCachedStatements();
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    savepointDepth_ = other.savepointDepth_;
    readOnly_ = other.readOnly_;
    cached_ = std::exchange(other.cached_, {});
  }
  return *this;
}

ProjectStore::~ProjectStore() {
  finalizeCachedStatements();
  if (db_) sqlite3_close_v2(db_);
}

sqlite3_stmt* ProjectStore::cachedStatement(const char* sql) const {
  for (const auto& [key, stmt] : cached_) {
    if (key == sql) return stmt;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    throw StoreError(std::string("SQL error: ") + sqlite3_errmsg(db_));
  }
  cached_.emplace_back(sql, stmt);
  return stmt;
}

void ProjectStore::finalizeCachedStatements() noexcept {
  for (const auto& entry : cached_) sqlite3_finalize(entry.second);
  cached_.clear();
}

void ProjectStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    sqlite3_free(err);
    const std::string why = describeFailure(db_);
    throw StoreError("database error in '" + path_.string() + "': " + why);
  }
}

int ProjectStore::schemaVersion() const {
  return static_cast<int>(queryInt(db_, "PRAGMA user_version"));
}

void ProjectStore::checkVersion() const {
  const int version = schemaVersion();
  if (version > kSchemaVersion) {
    throw StoreError("'" + path_.string() + "' uses schema version " + std::to_string(version) +
                     "; this studio reads up to " + std::to_string(kSchemaVersion) +
                     ". Update CAIG Studio to open it.");
  }
}

void ProjectStore::migrate() {
  checkVersion();
  for (int v = schemaVersion(); v < kSchemaVersion; ++v) {
    transaction([&] {
      exec(kMigrations[v]);
      exec(("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
      exec(("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
    });
  }
}

void ProjectStore::transaction(const std::function<void()>& work) {
  if (readOnly_) throw StoreError("'" + path_.string() + "' was opened read-only");
  // The outermost level takes the write lock up front (BEGIN IMMEDIATE waits for another writer
  // under the busy timeout; a deferred transaction that reads first and then writes would get
  // SQLITE_BUSY at once, with no wait). Inner levels are savepoints.
  const bool outermost = savepointDepth_ == 0;
  const std::string name = "caig_sp" + std::to_string(savepointDepth_);
  exec(outermost ? "BEGIN IMMEDIATE" : ("SAVEPOINT " + name).c_str());
  ++savepointDepth_;
  try {
    work();
  } catch (...) {
    --savepointDepth_;
    // SQLite may have rolled the whole transaction back already (SQLITE_FULL, an I/O error);
    // then there is nothing left to undo, and the original error is the one to report.
    if (!sqlite3_get_autocommit(db_)) {
      if (outermost) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      } else {
        sqlite3_exec(db_, ("ROLLBACK TO " + name + "; RELEASE " + name).c_str(), nullptr, nullptr, nullptr);
      }
    }
    throw;
  }
  --savepointDepth_;
  if (!outermost) {
    exec(("RELEASE " + name).c_str());
    return;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    const std::string why = describeFailure(db_);
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw StoreError("saving to '" + path_.string() + "' failed, nothing was changed: " + why);
  }
}

int64_t ProjectStore::addProduct(const Product& p) {
  requireUtf8(p.title, "the product title");
  requireUtf8(p.category, "the product category");
  Statement s(db_, "INSERT INTO products(title, category, image_path, cutout_path, cutout_engine) VALUES (?, ?, ?, ?, ?)");
  s.bind(1, p.title).bind(2, p.category).bind(3, p.imagePath).bind(4, p.cutoutPath).bind(5, p.cutoutEngine).run();
  return sqlite3_last_insert_rowid(db_);
}

void ProjectStore::updateProduct(const Product& p) {
  requireUtf8(p.title, "the product title");
  requireUtf8(p.category, "the product category");
  Statement s(db_,
              "UPDATE products SET title = ?, category = ?, image_path = ?, cutout_path = ?, cutout_engine = ?"
              " WHERE id = ?");
  s.bind(1, p.title).bind(2, p.category).bind(3, p.imagePath).bind(4, p.cutoutPath).bind(5, p.cutoutEngine);
  s.bind(6, p.id).run();
  if (sqlite3_changes(db_) == 0) throw StoreError("no product with id " + std::to_string(p.id));
}

void ProjectStore::removeProduct(int64_t id) {
  Statement s(db_, "DELETE FROM products WHERE id = ?");
  s.bind(1, id).run();
}

void ProjectStore::removeVariant(int64_t id) {
  Statement s(db_, "DELETE FROM variants WHERE id = ?");
  s.bind(1, id).run();
  if (sqlite3_changes(db_) == 0) throw StoreError("no variant with id " + std::to_string(id));
}

bool ProjectStore::fileReferenced(const std::string& relativePath) const {
  Statement s(db_,
              "SELECT 1 WHERE EXISTS (SELECT 1 FROM variants WHERE image_path = ?1)"
              " OR EXISTS (SELECT 1 FROM products WHERE image_path = ?1 OR cutout_path = ?1)"
              " OR EXISTS (SELECT 1 FROM click_records WHERE image_path = ?1 OR alpha_path = ?1)");
  s.bind(1, relativePath);
  return s.step();
}

namespace {
constexpr const char* kProductColumns = "SELECT id, title, category, image_path, created_at, cutout_path, cutout_engine";
Product readProduct(const Statement& s) {
  return Product{s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)};
}
}  // namespace

std::vector<Product> ProjectStore::products() const {
  Statement s(db_, (std::string(kProductColumns) + " FROM products ORDER BY id").c_str());
  std::vector<Product> out;
  while (s.step()) out.push_back(readProduct(s));
  return out;
}

std::optional<Product> ProjectStore::product(int64_t id) const {
  Statement s(db_, (std::string(kProductColumns) + " FROM products WHERE id = ?").c_str());
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return readProduct(s);
}

std::optional<PlacementOverride> ProjectStore::placement(int64_t productId) const {
  Statement s(db_, "SELECT scale, dx, dy FROM product_placements WHERE product_id = ?");
  s.bind(1, productId);
  if (!s.step()) return std::nullopt;
  return PlacementOverride{s.f64(0), s.f64(1), s.f64(2)};
}

void ProjectStore::setPlacement(int64_t productId, const std::optional<PlacementOverride>& placement) {
  if (placement && (!std::isfinite(placement->scale) || !(placement->scale > 0) || !std::isfinite(placement->dx) ||
                    !std::isfinite(placement->dy))) {
    throw std::invalid_argument("a placement needs a scale > 0 and finite numbers");
  }
  transaction([&] {
    if (!product(productId)) throw StoreError("no product with id " + std::to_string(productId));
    if (!placement) {
      Statement s(db_, "DELETE FROM product_placements WHERE product_id = ?");
      s.bind(1, productId).run();
      return;
    }
    Statement s(db_,
                "INSERT INTO product_placements(product_id, scale, dx, dy) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(product_id) DO UPDATE SET scale = excluded.scale, dx = excluded.dx, dy = excluded.dy");
    s.bind(1, productId).bind(2, placement->scale).bind(3, placement->dx).bind(4, placement->dy).run();
  });
}

int64_t ProjectStore::addPrompt(const PromptRecord& p) {
  requireUtf8(p.text, "the prompt");
  Statement s(db_, "INSERT INTO prompts(product_id, text, source, pinned) VALUES (?, ?, ?, ?)");
  s.bind(1, p.productId).bind(2, p.text).bind(3, p.source).bind(4, p.pinned).run();
  return sqlite3_last_insert_rowid(db_);
}

void ProjectStore::setPromptPinned(int64_t id, bool pinned) {
  Statement s(db_, "UPDATE prompts SET pinned = ? WHERE id = ?");
  s.bind(1, pinned).bind(2, id).run();
}

namespace {
// The source of a prompt after the user changed its text: the user's, keeping what it was written from.
std::string editedPromptSource(const std::string& source) {
  constexpr std::string_view kUser = "user";
  if (source.empty() || source.rfind(kUser, 0) == 0) return source.empty() ? std::string(kUser) : source;
  return "user (edited from " + source + ")";
}
}  // namespace

void ProjectStore::keepPromptInVariants(int64_t promptId) {
  // SD variants carry "prompt" in their params already; built-in ones get the text they were made with.
  Statement s(db_,
              "UPDATE variants SET params_json = json_insert(params_json, '$.prompt',"
              " (SELECT text FROM prompts WHERE id = ?1))"
              " WHERE prompt_id = ?1 AND json_valid(params_json) AND json_type(params_json) = 'object'"
              " AND json_type(params_json, '$.prompt') IS NULL");
  s.bind(1, promptId).run();
}

void ProjectStore::setPromptText(int64_t id, const std::string& text) {
  constexpr const char* kSpace = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string::npos) throw std::invalid_argument("a prompt cannot be empty");
  requireUtf8(text, "the prompt");
  const std::string trimmed = text.substr(first, text.find_last_not_of(kSpace) - first + 1);
  transaction([&] {
    Statement read(db_, "SELECT text, source FROM prompts WHERE id = ?");
    read.bind(1, id);
    if (!read.step()) throw StoreError("no prompt with id " + std::to_string(id));
    if (read.text(0) == trimmed) return;  // unchanged: keeps its source
    keepPromptInVariants(id);
    Statement s(db_, "UPDATE prompts SET text = ?, source = ? WHERE id = ?");
    s.bind(1, trimmed).bind(2, editedPromptSource(read.text(1))).bind(3, id).run();
  });
}

void ProjectStore::deletePrompt(int64_t id) {
  transaction([&] {
    keepPromptInVariants(id);
    // Explicit rather than left to ON DELETE SET NULL, which needs foreign keys on.
    Statement detach(db_, "UPDATE variants SET prompt_id = NULL WHERE prompt_id = ?");
    detach.bind(1, id).run();
    Statement s(db_, "DELETE FROM prompts WHERE id = ?");
    s.bind(1, id).run();
    if (sqlite3_changes(db_) == 0) throw StoreError("no prompt with id " + std::to_string(id));
  });
}

std::vector<PromptRecord> ProjectStore::prompts(int64_t productId) const {
  Statement s(db_, "SELECT id, product_id, text, source, pinned FROM prompts WHERE product_id = ? ORDER BY id");
  s.bind(1, productId);
  std::vector<PromptRecord> out;
  while (s.step()) out.push_back({s.i64(0), s.i64(1), s.text(2), s.text(3), s.i64(4) != 0});
  return out;
}

int64_t ProjectStore::addVariant(const Variant& v) {
  Statement s(db_,
              "INSERT INTO variants(product_id, prompt_id, image_path, seed, params_json, favourite,"
              " score, rank, win_probability, ranker_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, v.productId).bind(2, v.promptId).bind(3, v.imagePath).bind(4, v.seed);
  s.bind(5, v.paramsJson).bind(6, v.favourite).bind(7, v.score).bind(8, v.rank);
  s.bind(9, v.winProbability).bind(10, v.rankerId).run();
  return sqlite3_last_insert_rowid(db_);
}

namespace {
// The uncertainty basis as text: exact doubles separated by spaces; NULL when there is none.
std::optional<std::string> encodeBasis(const std::vector<double>& basis) {
  if (basis.empty()) return std::nullopt;
  std::string out;
  char buf[32];
  for (double v : basis) {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    if (!out.empty()) out += ' ';
    out += buf;
  }
  return out;
}
// Unreadable text reads as no basis: the readout then falls back to the ranking's errors.
std::vector<double> decodeBasis(const std::string& text) {
  std::vector<double> out;
  const char* p = text.c_str();
  while (*p) {
    char* end = nullptr;
    const double v = std::strtod(p, &end);
    if (end == p || !std::isfinite(v)) return {};
    out.push_back(v);
    p = end;
    while (*p == ' ') ++p;
  }
  return out;
}
}  // namespace

void ProjectStore::setRanking(int64_t variantId, const StoredRanking& r) {
  Statement s(db_,
              "UPDATE variants SET score = ?, rank = ?, win_probability = ?, ranker_id = ?, std_error = ?,"
              " vs_original = ?, vs_original_std_error = ?, uncertainty_basis = ?, ctr_scale = ? WHERE id = ?");
  s.bind(1, r.score).bind(2, r.rank).bind(3, r.winProbability).bind(4, r.rankerId).bind(5, r.stdError);
  s.bind(6, r.vsOriginal).bind(7, r.vsOriginalStdError).bind(8, encodeBasis(r.uncertaintyBasis));
  s.bind(9, r.ctrScale).bind(10, variantId).run();
  if (sqlite3_changes(db_) == 0) throw StoreError("no variant with id " + std::to_string(variantId));
}

void ProjectStore::setFavourite(int64_t variantId, bool favourite) {
  Statement s(db_, "UPDATE variants SET favourite = ? WHERE id = ?");
  s.bind(1, favourite).bind(2, variantId).run();
}

namespace {
constexpr const char* kVariantColumns =
    "SELECT id, product_id, prompt_id, image_path, seed, params_json, favourite, score, rank, win_probability,"
    " ranker_id, std_error, vs_original, vs_original_std_error, uncertainty_basis, ctr_scale FROM variants";
Variant readVariant(const Statement& s) {
  Variant v;
  v.id = s.i64(0);
  v.productId = s.i64(1);
  v.promptId = s.optI64(2);
  v.imagePath = s.text(3);
  v.seed = s.i64(4);
  v.paramsJson = s.text(5);
  v.favourite = s.i64(6) != 0;
  v.score = s.optF64(7);
  if (auto r = s.optI64(8)) v.rank = static_cast<int>(*r);
  v.winProbability = s.optF64(9);
  v.rankerId = s.text(10);
  v.stdError = s.optF64(11);
  v.vsOriginal = s.optF64(12);
  v.vsOriginalStdError = s.optF64(13);
  v.uncertaintyBasis = decodeBasis(s.text(14));
  v.ctrScale = s.optF64(15);
  return v;
}
}  // namespace

std::vector<Variant> ProjectStore::variants(int64_t productId) const {
  Statement s(db_, (std::string(kVariantColumns) + " WHERE product_id = ? ORDER BY id").c_str());
  s.bind(1, productId);
  std::vector<Variant> out;
  while (s.step()) out.push_back(readVariant(s));
  return out;
}

std::optional<Variant> ProjectStore::variant(int64_t id) const {
  Statement s(db_, (std::string(kVariantColumns) + " WHERE id = ?").c_str());
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return readVariant(s);
}

int64_t ProjectStore::addClickRecord(const ClickRecord& c) {
  static const char* const kSql =
      "INSERT INTO click_records(creative_id, product_id, product_key, image_path, image_hash,"
      " impressions, clicks, click_product_id, import_id, alpha_path, source_file)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  Statement s(db_, cachedStatement(kSql));
  s.bind(1, c.creativeId).bind(2, c.productId).bind(3, c.productKey).bind(4, c.imagePath);
  s.bind(5, c.imageHash).bind(6, c.impressions).bind(7, c.clicks).bind(8, c.clickProductId);
  s.bind(9, c.importId).bind(10, c.alphaPath).bind(11, c.sourceFile).run();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<ClickRecord> ProjectStore::clickRecords() const {
  Statement s(db_,
              "SELECT id, creative_id, product_id, product_key, image_path, image_hash, impressions,"
              " clicks, click_product_id, import_id, alpha_path, source_file FROM click_records ORDER BY id");
  std::vector<ClickRecord> out;
  while (s.step()) {
    out.push_back({s.i64(0), s.text(1), s.optI64(2), s.text(3), s.text(4), s.text(5), s.i64(6), s.i64(7),
                   s.optI64(8), s.optI64(9), s.text(10), s.text(11)});
  }
  return out;
}

int64_t ProjectStore::clickRecordCount() const { return queryInt(db_, "SELECT count(*) FROM click_records"); }

bool ProjectStore::hasClickRecord(const std::string& creativeId) const {
  static const char* const kSql = "SELECT 1 FROM click_records WHERE creative_id = ?";
  Statement s(db_, cachedStatement(kSql));
  s.bind(1, creativeId);
  return s.step();
}

int64_t ProjectStore::upsertClickProduct(const ClickProduct& p) {
  static const char* const kUpsert =
      "INSERT INTO click_products(product_key, title, category, product_id) VALUES (?, ?, ?, ?)"
      " ON CONFLICT(product_key) DO UPDATE SET"
      " title = CASE WHEN title = '' THEN excluded.title ELSE title END,"
      " category = CASE WHEN category = '' THEN excluded.category ELSE category END,"
      " product_id = coalesce(product_id, excluded.product_id)";
  static const char* const kId = "SELECT id FROM click_products WHERE product_key = ?";
  Statement s(db_, cachedStatement(kUpsert));
  s.bind(1, p.key).bind(2, p.title).bind(3, p.category).bind(4, p.productId).run();
  Statement id(db_, cachedStatement(kId));
  id.bind(1, p.key);
  return id.step() ? id.i64(0) : 0;
}

std::vector<ClickProduct> ProjectStore::clickProducts() const {
  Statement s(db_, "SELECT id, product_key, title, category, product_id FROM click_products ORDER BY id");
  std::vector<ClickProduct> out;
  while (s.step()) out.push_back({s.i64(0), s.text(1), s.text(2), s.text(3), s.optI64(4)});
  return out;
}

int64_t ProjectStore::addClickImport(const ClickImport& c) {
  Statement s(db_,
              "INSERT INTO click_imports(source_file, file_hash, format, rows_read, rows_imported, rows_rejected)"
              " VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, c.sourceFile).bind(2, c.fileHash).bind(3, c.format).bind(4, c.rowsRead).bind(5, c.rowsImported);
  s.bind(6, c.rowsRejected).run();
  return sqlite3_last_insert_rowid(db_);
}

namespace {
constexpr const char* kImportColumns =
    "SELECT id, source_file, file_hash, format, rows_read, rows_imported, rows_rejected, imported_at FROM click_imports";
ClickImport readImport(const Statement& s) {
  return {s.i64(0), s.text(1), s.text(2), s.text(3), s.i64(4), s.i64(5), s.i64(6), s.text(7)};
}
}  // namespace

std::optional<ClickImport> ProjectStore::clickImportByHash(const std::string& fileHash) const {
  Statement s(db_, (std::string(kImportColumns) + " WHERE file_hash = ?").c_str());
  s.bind(1, fileHash);
  if (!s.step()) return std::nullopt;
  return readImport(s);
}

std::vector<ClickImport> ProjectStore::clickImports() const {
  Statement s(db_, (std::string(kImportColumns) + " ORDER BY id").c_str());
  std::vector<ClickImport> out;
  while (s.step()) out.push_back(readImport(s));
  return out;
}

int64_t ProjectStore::registerModel(const ModelEntry& m) {
  Statement s(db_,
              "INSERT INTO models(kind, name, path, precision) VALUES (?, ?, ?, ?)"
              " ON CONFLICT(path) DO UPDATE SET kind = excluded.kind, name = excluded.name,"
              " precision = excluded.precision");
  s.bind(1, m.kind).bind(2, m.name).bind(3, m.path).bind(4, m.precision).run();
  Statement id(db_, "SELECT id FROM models WHERE path = ?");
  id.bind(1, m.path);
  return id.step() ? id.i64(0) : 0;
}

std::vector<ModelEntry> ProjectStore::models() const {
  Statement s(db_, "SELECT id, kind, name, path, precision FROM models ORDER BY kind, name");
  std::vector<ModelEntry> out;
  while (s.step()) out.push_back({s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4)});
  return out;
}

int64_t ProjectStore::startTrainingRun(const TrainingRun& r) {
  Statement s(db_, "INSERT INTO training_runs(kind, config_json, status) VALUES (?, ?, 'running')");
  s.bind(1, r.kind).bind(2, r.configJson).run();
  return sqlite3_last_insert_rowid(db_);
}

void ProjectStore::finishTrainingRun(int64_t id, const std::string& status, const std::string& metricsJson) {
  Statement s(db_,
              "UPDATE training_runs SET status = ?, metrics_json = ?,"
              " finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?");
  s.bind(1, status).bind(2, metricsJson).bind(3, id).run();
  if (sqlite3_changes(db_) == 0) throw StoreError("no training run with id " + std::to_string(id));
}

std::vector<TrainingRun> ProjectStore::trainingRuns() const {
  Statement s(db_,
              "SELECT id, kind, config_json, status, metrics_json, started_at, finished_at"
              " FROM training_runs ORDER BY id");
  std::vector<TrainingRun> out;
  while (s.step()) {
    out.push_back({s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5), s.text(6)});
  }
  return out;
}

void ProjectStore::setSetting(const std::string& key, const std::string& value) {
  Statement s(db_, "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  s.bind(1, key).bind(2, value).run();
}

std::optional<std::string> ProjectStore::setting(const std::string& key) const {
  Statement s(db_, "SELECT value FROM settings WHERE key = ?");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

}  // namespace caig
