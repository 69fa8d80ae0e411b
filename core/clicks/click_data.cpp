// Importing click files into a project (core/clicks/click_data.h); the parsers are in click_files.cpp.
#include "core/clicks/click_data.h"
#include "core/clicks/click_file_util.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/image/image_io.h"
#include "core/project/project.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace fs = std::filesystem;

namespace caig {

using clicks_detail::isImageFile;
using clicks_detail::looksLikeHash;
using clicks_detail::lower;
using clicks_detail::readBytes;

// ---- Import ---------------------------------------------------------------------------------

namespace {

// Where a row's image comes from.
struct ImageSource {
  fs::path external;         // a file outside the project to copy in (empty = already inside)
  std::string projectPath;   // relative path inside the project when already there
  std::string alphaProjectPath;
  fs::path alphaExternal;
  std::string hash;          // pixelHash
};

// Images findable by hash: the project's (products, variants, earlier click imports) and the
// files in the click file's folder and its images/ subfolder. Built on first use.
class ImageIndex {
 public:
  ImageIndex(Project& project, fs::path clickDir) : project_(project), clickDir_(std::move(clickDir)) {}

  std::optional<ImageSource> find(const std::string& rawHash) {
    const std::string hash = lower(rawHash);
    buildProject();
    if (const auto it = project_idx_.find(hash); it != project_idx_.end()) return it->second;
    buildFolder();
    if (const auto it = stems_.find(hash); it != stems_.end()) return external(it->second);
    if (!folderHashed_) {
      folderHashed_ = true;
      for (const auto& [stem, path] : stems_) {
        try {
          folderHashes_[pixelHash(loadImage(path))] = path;
        } catch (const std::exception&) {
          // an unreadable file beside the click file is no reason to fail the import
        }
      }
    }
    if (const auto it = folderHashes_.find(hash); it != folderHashes_.end()) return external(it->second);
    return std::nullopt;
  }

 private:
  ImageSource external(const fs::path& p) {
    ImageSource s;
    s.external = p;
    return s;  // hash is computed when the file is read
  }
  void addProjectImage(const std::string& relative, const std::string& alpha) {
    try {
      ImageSource s;
      s.projectPath = relative;
      s.alphaProjectPath = alpha;
      s.hash = pixelHash(loadImage(project_.absolute(relative)));
      project_idx_.emplace(s.hash, s);
    } catch (const std::exception&) {
      // a missing file in the project is reported elsewhere; it just cannot match
    }
  }
  void buildProject() {
    if (projectBuilt_) return;
    projectBuilt_ = true;
    for (const auto& r : project_.store().clickRecords()) {
      if (!r.imageHash.empty() && !r.imagePath.empty()) {
        project_idx_.emplace(lower(r.imageHash), ImageSource{{}, r.imagePath, r.alphaPath, {}, lower(r.imageHash)});
      }
    }
    for (const auto& p : project_.store().products()) {
      addProjectImage(p.imagePath, p.cutoutPath);
      for (const auto& v : project_.store().variants(p.id)) addProjectImage(v.imagePath, "");
    }
  }
  void buildFolder() {
    if (folderBuilt_) return;
    folderBuilt_ = true;
    for (const fs::path& dir : {clickDir_, clickDir_ / "images"}) {
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) continue;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const fs::path& p = e.path();
        if (!e.is_regular_file() || !isImageFile(p)) continue;
        const std::string stem = p.stem().string();
        if (stem.size() > 6 && stem.compare(stem.size() - 6, 6, ".alpha") == 0) continue;
        stems_.emplace(lower(stem), p);
      }
    }
  }

  Project& project_;
  fs::path clickDir_;
  bool projectBuilt_ = false, folderBuilt_ = false, folderHashed_ = false;
  std::unordered_map<std::string, ImageSource> project_idx_;
  std::map<std::string, fs::path> stems_;
  std::unordered_map<std::string, fs::path> folderHashes_;
};

// Copies an image into the project unless it is there; `created` collects what was written so a
// failed import (a full disk, a cancelled transaction) can take it back.
void copyInto(Project& project, const fs::path& from, const std::string& relative, std::vector<fs::path>& created) {
  const fs::path target = project.absolute(relative);
  if (fs::exists(target)) return;
  const std::string bytes = readBytes(from);
  try {
    io::AtomicFile out(target);
    out.write(bytes.data(), bytes.size());
    out.commit();
  } catch (const io::FileError& e) {
    throw StoreError(std::string("cannot copy an image into the project: ") + e.what());
  }
  created.push_back(target);
}

