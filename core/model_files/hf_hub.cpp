#include "core/model_files/hf_hub.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/version.h"
#include "core/model_files/hf_cache.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using Kind = caig::hf::HubError::Kind;

namespace caig::hf {
namespace {

using Clock = std::chrono::steady_clock;

void initCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool isHex(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

// RFC 3986 percent-encoding, keeping '/' when asked (file paths, as huggingface_hub's quote()).
std::string urlEncode(const std::string& s, bool keepSlash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string hostOf(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  const auto start = scheme + 3;
  const auto end = url.find_first_of("/?#", start);
  return lower(url.substr(start, end == std::string::npos ? std::string::npos : end - start));
}

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, the last response's
  std::string body;
};

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100-continue)
    r->headers.clear();
    const auto sp = line.find(' ');
    r->status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    r->headers[lower(line.substr(0, colon))] = value;
  }
  return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  if (r->body.size() + size * n > (64u << 20)) return 0;  // an API answer is never this large
  r->body.append(data, size * n);
  return size * n;
}

struct CurlHandle {
  CURL* h;
  curl_slist* headers = nullptr;
  CurlHandle() : h(curl_easy_init()) {
    if (!h) throw HubError(Kind::Server, "cannot start libcurl");
  }
  ~CurlHandle() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
  }
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;
};

std::string userAgent() {
  return std::string("caig-studio/") + studioVersion() + "; hf_hub-protocol";
}

void commonOptions(CurlHandle& c, const HubSettings& s, const std::string& url, bool auth, Response& r) {
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_USERAGENT, userAgent().c_str());
  curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT, s.connectTimeoutSeconds);
  curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_TIME, s.stallTimeoutSeconds);
  curl_easy_setopt(c.h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(c.h, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c.h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  c.headers = curl_slist_append(c.headers, "Accept-Encoding: identity");  // sizes are the files' own
  if (auth && !s.token.empty()) c.headers = curl_slist_append(c.headers, ("Authorization: Bearer " + s.token).c_str());
  curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, c.headers);
}

[[noreturn]] void throwTransport(CURLcode code, const std::string& url, const char* detail) {
  const std::string what =
      std::string(curl_easy_strerror(code)) + (detail && *detail ? std::string(": ") + detail : "");
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
      throw HubError(Kind::NoNetwork, "cannot reach " + hostOf(url) + " (" + what +
                                          "): check the network connection, or set HF_ENDPOINT to a mirror");
    default: throw HubError(Kind::Server, "transfer from " + hostOf(url) + " failed: " + what);
  }
}

// An HTTP error status in the Hub's words (X-Error-Code), as huggingface_hub reads it.
[[noreturn]] void throwStatus(const Response& r, const std::string& what, bool haveToken) {
  const auto code = r.headers.count("x-error-code") ? r.headers.at("x-error-code") : std::string();
  std::string serverMessage;
  if (r.headers.count("x-error-message")) serverMessage = r.headers.at("x-error-message");
  const std::string tail = serverMessage.empty() ? "" : " (" + serverMessage + ")";
  if (code == "GatedRepo") {
    throw HubError(
        Kind::NeedsToken,
        what + " is gated: accept its conditions on the Hub, then " +
            (haveToken ? "check that your token (HF_TOKEN) has access" : "set HF_TOKEN to a token of that account") +
            tail,
        r.status);
  }
  if (code == "RevisionNotFound") throw HubError(Kind::NotFound, what + ": no such revision" + tail, r.status);
  if (code == "EntryNotFound") throw HubError(Kind::NotFound, what + ": no such file" + tail, r.status);
  if (code == "RepoNotFound" || r.status == 401) {
    throw HubError(haveToken ? Kind::NotFound : Kind::NeedsToken,
                   what + ": repository not found" +
                       (haveToken ? " (or your token has no access to it)" : " (if it is private, set HF_TOKEN)") +
                       tail,
                   r.status);
  }
  if (r.status == 403) throw HubError(Kind::NeedsToken, what + ": access refused (HTTP 403)" + tail, r.status);
  if (r.status == 404) throw HubError(Kind::NotFound, what + ": not found (HTTP 404)" + tail, r.status);
  throw HubError(Kind::Server, what + ": HTTP " + std::to_string(r.status) + tail, r.status);
}

