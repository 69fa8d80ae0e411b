#include "tests/support/fake_hub.h"

#include <httplib.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace caig::test {
namespace {

std::string digestHex(const EVP_MD* md, const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out, &len, md, nullptr);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

}  // namespace

bool fakeHubIsLfs(const std::string& path) {
  const auto ends = [&](const char* e) {
    const std::string s(e);
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  return ends(".safetensors") || ends(".bin") || ends(".ckpt") || ends(".pt");
}

std::string sha256Hex(const std::string& bytes) {
  return digestHex(EVP_sha256(), bytes);
}

std::string gitBlobId(const std::string& bytes) {
  std::string blob = "blob " + std::to_string(bytes.size());
  blob.push_back('\0');
  return digestHex(EVP_sha1(), blob + bytes);
}

struct FakeHub::Impl {
  httplib::Server hub, cdn;
  int hubPort = 0, cdnPort = 0;
  std::thread hubThread, cdnThread;
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;
  std::map<std::string, FakeRepo> repos;
  std::map<std::string, std::string> blobs;     // sha256 -> bytes
  std::map<std::string, std::string> blobPath;  // sha256 -> file path (for the faults)
  std::string token;
  FakeHubFaults faults;
  std::map<std::string, int> dropsDone;
  std::vector<std::string> paths, ranges;
  bool cdnAuth = false;

  // 401/403 as the Hub answers a gated repository without (the right) token; empty when allowed.
  bool refuse(const FakeRepo& repo, const httplib::Request& req, httplib::Response& res) const {
    if (!repo.gated) return false;
    const std::string auth = req.get_header_value("Authorization");
    if (!token.empty() && auth == "Bearer " + token) return false;
    res.status = auth.empty() ? 401 : 403;
    res.set_header("X-Error-Code", "GatedRepo");
    res.set_header("X-Error-Message", "Access to model " + repo.id + " is restricted.");
    return true;
  }

  // The repository and revision of /api/models/<org>/<name>/revision/<rev> and
  // /<org>/<name>/resolve/<rev>/...: nullptr, with the Hub's error answer set, when missing, gated
  // or an unknown revision. Called with `mu` held; records the request.
  const FakeRepo* answerableRepo(const httplib::Request& req, httplib::Response& res) {
    paths.push_back(req.path);
    const auto it = repos.find(req.matches[1].str() + "/" + req.matches[2].str());
    if (it == repos.end()) {
      res.status = 401;  // what the Hub says for a missing (or private) repository
      res.set_header("X-Error-Code", "RepoNotFound");
      return nullptr;
    }
    if (refuse(it->second, req, res)) return nullptr;
    const std::string rev = req.matches[3].str();
    if (rev != "main" && rev != it->second.commit) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      return nullptr;
    }
    return &it->second;
  }

  void routes() {
    hub.Get(R"(/api/models/([^/]+)/([^/]+)/revision/(.+))",
            [this](const httplib::Request& req, httplib::Response& res) {
              std::lock_guard<std::mutex> lock(mu);
              const FakeRepo* found = answerableRepo(req, res);
              if (!found) return;
              const FakeRepo& repo = *found;
              nlohmann::json j = {{"id", repo.id},
                                  {"sha", repo.commit},
                                  {"gated", repo.gated ? nlohmann::json("manual") : nlohmann::json(false)},
                                  {"private", false},
                                  {"downloads", 0},
                                  {"likes", 0},
                                  {"tags", nlohmann::json::array()},
                                  {"siblings", nlohmann::json::array()}};
              for (const auto& [path, bytes] : repo.files) {
                nlohmann::json s = {{"rfilename", path}, {"size", bytes.size()}, {"blobId", gitBlobId(bytes)}};
                if (fakeHubIsLfs(path))
                  s["lfs"] = {{"sha256", sha256Hex(bytes)}, {"size", bytes.size()}, {"pointerSize", 134}};
                j["siblings"].push_back(s);
              }
              res.set_content(j.dump(), "application/json");
            });
    hub.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu);
      const FakeRepo* found = answerableRepo(req, res);
      if (!found) return;
      const FakeRepo& repo = *found;
      res.set_header("X-Repo-Commit", repo.commit);
      const auto file = repo.files.find(req.matches[4].str());
      if (file == repo.files.end()) {
        res.status = 404;
        res.set_header("X-Error-Code", "EntryNotFound");
        return;
      }
      const std::string& bytes = file->second;
      if (fakeHubIsLfs(file->first)) {
        const std::string sha = sha256Hex(bytes);
        res.set_header("X-Linked-Etag", "\"" + sha + "\"");
        res.set_header("X-Linked-Size", std::to_string(bytes.size()));
        res.set_header("ETag", "\"" + gitBlobId(bytes) + "\"");
        res.set_redirect("http://127.0.0.1:" + std::to_string(cdnPort) + "/blobs/" + sha + "?signature=fake", 302);
        return;
      }
      res.set_header("ETag", "\"" + gitBlobId(bytes) + "\"");
      res.set_content(bytes, "application/octet-stream");
    });

    cdn.Get(R"(/blobs/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
      std::string bytes, path;
      uint64_t dropAfter = UINT64_MAX;
      int slowMs = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        paths.push_back(req.path);
        if (req.has_header("Range")) ranges.push_back(req.get_header_value("Range"));
        if (req.has_header("Authorization")) cdnAuth = true;
        const auto it = blobs.find(req.matches[1].str());
        if (it == blobs.end()) {
          res.status = 404;
          return;
        }
        bytes = it->second;
        path = blobPath[it->first];
        if (std::find(faults.corrupt.begin(), faults.corrupt.end(), path) != faults.corrupt.end()) {
          bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
        }
        const auto drop = faults.dropAfterBytes.find(path);
        if (drop != faults.dropAfterBytes.end() && dropsDone[path] < faults.dropTimes) {
          ++dropsDone[path];
          dropAfter = drop->second;
        }
        slowMs = faults.slowChunkMilliseconds;
      }
      auto shared = std::make_shared<std::string>(std::move(bytes));
      auto sent = std::make_shared<uint64_t>(0);
      res.set_content_provider(
          shared->size(), "application/octet-stream",
          [this, shared, sent, dropAfter, slowMs](size_t offset, size_t length, httplib::DataSink& sink) {
            if (stopping) return false;
            size_t n = std::min<size_t>(length, 4096);
            if (*sent + n > dropAfter) n = static_cast<size_t>(dropAfter - *sent);
            if (n == 0) return false;  // the connection drops here
            if (!sink.write(shared->data() + offset, n)) return false;
            *sent += n;
            if (slowMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slowMs));
            return true;
          });
    });
  }
};