std::string quoteJsonless(const std::string& s) { return "'" + s + "'"; }

}  // namespace

std::string ImportReport::summary() const {
  std::ostringstream s;
  s << (dryRun ? "dry run: " : "") << file.string() << " (" << format << "): " << rowsRead << " rows read, "
    << rowsImported << (dryRun ? " would be imported" : " imported") << ", " << rejected.size() << " rejected; "
    << productsSeen << " products; images matched by path " << imagesMatchedByPath << ", by hash "
    << imagesMatchedByHash;
  if (!dryRun && importId) s << "; import #" << importId;
  s << "\n";
  for (const auto& r : rejected) s << "  rejected " << (r.creativeId.empty() ? "" : quoteJsonless(r.creativeId) + " ") << r.reason << "\n";
  return s.str();
}

std::string ImportReport::toJson() const {
  nlohmann::json j{{"file", file.string()},
                   {"format", format},
                   {"dryRun", dryRun},
                   {"rowsRead", rowsRead},
                   {"rowsImported", rowsImported},
                   {"rowsRejected", rejected.size()},
                   {"products", productsSeen},
                   {"imagesMatchedByPath", imagesMatchedByPath},
                   {"imagesMatchedByHash", imagesMatchedByHash},
                   {"importId", importId}};
  j["rejected"] = nlohmann::json::array();
  for (const auto& r : rejected) j["rejected"].push_back({{"line", r.line}, {"creativeId", r.creativeId}, {"reason", r.reason}});
  return j.dump(2);
}

