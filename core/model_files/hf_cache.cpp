#include "core/model_files/hf_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace fs = std::filesystem;

namespace caig::hf {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::string();
}

fs::path expandHome(const std::string& p) {
  if (p.size() >= 1 && p[0] == '~' && (p.size() == 1 || p[1] == '/')) {
    const std::string home = env("HOME");
    return fs::path(home.empty() ? "." : home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return p;
}

std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

bool validPart(const std::string& s) {
  if (s.empty() || s.size() > 96 || s == "." || s == ".." || s.find("..") != std::string::npos) return false;
  if (s.front() == '-' || s.front() == '.' || s.back() == '-' || s.back() == '.') return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::string readFirstLine(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

void makeDirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw io::FileError("cannot create " + quoted(dir) + ": " + ec.message());
}

}  // namespace

fs::path homeDir() {
  if (const std::string h = env("HF_HOME"); !h.empty()) return expandHome(h);
  if (const std::string x = env("XDG_CACHE_HOME"); !x.empty()) return fs::path(x) / "huggingface";
  return expandHome("~/.cache/huggingface");
}

fs::path defaultCacheDir() {
  if (const std::string c = env("HF_HUB_CACHE"); !c.empty()) return expandHome(c);
  if (const std::string c = env("HUGGINGFACE_HUB_CACHE"); !c.empty()) return expandHome(c);
  return homeDir() / "hub";
}

std::string defaultToken() {
  if (std::string t = env("HF_TOKEN"); !t.empty()) return t;
  std::error_code ec;
  const fs::path file = homeDir() / "token";
  return fs::is_regular_file(file, ec) ? readFirstLine(file) : std::string();
}

bool validRepoId(const std::string& repoId) {
  const auto slash = repoId.find('/');
  if (slash == std::string::npos || repoId.find('/', slash + 1) != std::string::npos) return false;
  return validPart(repoId.substr(0, slash)) && validPart(repoId.substr(slash + 1));
}

std::string repoFolderName(const std::string& repoId) {
  if (!validRepoId(repoId)) throw std::invalid_argument("'" + repoId + "' is not a repository id (org/name)");
  const auto slash = repoId.find('/');
  return "models--" + repoId.substr(0, slash) + "--" + repoId.substr(slash + 1);
}

std::optional<std::string> repoIdFromFolder(const std::string& folderName) {
  const std::string prefix = "models--";
  if (folderName.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string rest = folderName.substr(prefix.size());
  const auto sep = rest.find("--");
  if (sep == std::string::npos) return std::nullopt;
  const std::string id = rest.substr(0, sep) + "/" + rest.substr(sep + 2);
  return validRepoId(id) ? std::optional<std::string>(id) : std::nullopt;
}

bool isCommitHash(const std::string& revision) {
  return revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

std::optional<fs::path> cachedSnapshot(const fs::path& cacheDir, const std::string& repoId,
                                       const std::string& revision) {
  if (!validRepoId(repoId)) return std::nullopt;
  const fs::path folder = cacheDir / repoFolderName(repoId);
  std::error_code ec;
  std::string commit = revision;
  if (!isCommitHash(revision)) {
    const fs::path ref = folder / "refs" / revision;
    if (!fs::is_regular_file(ref, ec)) return std::nullopt;
    commit = readFirstLine(ref);
    if (!isCommitHash(commit)) return std::nullopt;
  }
  const fs::path snapshot = folder / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec)) return std::nullopt;
  return snapshot;
}

std::vector<CachedRepo> listCachedModels(const fs::path& cacheDir) {
  std::vector<CachedRepo> out;
  std::error_code ec;
  if (!fs::is_directory(cacheDir, ec)) return out;
  for (fs::directory_iterator it(cacheDir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dirEc;
    if (!it->is_directory(dirEc)) continue;
    const auto id = repoIdFromFolder(it->path().filename().string());
    if (!id) continue;  // datasets--, spaces--, .locks
    CachedRepo repo;
    repo.repoId = *id;
    repo.folder = it->path();
    if (const auto snap = cachedSnapshot(cacheDir, *id, "main")) {
      repo.snapshot = *snap;
    } else {  // no refs/main (downloaded by commit): the most recently written snapshot
      fs::file_time_type newest{};
      for (fs::directory_iterator s(it->path() / "snapshots", dirEc), send; !dirEc && s != send; s.increment(dirEc)) {
        std::error_code e;
        if (!s->is_directory(e) || !isCommitHash(s->path().filename().string())) continue;
        const auto t = fs::last_write_time(s->path(), e);
        if (repo.snapshot.empty() || t > newest) {
          repo.snapshot = s->path();
          newest = t;
        }
      }
    }
    if (repo.snapshot.empty()) continue;
    repo.commit = repo.snapshot.filename().string();
    out.push_back(std::move(repo));
  }
  std::sort(out.begin(), out.end(), [](const CachedRepo& a, const CachedRepo& b) { return a.repoId < b.repoId; });
  return out;
}

fs::path blobPath(const fs::path& repoFolder, const std::string& etag) {
  return repoFolder / "blobs" / etag;
}

fs::path linkSnapshotFile(const fs::path& repoFolder, const std::string& commit, const std::string& file,
                          const std::string& etag) {
  const fs::path relFile = fs::path(file).lexically_normal();
  if (relFile.empty() || relFile.is_absolute() || *relFile.begin() == "..") {
    throw io::FileError("refusing the file name '" + file + "': it leaves the snapshot folder");
  }
  const fs::path link = repoFolder / "snapshots" / commit / relFile;
  makeDirs(link.parent_path());
  // As huggingface_hub: relative to the link's folder, so a moved cache stays valid.
  const fs::path target = blobPath(repoFolder, etag).lexically_relative(link.parent_path());
  const fs::path tmp = link.parent_path() / ("." + link.filename().string() + ".link-partial");
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec) throw io::FileError("cannot create the link " + quoted(link) + ": " + ec.message());
  fs::rename(tmp, link, ec);  // atomic replacement of an older link
  if (ec) {
    fs::remove(tmp);
    throw io::FileError("cannot create the link " + quoted(link) + ": " + ec.message());
  }
  return link;
}

void writeRef(const fs::path& repoFolder, const std::string& revision, const std::string& commit) {
  if (revision == commit || isCommitHash(revision)) return;
  const fs::path ref = (repoFolder / "refs" / revision).lexically_normal();
  if (ref.string().rfind((repoFolder / "refs").lexically_normal().string(), 0) != 0) {
    throw io::FileError("refusing the revision name '" + revision + "'");
  }
  makeDirs(ref.parent_path());
  io::AtomicFile out(ref);
  out.write(commit.data(), commit.size());  // no newline, as huggingface_hub writes it
  out.commit();
}

uint64_t freeBytes(std::filesystem::path dir) {
  std::error_code ec;
  while (!dir.empty() && !fs::exists(dir, ec)) dir = dir.parent_path();
  const auto info = fs::space(dir.empty() ? fs::path("/") : dir, ec);
  return ec ? UINT64_MAX : info.available;
}

std::string formatBytes(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

}  // namespace caig::hf