Response request(const HubSettings& s, const std::string& url, bool head) {
  initCurlOnce();
  CurlHandle c;
  Response r;
  commonOptions(c, s, url, true, r);
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, error);
  if (head) {
    curl_easy_setopt(c.h, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c.h, CURLOPT_MAXREDIRS, 10L);
  }
  const CURLcode code = curl_easy_perform(c.h);
  if (code != CURLE_OK) throwTransport(code, url, error);
  return r;
}

std::string header(const Response& r, const char* name) {
  const auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

// ETag: "v" or W/"v" -> v (huggingface_hub's _normalize_etag).
std::string normalizeEtag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

struct FileMetadata {
  std::string etag, commit, location;
  uint64_t size = 0;
};

// HEAD resolve/<commit>/<file>, redirects not followed except relative ones (a renamed repository).
FileMetadata fileMetadata(const HubSettings& s, const std::string& url, const std::string& what) {
  std::string current = url;
  for (int hop = 0; hop < 10; ++hop) {
    const Response r = request(s, current, true);
    const std::string location = header(r, "location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && location[0] == '/') {
      current = current.substr(0, current.find('/', current.find("://") + 3)) + location;
      continue;
    }
    if (r.status >= 400) throwStatus(r, what, !s.token.empty());
    FileMetadata m;
    m.commit = header(r, "x-repo-commit");
    m.etag = normalizeEtag(header(r, "x-linked-etag").empty() ? header(r, "etag") : header(r, "x-linked-etag"));
    const std::string size =
        header(r, "x-linked-size").empty() ? header(r, "content-length") : header(r, "x-linked-size");
    m.size = size.empty() ? 0 : std::strtoull(size.c_str(), nullptr, 10);
    m.location = location.empty() ? current : location;
    if (m.commit.empty()) {
      throw HubError(Kind::Server, what + ": the server sent no X-Repo-Commit: " + hostOf(url) +
                                       " does not look like a Hugging Face Hub (check HF_ENDPOINT and proxies)");
    }
    if (m.etag.empty() || m.etag.find('/') != std::string::npos || m.etag.find("..") != std::string::npos) {
      throw HubError(Kind::Server, what + ": the server sent no usable ETag, so the file cannot be checked");
    }
    return m;
  }
  throw HubError(Kind::Server, what + ": too many redirects");
}

// sha256 of the content for LFS files; sha1 of "blob <size>\0<content>" (the git blob id) for the others.
std::string fileDigest(const fs::path& file, bool gitBlob, uint64_t size) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), gitBlob ? EVP_sha1() : EVP_sha256(), nullptr);
  if (gitBlob) {
    const std::string prefix = "blob " + std::to_string(size);
    EVP_DigestUpdate(ctx.get(), prefix.c_str(), prefix.size() + 1);  // with its NUL
  }
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw HubError(Kind::FileSystem, "cannot read '" + file.string() + "': " + std::strerror(errno));
  std::vector<char> buf(4 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw HubError(Kind::FileSystem, "cannot read '" + file.string() + "': " + std::strerror(e));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// An exclusive lock on <cache>/.locks/<repo folder>/<etag>.lock, as huggingface_hub's FileLock
// (flock), so the studio, the CLI and diffusers never write one blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& file) {
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw HubError(Kind::FileSystem, "cannot create the lock '" + file.string() + "': " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~BlobLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

// Progress over the whole install: bytes done, a rate over the last few seconds.
class Meter {
 public:
  Meter(const InstallProgressFn& fn, uint64_t total, size_t files) : fn_(fn) {
    p_.totalBytes = total;
    p_.fileCount = files;
  }
  void startFile(const std::string& file, size_t index) {
    p_.file = file;
    p_.fileIndex = index;
    report(true);
  }
  void rewind(uint64_t bytes) { p_.doneBytes -= std::min(bytes, p_.doneBytes); }  // a partial file started again
  void add(uint64_t bytes, bool transferred) {
    p_.doneBytes += bytes;
    if (transferred) samples_.push_back({Clock::now(), transferredTotal_ += bytes});
  }
  // false: the user cancelled.
  bool report(bool force = false) {
    const auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return true;
    last_ = now;
    while (samples_.size() > 2 && now - samples_.front().first > std::chrono::seconds(5)) samples_.pop_front();
    if (samples_.size() >= 2) {
      const double dt = std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
      if (dt > 0.2) p_.bytesPerSecond = double(samples_.back().second - samples_.front().second) / dt;
    }
    p_.secondsLeft = p_.bytesPerSecond > 0 && p_.totalBytes >= p_.doneBytes
                         ? double(p_.totalBytes - p_.doneBytes) / p_.bytesPerSecond
                         : -1;
    return !fn_ || fn_(p_);
  }
  uint64_t done() const { return p_.doneBytes; }

 private:
  const InstallProgressFn& fn_;
  InstallProgress p_;
  std::deque<std::pair<Clock::time_point, uint64_t>> samples_;
  uint64_t transferredTotal_ = 0;
  Clock::time_point last_{};
};

struct Transfer {
  int fd = -1;
  uint64_t offset = 0;     // bytes in the partial file before this attempt
  uint64_t written = 0;    // bytes written in this attempt
  bool truncated = false;  // the server ignored Range: start again
  int writeErrno = 0;
  Response response;
  Meter* meter = nullptr;
  bool cancelled = false;
};

size_t onFileBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (t->response.status != 200 && t->response.status != 206) return bytes;  // an error page: dropped
  if (t->response.status == 200 && t->offset > 0 && !t->truncated) {
    if (::ftruncate(t->fd, 0) != 0 || ::lseek(t->fd, 0, SEEK_SET) < 0) {
      t->writeErrno = errno;
      return 0;
    }
    t->meter->rewind(t->offset);
    t->truncated = true;
  }
  size_t done = 0;
  while (done < bytes) {
    const ssize_t w = ::write(t->fd, data + done, bytes - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t->writeErrno = w < 0 ? errno : ENOSPC;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->written += bytes;
  t->meter->add(bytes, true);
  return bytes;
}

int onTransferProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->meter->report()) {
    t->cancelled = true;
    return 1;
  }
  return 0;
}

bool retryable(CURLcode code) {
  return code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR ||
         code == CURLE_GOT_NOTHING || code == CURLE_OPERATION_TIMEDOUT || code == CURLE_COULDNT_CONNECT ||
         code == CURLE_HTTP2 || code == CURLE_HTTP2_STREAM;
}

[[noreturn]] void throwWrite(int err, const fs::path& file) {
  if (err == ENOSPC || err == EDQUOT) {
    throw HubError(Kind::DiskFull, "the disk is full writing '" + file.string() +
                                       "': free some space; the install resumes where it stopped");
  }
  throw HubError(Kind::FileSystem, "cannot write '" + file.string() + "': " + std::strerror(err));
}

// GETs `url` into `partial` (appending from its current size), retrying dropped connections.
void download(const HubSettings& s, const std::string& url, bool auth, const fs::path& partial, uint64_t expected,
              Meter& meter, const std::string& what) {
  initCurlOnce();
  int attemptsLeft = s.retries + 1;
  for (;;) {
    Transfer t;
    t.meter = &meter;
    t.fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (t.fd < 0) throwWrite(errno, partial);
    std::error_code ec;
    t.offset = fs::file_size(partial, ec);
    if (expected > 0 && t.offset > expected) {  // not this file's bytes: start again
      if (::ftruncate(t.fd, 0) != 0) throwWrite(errno, partial);
      meter.rewind(t.offset);
      t.offset = 0;
    }
    if (expected > 0 && t.offset == expected) {
      ::close(t.fd);
      return;
    }
    CurlHandle c;
    commonOptions(c, s, url, auth, t.response);
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c.h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, onFileBody);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, onTransferProgress);
    curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &t);
    const std::string range = std::to_string(t.offset) + "-";
    if (t.offset > 0) curl_easy_setopt(c.h, CURLOPT_RANGE, range.c_str());
    const CURLcode code = curl_easy_perform(c.h);
    const bool synced = ::fsync(t.fd) == 0 || errno == EINVAL;
    const int syncErrno = errno;
    ::close(t.fd);
    if (t.cancelled)
      throw HubError(Kind::Cancelled, "cancelled: " + what + " stays partly downloaded and resumes next time");
    if (t.writeErrno) throwWrite(t.writeErrno, partial);
    if (!synced) throwWrite(syncErrno, partial);
    if (code == CURLE_OK && t.response.status == 416 && expected > 0) {  // already whole: let the check decide
      return;
    }
    if (code == CURLE_OK && t.response.status >= 400) throwStatus(t.response, what, auth && !s.token.empty());
    if (code == CURLE_OK) return;
    if (--attemptsLeft > 0 && retryable(code)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200 * (s.retries + 1 - attemptsLeft)));
      continue;
    }
    throwTransport(code, url, error);
  }
}

