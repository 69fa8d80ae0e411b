#pragma once
// Installing models from the Hugging Face Hub (or a mirror), the only network code of the studio:
// it runs only when the user asks for an install. The protocol is huggingface_hub's:
//   GET  <endpoint>/api/models/<repo>/revision/<rev>?blobs=true   -> the commit and its files
//   HEAD <endpoint>/<repo>/resolve/<commit>/<file>                -> X-Repo-Commit, ETag /
//        X-Linked-Etag (the sha256 of an LFS file), X-Linked-Size, Location (the CDN redirect)
//   GET  the Location (Range: bytes=N- to resume), the token dropped for another host
// and the files land in the Hugging Face cache (hf_cache.h), so diffusers finds them too. A file
// is downloaded into blobs/<etag>.incomplete, checked (size, then sha256 for LFS files or the git
// blob id for the others) and only then renamed into place and linked from the snapshot: a
// killed, cancelled or failed download never leaves a file that looks complete, and the next
// install resumes it. Only safetensors weights are fetched: pickle formats (.bin, .ckpt, .pt,
// .pth, .pkl) are never downloaded, and a repository that has weights in no other form is refused.
// Uses libcurl; this header is free of it.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/model_files/hf_cache.h"  // freeBytes, formatBytes

namespace caig::hf {

struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::string token;                                // sent as "Authorization: Bearer <token>"
  std::filesystem::path cacheDir;
  long connectTimeoutSeconds = 15;
  long stallTimeoutSeconds = 60;  // a transfer below 1 byte/s for this long fails (and is retried)
  int retries = 5;                // resumed attempts after a dropped connection, per file

  // HF_ENDPOINT, HF_TOKEN (or HF_HOME/token), the HF_HUB_CACHE rules.
  static HubSettings fromEnvironment();
};

class HubError : public std::runtime_error {
 public:
  enum class Kind {
    NoNetwork,   // the endpoint cannot be reached (DNS, refused, TLS, timeout)
    NotFound,    // repository, revision or file
    NeedsToken,  // private or gated and no token, or a token without access
    Refused,     // nothing this studio may fetch (pickle-only weights, no file matched)
    Corrupt,     // size or checksum differs from what the Hub announced
    Cancelled,
    DiskFull,
    FileSystem,  // other write errors in the cache
    Server       // any other HTTP status or protocol surprise
  };
  HubError(Kind kind, const std::string& message, long httpStatus = 0)
      : std::runtime_error(message), kind_(kind), httpStatus_(httpStatus) {}
  Kind kind() const { return kind_; }
  long httpStatus() const { return httpStatus_; }

 private:
  Kind kind_;
  long httpStatus_;
};

struct HubFile {
  std::string path;    // "unet/diffusion_pytorch_model.safetensors"
  uint64_t size = 0;   // 0 when the Hub did not say
  std::string sha256;  // LFS files: the content's sha256 (also their ETag)
  std::string blobId;  // the git blob id (the ETag of files not in LFS)
};

struct HubRepoInfo {
  std::string repoId;
  std::string commit;
  bool gated = false;
  std::vector<HubFile> files;
};

// Python fnmatch semantics, as huggingface_hub's allow_patterns: '*' also matches '/', '?' one
// character, [abc] / [!abc] a set.
bool globMatch(const std::string& pattern, const std::string& path);
// Pickle-format weights (never fetched, never loaded).
bool isPickleWeights(const std::string& path);

// The files an install fetches: those matching `include` (all when empty) and no `exclude`
// pattern, pickle weights and other frameworks' weights (.msgpack, .h5, .onnx, .gguf) left out.
// Throws HubError(Refused) when the repository has weights and none of them is safetensors, or
// when nothing matched.
std::vector<HubFile> selectFiles(const HubRepoInfo& info, const std::vector<std::string>& include,
                                 const std::vector<std::string>& exclude = {});

struct InstallProgress {
  uint64_t doneBytes = 0;  // over the whole install (files already cached count as done)
  uint64_t totalBytes = 0;
  std::string file;      // the file being fetched
  size_t fileIndex = 0;  // 1-based
  size_t fileCount = 0;
  double bytesPerSecond = 0;  // over the last seconds of this install's own transfers
  double secondsLeft = -1;    // -1 while unknown
};
// Return false to cancel (the partial file stays for the next install to resume).
using InstallProgressFn = std::function<bool(const InstallProgress&)>;

struct InstallRequest {
  std::string repoId;
  std::string revision = "main";
  std::vector<std::string> include;  // fnmatch patterns; empty = every fetchable file
  std::vector<std::string> exclude;
};

struct InstallResult {
  std::string repoId;
  std::string commit;
  std::filesystem::path snapshot;  // <cache>/models--org--name/snapshots/<commit>
  std::vector<std::string> files;  // what the snapshot now links, in fetch order
  uint64_t downloadedBytes = 0;    // transferred by this install
  uint64_t cachedBytes = 0;        // already in the cache (complete blobs)
};

class HubClient {
 public:
  explicit HubClient(HubSettings settings = HubSettings::fromEnvironment());
  const HubSettings& settings() const { return settings_; }

  // The revision's commit and files (GET .../revision/<rev>?blobs=true).
  HubRepoInfo repoInfo(const std::string& repoId, const std::string& revision = "main") const;
  // Bytes an install of these files still has to fetch (complete blobs in the cache excluded).
  uint64_t bytesToFetch(const HubRepoInfo& info, const std::vector<HubFile>& files) const;
  // Resolves, checks the free space, fetches what the cache lacks, links the snapshot and writes
  // refs/<revision>. Throws HubError; what was complete before stays complete.
  InstallResult install(const InstallRequest& request, const InstallProgressFn& progress = {}) const;

 private:
  HubSettings settings_;
};

}  // namespace caig::hf