ImportReport importClicks(Project& project, const fs::path& file, const ImportOptions& options) {
  const std::string bytes = readBytes(file);
  const std::string fileHash = contentHash(bytes.data(), bytes.size());
  if (const auto earlier = project.store().clickImportByHash(fileHash)) {
    throw ClickImportError("'" + file.string() + "' was already imported (import #" + std::to_string(earlier->id) +
                           " of '" + earlier->sourceFile + "' on " + earlier->importedAt +
                           "); nothing changed. Import a new export instead.");
  }
  const ClickFile parsed = readClickFile(file);
  ImportReport report;
  report.file = file;
  report.format = parsed.format;
  report.rowsRead = parsed.rowsRead;
  report.rejected = parsed.rejected;
  report.dryRun = options.dryRun;

  const fs::path clickDir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  ImageIndex index(project, clickDir);
  struct Pending {
    const ClickRow* row;
    ImageSource image;
    std::string ext;
  };
  std::vector<Pending> pending;
  struct Decoded {
    std::string hash, error;
    fs::path alpha;
  };
  std::unordered_map<std::string, Decoded> decoded;
  std::set<std::string> products;
  const int progressTotal = static_cast<int>(parsed.rows.size()) * (options.dryRun ? 1 : 2);
  int progressDone = 0;
  for (const auto& row : parsed.rows) {
    if (options.progress) options.progress(progressDone++, progressTotal);
    auto reject = [&](const std::string& why) {
      const std::string where = parsed.format == "csv" ? "line " : "creative ";
      report.rejected.push_back({row.line, row.creativeId, where + std::to_string(row.line) + ": " + why});
    };
    if (project.store().hasClickRecord(row.creativeId)) {
      reject("duplicate creative id: already in the project");
      continue;
    }
    std::optional<ImageSource> src;
    bool byPath = false;
    std::string hashToFind = row.imageHash;
    if (!row.image.empty()) {
      const fs::path p = fs::path(row.image).is_absolute() ? fs::path(row.image) : clickDir / row.image;
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) {
        src = ImageSource{};
        src->external = p;
        byPath = true;
      } else if (hashToFind.empty() && looksLikeHash(row.image)) {
        hashToFind = row.image;
      } else if (hashToFind.empty()) {
        reject("missing image: '" + row.image + "' not found (paths are relative to the click file)");
        continue;
      }
    }
    if (!src) {
      src = index.find(hashToFind);
      if (!src) {
        reject("missing image: no image with hash " + hashToFind + " in the project or beside the click file");
        continue;
      }
    }
    if (!src->external.empty()) {
      // Exports reuse a few images across many rows: decode and hash each file once.
      auto cached = decoded.find(src->external.string());
      if (cached == decoded.end()) {
        Decoded d;
        try {
          d.hash = pixelHash(loadImage(src->external));
        } catch (const std::exception& e) {
          d.error = std::string("image does not decode: ") + e.what();
        }
        const fs::path alpha = src->external.parent_path() / (src->external.stem().string() + ".alpha.png");
        if (d.error.empty() && fs::is_regular_file(alpha)) d.alpha = alpha;
        cached = decoded.emplace(src->external.string(), std::move(d)).first;
      }
      if (!cached->second.error.empty()) {
        reject(cached->second.error);
        continue;
      }
      src->hash = cached->second.hash;
      src->alphaExternal = cached->second.alpha;
    }
    (byPath ? report.imagesMatchedByPath : report.imagesMatchedByHash)++;
    products.insert(row.productKey);
    pending.push_back({&row, *src, lower(src->external.extension().string())});
  }
  std::sort(report.rejected.begin(), report.rejected.end(),
            [](const RejectedRow& a, const RejectedRow& b) { return a.line < b.line; });
  report.rowsImported = static_cast<int>(pending.size());
  report.productsSeen = static_cast<int>(products.size());
  if (options.dryRun) {
    if (options.progress) options.progress(progressTotal, progressTotal);
    return report;
  }

  // Studio products a click product may name: by id or by title.
  std::map<std::string, int64_t> studioProducts;
  for (const auto& p : project.store().products()) {
    studioProducts.emplace(std::to_string(p.id), p.id);
    studioProducts.emplace(p.title, p.id);
  }
  std::error_code ec;
  fs::create_directories(project.absolute("clicks"), ec);
  if (ec) throw StoreError("cannot create '" + project.absolute("clicks").string() + "': " + ec.message());

  // Images are copied (content-addressed, so a re-import shares them) while the rows go into one
  // transaction; when it fails, the images it copied are removed again: nothing is left behind.
  std::vector<fs::path> created;
  try {
    project.store().transaction([&] {
      ClickImport imp;
      imp.sourceFile = fs::absolute(file).lexically_normal().string();
      imp.fileHash = fileHash;
      imp.format = parsed.format;
      imp.rowsRead = report.rowsRead;
      imp.rowsImported = report.rowsImported;
      imp.rowsRejected = static_cast<int64_t>(report.rejected.size());
      report.importId = project.store().addClickImport(imp);
      progressDone = static_cast<int>(parsed.rows.size());
      for (std::size_t i = 0; i < pending.size(); ++i) {
        if (options.progress) options.progress(progressDone++, progressTotal);
        if (options.beforeRecord) options.beforeRecord(static_cast<int>(i));
        const Pending& p = pending[i];
        const ClickRow& row = *p.row;
        ClickRecord rec;
        rec.creativeId = row.creativeId;
        rec.productKey = row.productKey;
        rec.impressions = row.impressions;
        rec.clicks = row.clicks;
        rec.imageHash = p.image.hash;
        rec.importId = report.importId;
        rec.sourceFile = imp.sourceFile;
        if (!p.image.external.empty()) {
          rec.imagePath = "clicks/" + p.image.hash + (p.ext.empty() ? ".png" : p.ext);
          copyInto(project, p.image.external, rec.imagePath, created);
          if (!p.image.alphaExternal.empty()) {
            rec.alphaPath = "clicks/" + p.image.hash + ".alpha.png";
            copyInto(project, p.image.alphaExternal, rec.alphaPath, created);
          }
        } else {
          rec.imagePath = p.image.projectPath;
          rec.alphaPath = p.image.alphaProjectPath;
        }
        ClickProduct cp;
        cp.key = row.productKey;
        cp.title = row.productTitle;
        cp.category = row.category;
        if (const auto it = studioProducts.find(row.productKey); it != studioProducts.end()) cp.productId = it->second;
        rec.productId = cp.productId;
        rec.clickProductId = project.store().upsertClickProduct(cp);
        project.store().addClickRecord(rec);
      }
    });
  } catch (...) {
    for (const auto& f : created) {
      std::error_code ignored;
      fs::remove(f, ignored);
    }
    throw;
  }
  if (options.progress) options.progress(progressTotal, progressTotal);
  return report;
}

}  // namespace caig
