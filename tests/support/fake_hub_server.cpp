// The fake Hub (fake_hub.h) as a process, for the CLI and GUI tests:
//   fake_hub_server --repo ORG/NAME=DIR [--repo ...] [--gated ORG/NAME] [--token T] [--drop FILE=BYTES]
//                   --endpoint-file FILE
// writes its endpoint ("http://127.0.0.1:<port>") to FILE once listening and serves until SIGTERM.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "tests/support/fake_hub.h"

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the server threads start: they inherit it

  std::string endpointFile, token;
  std::set<std::string> gated;
  std::vector<std::pair<std::string, std::string>> repos;
  caig::test::FakeHubFaults faults;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    const auto eq = value.find('=');
    if (flag == "--repo" && eq != std::string::npos) {
      repos.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if (flag == "--gated") {
      gated.insert(value);
    } else if (flag == "--token") {
      token = value;
    } else if (flag == "--drop" && eq != std::string::npos) {
      faults.dropAfterBytes[value.substr(0, eq)] = std::stoull(value.substr(eq + 1));
    } else if (flag == "--endpoint-file") {
      endpointFile = value;
    } else {
      std::fprintf(stderr, "fake_hub_server: unknown argument %s\n", flag.c_str());
      return 2;
    }
  }
  if (endpointFile.empty() || repos.empty()) {
    std::fprintf(stderr, "usage: fake_hub_server --repo ORG/NAME=DIR ... --endpoint-file FILE\n");
    return 2;
  }
  caig::test::FakeHub hub;
  for (const auto& [id, dir] : repos) {
    auto repo = caig::test::FakeHub::repoFromFolder(id, dir);
    repo.gated = gated.count(id) > 0;
    hub.addRepo(std::move(repo));
  }
  hub.setToken(token);
  hub.setFaults(faults);
  {
    const std::string tmp = endpointFile + ".partial";
    std::ofstream(tmp) << hub.endpoint() << "\n";
    std::rename(tmp.c_str(), endpointFile.c_str());
  }
  int sig = 0;
  sigwait(&set, &sig);
  return 0;
}