bool hasExtension(const std::string& path, std::initializer_list<const char*> exts) {
  const std::string l = lower(path);
  return std::any_of(exts.begin(), exts.end(), [&](const char* e) {
    const size_t n = std::strlen(e);
    return l.size() >= n && l.compare(l.size() - n, n, e) == 0;
  });
}

bool isOtherFrameworkWeights(const std::string& path) {
  return hasExtension(path, {".msgpack", ".h5", ".onnx", ".onnx_data", ".gguf", ".tflite", ".mlmodel", ".ot"});
}

}  // namespace

HubSettings HubSettings::fromEnvironment() {
  HubSettings s;
  if (const char* e = std::getenv("HF_ENDPOINT"); e && *e) s.endpoint = e;
  while (!s.endpoint.empty() && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.token = defaultToken();
  s.cacheDir = defaultCacheDir();
  return s;
}

bool globMatch(const std::string& pattern, const std::string& path) {
  size_t p = 0, s = 0, starP = std::string::npos, starS = 0;
  while (s < path.size()) {
    if (p < pattern.size() && pattern[p] == '[') {
      size_t q = p + 1;
      const bool negate = q < pattern.size() && pattern[q] == '!';
      if (negate) ++q;
      bool matched = false;
      size_t first = q;
      while (q < pattern.size() && (pattern[q] != ']' || q == first)) {
        if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
          if (path[s] >= pattern[q] && path[s] <= pattern[q + 2]) matched = true;
          q += 3;
        } else {
          if (path[s] == pattern[q]) matched = true;
          ++q;
        }
      }
      if (q < pattern.size() && matched != negate) {
        p = q + 1;
        ++s;
        continue;
      }
      if (q >= pattern.size() && path[s] == '[') {  // no closing bracket: a literal '['
        ++p;
        ++s;
        continue;
      }
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == path[s]) && pattern[p] != '*') {
      ++p;
      ++s;
      continue;
    } else if (p < pattern.size() && pattern[p] == '*') {
      starP = p++;
      starS = s;
      continue;
    }
    if (starP == std::string::npos) return false;
    p = starP + 1;
    s = ++starS;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool isPickleWeights(const std::string& path) {
  return hasExtension(path, {".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle", ".joblib", ".npy", ".npz"});
}

std::vector<HubFile> selectFiles(const HubRepoInfo& info, const std::vector<std::string>& include,
                                 const std::vector<std::string>& exclude) {
  const auto wanted = [&](const std::string& path) {
    const bool in = include.empty() || std::any_of(include.begin(), include.end(),
                                                   [&](const std::string& p) { return globMatch(p, path); });
    return in && std::none_of(exclude.begin(), exclude.end(), [&](const std::string& p) { return globMatch(p, path); });
  };
  std::vector<HubFile> out;
  std::vector<std::string> pickles;
  for (const auto& f : info.files) {
    if (!wanted(f.path)) continue;
    if (isPickleWeights(f.path)) {
      pickles.push_back(f.path);
      continue;
    }
    if (isOtherFrameworkWeights(f.path)) continue;
    out.push_back(f);
  }
  const bool anySafetensors =
      std::any_of(out.begin(), out.end(), [](const HubFile& f) { return hasExtension(f.path, {".safetensors"}); });
  if (!pickles.empty() && !anySafetensors) {
    throw HubError(Kind::Refused,
                   info.repoId + " offers its weights only as pickle files (" + pickles.front() +
                       (pickles.size() > 1 ? " and " + std::to_string(pickles.size() - 1) + " more" : "") +
                       "): the studio never downloads or loads pickle, which can run code. Ask for a "
                       ".safetensors version of the model");
  }
  if (out.empty()) throw HubError(Kind::Refused, "no file of " + info.repoId + " matches what was asked for");
  return out;
}

HubClient::HubClient(HubSettings settings) : settings_(std::move(settings)) {
  while (!settings_.endpoint.empty() && settings_.endpoint.back() == '/') settings_.endpoint.pop_back();
}

HubRepoInfo HubClient::repoInfo(const std::string& repoId, const std::string& revision) const {
  if (!validRepoId(repoId)) throw HubError(Kind::NotFound, "'" + repoId + "' is not a repository id (org/name)");
  const std::string url = settings_.endpoint + "/api/models/" + urlEncode(repoId, true) + "/revision/" +
                          urlEncode(revision, false) + "?blobs=true";
  const Response r = request(settings_, url, false);
  const std::string what = repoId + (revision == "main" ? "" : "@" + revision);
  if (r.status >= 400) throwStatus(r, what, !settings_.token.empty());
  if (r.status != 200) throw HubError(Kind::Server, what + ": HTTP " + std::to_string(r.status), r.status);
  json j;
  try {
    j = json::parse(r.body);
  } catch (const json::exception& e) {
    throw HubError(Kind::Server, what + ": the revision answer is not JSON (" + std::string(e.what()) + ")");
  }
  HubRepoInfo info;
  info.repoId = repoId;
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string() || !isCommitHash(j["sha"].get<std::string>()) ||
      !j.contains("siblings") || !j["siblings"].is_array()) {
    throw HubError(Kind::Server, what + ": the revision answer has no commit \"sha\" or \"siblings\" list");
  }
  info.commit = j["sha"].get<std::string>();
  info.gated = j.contains("gated") && !(j["gated"].is_boolean() && !j["gated"].get<bool>()) && !j["gated"].is_null();
  for (const auto& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    HubFile f;
    f.path = s["rfilename"].get<std::string>();
    if (s.contains("size") && s["size"].is_number_unsigned()) f.size = s["size"].get<uint64_t>();
    if (s.contains("blobId") && s["blobId"].is_string()) f.blobId = s["blobId"].get<std::string>();
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const auto& lfs = s["lfs"];
      if (lfs.contains("sha256") && lfs["sha256"].is_string()) f.sha256 = lower(lfs["sha256"].get<std::string>());
      if (lfs.contains("size") && lfs["size"].is_number_unsigned()) f.size = lfs["size"].get<uint64_t>();
    }
    info.files.push_back(std::move(f));
  }
  return info;
}

