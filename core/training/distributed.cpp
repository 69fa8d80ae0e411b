#include "core/training/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;

namespace caig {

std::vector<int> shardByProduct(const std::vector<std::string>& recordProducts, int worldSize,
                                const std::string& what) {
  if (worldSize < 1) throw std::invalid_argument("shardByProduct: world size must be >= 1");
  std::map<std::string, int64_t> counts;
  for (const auto& p : recordProducts) ++counts[p];
  if (static_cast<int64_t>(counts.size()) < worldSize)
    throw std::invalid_argument(std::to_string(worldSize) + " workers but the " + what + " come from " +
                                std::to_string(counts.size()) +
                                " product(s): every worker needs a product of its own, so use at most " +
                                std::to_string(counts.size()) + " worker(s)");
  std::vector<std::pair<std::string, int64_t>> products(counts.begin(), counts.end());
  std::stable_sort(products.begin(), products.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<int64_t> load(static_cast<std::size_t>(worldSize), 0);
  std::map<std::string, int> owner;
  for (const auto& [product, n] : products) {
    const auto r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[product] = r;
    load[static_cast<std::size_t>(r)] += n;
  }
  std::vector<int> ranks;
  ranks.reserve(recordProducts.size());
  for (const auto& p : recordProducts) ranks.push_back(owner.at(p));
  return ranks;
}

void RunFingerprint::add(const std::string& text) {
  text_ += std::to_string(text.size());
  text_ += ':';
  text_ += text;
}

void RunFingerprint::addModelFolder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    // Hidden entries (.cache/ of a Hub download, .gitattributes) and Markdown (model cards) are
    // not the model: two copies that differ only there are the same model.
    const std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && it->path().extension() != ".md") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  constexpr std::size_t kEdge = 1 << 20;
  std::vector<char> buf(kEdge);
  for (const auto& f : files) {
    const auto size = fs::file_size(f, ec);
    add(fs::relative(f, dir, ec).string() + " " + std::to_string(size));
    std::ifstream in(f, std::ios::binary);
    in.read(buf.data(), static_cast<std::streamsize>(kEdge));
    std::string edges(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (size > 2 * kEdge) {
      in.clear();
      in.seekg(static_cast<std::streamoff>(size - kEdge));
      in.read(buf.data(), static_cast<std::streamsize>(kEdge));
      edges.append(buf.data(), static_cast<std::size_t>(in.gcount()));
    } else if (size > kEdge) {
      in.read(buf.data(), static_cast<std::streamsize>(kEdge));
      edges.append(buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    const XXH128_hash_t h = XXH3_128bits(edges.data(), edges.size());
    add(std::to_string(h.high64) + "-" + std::to_string(h.low64));
  }
}

std::string RunFingerprint::hex() const {
  const XXH128_hash_t h = XXH3_128bits(text_.data(), text_.size());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::string modelFolderFingerprint(const fs::path& dir) {
  RunFingerprint fp;
  fp.addModelFolder(dir);
  return fp.hex();
}

int takeNprocArgument(std::vector<std::string>& args) {
  int n = 0;
  auto parse = [&](const std::string& v) {
    char* end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || x < 1 || x > 1024)
      throw std::invalid_argument("--nproc needs a number of workers >= 1, not '" + v + "'");
    return static_cast<int>(x);
  };
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == "--nproc") {
      if (i + 1 >= args.size()) throw std::invalid_argument("--nproc needs a number of workers");
      n = parse(args[i + 1]);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i + 2));
    } else if (args[i].rfind("--nproc=", 0) == 0) {
      n = parse(args[i].substr(8));
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return n;
}

namespace {

std::atomic<int> gForwardSignal{0};
void rememberSignal(int sig) {
  gForwardSignal.store(sig);
}

int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("cannot open a socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw std::runtime_error("no free port on 127.0.0.1: " + why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

int statusCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int runLocalWorkers(const std::vector<std::string>& args, const LocalLaunchOptions& o) {
  if (o.processes < 1) throw std::invalid_argument("--nproc needs at least one worker");
  const fs::path exe = o.executable.empty() ? fs::read_symlink("/proc/self/exe") : o.executable;
  const int port = o.firstPort > 0 ? o.firstPort : freeLoopbackPort();
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, hw / static_cast<unsigned>(o.processes)));
  const bool keepThreads = std::getenv("CAIG_THREADS") || std::getenv("OMP_NUM_THREADS");

  struct sigaction sa {
  }, oldInt{}, oldTerm{};
  sa.sa_handler = rememberSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &oldInt);
  sigaction(SIGTERM, &sa, &oldTerm);
  gForwardSignal.store(0);

  std::vector<pid_t> pids;
  for (int rank = 0; rank < o.processes; ++rank) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string kv = *e;
      const auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    env["MASTER_ADDR"] = "127.0.0.1";
    env["MASTER_PORT"] = std::to_string(port);
    env["RANK"] = env["LOCAL_RANK"] = std::to_string(rank);
    env["WORLD_SIZE"] = env["LOCAL_WORLD_SIZE"] = std::to_string(o.processes);
    if (!keepThreads) env["CAIG_THREADS"] = threads;
    std::vector<std::string> envStrings, argStrings{exe.string()};
    for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
    argStrings.insert(argStrings.end(), args.begin(), args.end());
    std::vector<char*> envp, argv;
    for (auto& s : envStrings) envp.push_back(s.data());
    for (auto& s : argStrings) argv.push_back(s.data());
    envp.push_back(nullptr);
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) {
      for (const pid_t p : pids) ::kill(p, SIGTERM);
      for (const pid_t p : pids) ::waitpid(p, nullptr, 0);
      sigaction(SIGINT, &oldInt, nullptr);
      sigaction(SIGTERM, &oldTerm, nullptr);
      throw std::runtime_error("cannot start worker " + std::to_string(rank) + " (" + exe.string() +
                               "): " + std::strerror(rc));
    }
    pids.push_back(pid);
  }

  int result = 0;
  std::size_t running = pids.size();
  std::vector<bool> done(pids.size(), false);
  auto failedAt = std::chrono::steady_clock::time_point::max();
  bool termSent = false, killSent = false;
  while (running > 0) {
    if (const int sig = gForwardSignal.exchange(0); sig != 0)
      for (std::size_t i = 0; i < pids.size(); ++i)
        if (!done[i]) ::kill(pids[i], sig);
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      const pid_t r = ::waitpid(pids[i], &status, WNOHANG);
      if (r != pids[i]) continue;
      done[i] = true;
      --running;
      const int code = statusCode(status);
      if (code != 0 && result == 0) {
        result = code;
        failedAt = std::chrono::steady_clock::now();
        std::fprintf(stderr, "caig: worker %zu of %zu stopped with status %d%s\n", i, pids.size(), code,
                     WIFSIGNALED(status) ? " (killed by a signal)" : "");
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (running > 0 && failedAt != std::chrono::steady_clock::time_point::max()) {
      if (!termSent && now - failedAt > o.grace) {
        for (std::size_t i = 0; i < pids.size(); ++i)
          if (!done[i]) ::kill(pids[i], SIGTERM);
        termSent = true;
      } else if (termSent && !killSent && now - failedAt > o.grace + std::chrono::seconds(5)) {
        for (std::size_t i = 0; i < pids.size(); ++i)
          if (!done[i]) ::kill(pids[i], SIGKILL);
        killSent = true;
      }
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &oldInt, nullptr);
  sigaction(SIGTERM, &oldTerm, nullptr);
  return result;
}

}  // namespace caig