FakeHub::FakeHub() : impl_(std::make_unique<Impl>()) {
  impl_->routes();
  impl_->hubPort = impl_->hub.bind_to_any_port("127.0.0.1");
  impl_->cdnPort = impl_->cdn.bind_to_any_port("127.0.0.1");
  if (impl_->hubPort <= 0 || impl_->cdnPort <= 0) throw std::runtime_error("the fake hub cannot listen on 127.0.0.1");
  impl_->hubThread = std::thread([this] { impl_->hub.listen_after_bind(); });
  impl_->cdnThread = std::thread([this] { impl_->cdn.listen_after_bind(); });
  while (!impl_->hub.is_running() || !impl_->cdn.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeHub::~FakeHub() {
  impl_->stopping = true;
  impl_->hub.stop();
  impl_->cdn.stop();
  impl_->hubThread.join();
  impl_->cdnThread.join();
}

std::string FakeHub::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(impl_->hubPort);
}
std::string FakeHub::cdnHost() const {
  return "127.0.0.1:" + std::to_string(impl_->cdnPort);
}

const FakeRepo& FakeHub::addRepo(FakeRepo repo) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (repo.commit.empty()) {
    std::string all = repo.id;
    for (const auto& [p, b] : repo.files) all += "\n" + p + "\n" + sha256Hex(b);
    repo.commit = digestHex(EVP_sha1(), all);
  }
  for (const auto& [p, b] : repo.files) {
    if (!fakeHubIsLfs(p)) continue;
    impl_->blobs[sha256Hex(b)] = b;
    impl_->blobPath[sha256Hex(b)] = p;
  }
  const std::string id = repo.id;
  impl_->repos[id] = std::move(repo);
  return impl_->repos[id];
}

FakeRepo FakeHub::repoFromFolder(const std::string& id, const fs::path& dir) {
  FakeRepo repo;
  repo.id = id;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    if (!it->is_regular_file()) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    repo.files[it->path().lexically_relative(dir).generic_string()] = ss.str();
  }
  return repo;
}

void FakeHub::setToken(const std::string& token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->token = token;
}

void FakeHub::setFaults(const FakeHubFaults& faults) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults = faults;
  impl_->dropsDone.clear();
}

int FakeHub::requests(const std::string& pathPrefix) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int n = 0;
  for (const auto& p : impl_->paths) n += p.rfind(pathPrefix, 0) == 0;
  return n;
}

std::vector<std::string> FakeHub::rangesSeen() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->ranges;
}

bool FakeHub::cdnSawAuthorization() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->cdnAuth;
}

}  // namespace caig::test