uint64_t HubClient::bytesToFetch(const HubRepoInfo& info, const std::vector<HubFile>& files) const {
  const fs::path repo = settings_.cacheDir / repoFolderName(info.repoId);
  uint64_t total = 0;
  for (const auto& f : files) {
    const std::string etag = !f.sha256.empty() ? f.sha256 : f.blobId;
    std::error_code ec;
    if (!etag.empty() && fs::is_regular_file(blobPath(repo, etag), ec)) continue;
    uint64_t partial = 0;
    if (!etag.empty()) {
      const auto size = fs::file_size(blobPath(repo, etag).string() + ".incomplete", ec);
      if (!ec) partial = size;
    }
    total += f.size > partial ? f.size - partial : 0;
  }
  return total;
}

InstallResult HubClient::install(const InstallRequest& request, const InstallProgressFn& progress) const {
  const HubRepoInfo info = repoInfo(request.repoId, request.revision);
  const std::vector<HubFile> files = selectFiles(info, request.include, request.exclude);
  const fs::path repo = settings_.cacheDir / repoFolderName(info.repoId);

  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  const uint64_t needed = bytesToFetch(info, files);
  const uint64_t available = freeBytes(settings_.cacheDir);
  if (needed > available) {
    throw HubError(Kind::DiskFull, info.repoId + " needs " + formatBytes(needed) + " more but " +
                                       settings_.cacheDir.string() + " has " + formatBytes(available) +
                                       " free: free some space or set HF_HUB_CACHE to another disk");
  }

  InstallResult result;
  result.repoId = info.repoId;
  result.commit = info.commit;
  Meter meter(progress, total, files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const HubFile& f = files[i];
    meter.startFile(f.path, i + 1);
    const std::string what = info.repoId + "/" + f.path;
    const std::string url = settings_.endpoint + "/" + urlEncode(info.repoId, true) + "/resolve/" + info.commit + "/" +
                            urlEncode(f.path, true);
    const FileMetadata m = fileMetadata(settings_, url, what);
    if (m.commit != info.commit) {
      throw HubError(Kind::Server, what + ": the server answered for commit " + m.commit + ", not " + info.commit);
    }
    const uint64_t size = m.size ? m.size : f.size;
    // What the bytes must hash to: the sha256 of an LFS file (its ETag), else the git blob id.
    const std::string sha256 = !f.sha256.empty() ? f.sha256 : isHex(m.etag, 64) ? lower(m.etag) : std::string();
    const std::string gitBlob = sha256.empty() && isHex(m.etag, 40) ? lower(m.etag) : std::string();
    if (sha256.empty() && gitBlob.empty()) {
      throw HubError(Kind::Server,
                     what + ": neither a sha256 nor a git blob id to check it against (ETag '" + m.etag + "')");
    }
    const fs::path blob = blobPath(repo, m.etag);
    std::error_code ec;
    {
      BlobLock lock(settings_.cacheDir / ".locks" / repoFolderName(info.repoId) / (m.etag + ".lock"));
      if (fs::is_regular_file(blob, ec)) {
        meter.add(size, false);
        result.cachedBytes += size;
      } else {
        fs::create_directories(blob.parent_path(), ec);
        if (ec)
          throw HubError(Kind::FileSystem, "cannot create '" + blob.parent_path().string() + "': " + ec.message());
        const fs::path partial = blob.string() + ".incomplete";
        const uint64_t before = fs::exists(partial, ec) ? fs::file_size(partial, ec) : 0;
        meter.add(std::min(before, size), false);
        const uint64_t doneBefore = meter.done();
        // A CDN on another host gets no token (its URL is signed); the same host keeps it.
        const bool auth = hostOf(m.location) == hostOf(settings_.endpoint);
        download(settings_, m.location, auth, partial, size, meter, what);
        result.downloadedBytes += meter.done() > doneBefore ? meter.done() - doneBefore : 0;
        const uint64_t got = fs::file_size(partial, ec);
        if (size > 0 && got != size) {
          fs::remove(partial, ec);
          throw HubError(Kind::Corrupt, what + ": received " + std::to_string(got) + " bytes, the Hub announced " +
                                            std::to_string(size) + " (the partial file was removed)");
        }
        const std::string digest = fileDigest(partial, !gitBlob.empty(), got);
        if (digest != (gitBlob.empty() ? sha256 : gitBlob)) {
          fs::remove(partial, ec);
          throw HubError(Kind::Corrupt, what + ": the downloaded bytes hash to " + digest + ", expected " +
                                            (gitBlob.empty() ? sha256 : gitBlob) + " (" +
                                            (gitBlob.empty() ? "sha256" : "git blob id") + "); nothing was kept");
        }
        fs::rename(partial, blob, ec);
        if (ec) throw HubError(Kind::FileSystem, "cannot move '" + partial.string() + "' into place: " + ec.message());
      }
    }
    try {
      linkSnapshotFile(repo, info.commit, f.path, m.etag);
    } catch (const std::exception& e) {
      throw HubError(Kind::FileSystem, e.what());
    }
    result.files.push_back(f.path);
    if (!meter.report(true)) throw HubError(Kind::Cancelled, "cancelled after " + what);
  }
  try {
    writeRef(repo, request.revision, info.commit);
  } catch (const std::exception& e) {
    throw HubError(Kind::FileSystem, e.what());
  }
  result.snapshot = repo / "snapshots" / info.commit;
  return result;
}

}  // namespace caig::hf
