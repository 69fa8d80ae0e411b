#pragma once
// A fake Hugging Face Hub on 127.0.0.1 for the installer tests: the revision API, resolve/ with
// X-Repo-Commit / ETag / X-Linked-Etag / X-Linked-Size, LFS files redirected to a second server
// (another host:port, as the Hub's CDN is), Range requests, gated repositories, and faults on
// demand (a connection dropped half way, corrupt bytes, a slow transfer). Built on cpp-httplib;
// nothing leaves the loopback interface.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace caig::test {

struct FakeRepo {
  std::string id;                            // "org/name"
  std::map<std::string, std::string> files;  // path -> bytes
  bool gated = false;                        // needs the hub's token
  std::string commit;                        // filled by addRepo when empty (sha1 of the content)
};

struct FakeHubFaults {
  std::map<std::string, uint64_t> dropAfterBytes;  // file path -> close the connection after this many bytes
  int dropTimes = 1;                               // ... for this many requests of that file
  std::vector<std::string> corrupt;                // files served with one byte changed
  int slowChunkMilliseconds = 0;                   // a pause after every 4 KiB of an LFS file
};

// Whether a file is stored in LFS (served from the CDN, ETag = sha256): weights, as on the Hub.
bool fakeHubIsLfs(const std::string& path);
std::string sha256Hex(const std::string& bytes);
std::string gitBlobId(const std::string& bytes);

class FakeHub {
 public:
  FakeHub();  // both servers listening on ephemeral ports
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  std::string endpoint() const;  // "http://127.0.0.1:<port>"
  std::string cdnHost() const;   // "127.0.0.1:<port>"
  const FakeRepo& addRepo(FakeRepo repo);
  // Every regular file under `dir` (relative paths), symlinks followed.
  static FakeRepo repoFromFolder(const std::string& id, const std::filesystem::path& dir);
  void setToken(const std::string& token);  // what gated repositories accept
  void setFaults(const FakeHubFaults& faults);

  // What the servers saw.
  int requests(const std::string& pathPrefix) const;  // hub and CDN request paths starting with it
  std::vector<std::string> rangesSeen() const;        // Range headers the CDN got
  bool cdnSawAuthorization() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig::test
