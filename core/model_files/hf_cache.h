#pragma once
// The Hugging Face cache, laid out as huggingface_hub lays it out so diffusers, transformers and
// the studio share one copy of every file:
//   <cache>/models--<org>--<name>/blobs/<etag>              the bytes (etag: sha256 for LFS files,
//                                                            the git blob id for the others)
//   <cache>/models--<org>--<name>/snapshots/<commit>/<path>  relative symlinks to ../../blobs/<etag>
//   <cache>/models--<org>--<name>/refs/<revision>            the commit a branch or tag pointed at
// Torch-free and network-free: reading it is model discovery, writing it is the installer's
// last step (core/model_files/hf_hub.h).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace caig::hf {

// $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
std::filesystem::path homeDir();
// $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else homeDir()/hub.
std::filesystem::path defaultCacheDir();
// $HF_TOKEN, else the first line of homeDir()/token; empty when neither is there.
std::string defaultToken();

// "org/name" with the characters the Hub allows (letters, digits, '-', '_', '.'; no "..").
bool validRepoId(const std::string& repoId);
// "models--org--name". Throws std::invalid_argument for an invalid id.
std::string repoFolderName(const std::string& repoId);
// The inverse for a folder name of the cache ("models--org--name" -> "org/name"); nullopt otherwise.
std::optional<std::string> repoIdFromFolder(const std::string& folderName);
// A 40-hex-digit commit id (what refs/ files hold and snapshots/ are named by).
bool isCommitHash(const std::string& revision);

struct CachedRepo {
  std::string repoId;              // "org/name"
  std::filesystem::path folder;    // <cache>/models--org--name
  std::string commit;              // the snapshot used: refs/main's, else the newest snapshot's
  std::filesystem::path snapshot;  // <folder>/snapshots/<commit>
};

// The model repositories in the cache that have a snapshot, sorted by id. Never throws.
std::vector<CachedRepo> listCachedModels(const std::filesystem::path& cacheDir);
// The snapshot a revision names: a commit id directly, a branch or tag through refs/. nullopt when
// the cache does not hold it.
std::optional<std::filesystem::path> cachedSnapshot(const std::filesystem::path& cacheDir, const std::string& repoId,
                                                    const std::string& revision = "main");

// Writing, for the installer. All throw io::FileError naming the path on failure.
std::filesystem::path blobPath(const std::filesystem::path& repoFolder, const std::string& etag);
// Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (replacing an older link).
std::filesystem::path linkSnapshotFile(const std::filesystem::path& repoFolder, const std::string& commit,
                                       const std::string& file, const std::string& etag);
// refs/<revision> := commit (atomically); nothing for a revision that is itself a commit id.
void writeRef(const std::filesystem::path& repoFolder, const std::string& revision, const std::string& commit);

// Sizes, for the installer, the dialogs and the training bundles (no network: here rather than in
// hf_hub.h, so torch-free, curl-free code can use them).
// Free bytes on the disk that holds `dir` (or would: its nearest existing parent); UINT64_MAX
// when unknown.
uint64_t freeBytes(std::filesystem::path dir);
// "1.7 GB", "512 MB", "4.9 kB" (decimal, as the Hub shows sizes).
std::string formatBytes(uint64_t bytes);

}  // namespace caig::hf
