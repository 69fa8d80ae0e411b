// Data-parallel `caig train-rm` and `caig pcpo` as users run them: `--nproc 2` (the local
// launcher) and two workers started by hand with torchrun's variables, over c10d's TCPStore and
// Gloo on 127.0.0.1, on the tiny LLaVA fixture. Two processes give one process's LoRA weights;
// a killed worker stops the other within the timeout and leaves a checkpoint that resumes; a
// missing worker, a mismatched command and more workers than products are refused.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/io/safetensors.h"
#include "models/trainer.h"

extern char** environ;

namespace fs = std::filesystem;

namespace {

const std::string kCli = CAIG_CLI;
const fs::path kData = CAIG_TEST_DATA;

fs::path tempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("caig_cli_dp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts `caig args...` with extra environment variables, stdout and stderr into `log`.
pid_t start(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const fs::path& log) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) all[k] = v;
  std::vector<std::string> envStrings, argStrings{kCli};
  for (const auto& [k, v] : all) envStrings.push_back(k + "=" + v);
  argStrings.insert(argStrings.end(), args.begin(), args.end());
  std::vector<char*> envp, argv;
  for (auto& s : envStrings) envp.push_back(s.data());
  for (auto& s : argStrings) argv.push_back(s.data());
  envp.push_back(nullptr);
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, kCli.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + kCli);
  return pid;
}

// The exit status, or -1 when `pid` is still running after `limit` (it is then killed).
int waitFor(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

struct CliRun {
  int status = 0;
  std::string output;
};

CliRun run(const std::vector<std::string>& args, const fs::path& log,
           const std::map<std::string, std::string>& env = {}) {
  const pid_t pid = start(args, env, log);
  CliRun r;
  r.status = waitFor(pid, std::chrono::seconds(300));
  r.output = readFile(log);
  return r;
}

// A project of six demo products with clicks (pairs from several products, one held out).
fs::path clickProject(const fs::path& dir) {
  const fs::path project = dir / "project";
  auto r = run({"demo-clicks", (dir / "clicks").string(), "--products", "6", "--variants", "4"}, dir / "demo.log");
  EXPECT_EQ(r.status, 0) << r.output;
  r = run({"import-clicks", "--project", project.string(), (dir / "clicks" / "clicks.csv").string()},
          dir / "import.log");
  EXPECT_EQ(r.status, 0) << r.output;
  return project;
}

std::vector<std::string> rmArgs(const fs::path& project, const std::string& name) {
  return {"train-rm",
          "--project",
          project.string(),
          "--model",
          (kData / "tiny-llava-hf").string(),
          "--tokenizer",
          (kData / "tiny-llava-tok").string(),
          "--new-head",
          "--point-head",
          "--device",
          "cpu",
          "--pair-side",
          "32",
          "--lora-r",
          "4",
          "--lora-alpha",
          "8",
          "--lora-dropout",
          "0",
          "--batch-size",
          "3",
          "--grad-accum",
          "2",
          "--lr",
          "3e-3",
          "--steps",
          "5",
          "--val-fraction",
          "0.25",
          "--name",
          name,
          "--json"};
}

// Largest |a - b| over every tensor of two safetensors files with the same names and shapes;
// `largest`: the largest |lora_B| of `a` (zero until a step is taken).
double maxFileDiff(const fs::path& a, const fs::path& b, double* largest = nullptr) {
  const auto fa = caig::io::SafetensorsFile::open(a);
  const auto fb = caig::io::SafetensorsFile::open(b);
  EXPECT_EQ(fa.tensors().size(), fb.tensors().size());
  double diff = 0, big = 0;
  for (const auto& info : fa.tensors()) {
    const at::Tensor x = fa.tensor(info.name).to(at::kDouble);
    const at::Tensor y = fb.tensor(info.name).to(at::kDouble);
    EXPECT_EQ(x.sizes(), y.sizes()) << info.name;
    diff = std::max(diff, (x - y).abs().max().item<double>());
    if (info.name.find("lora_B") != std::string::npos) big = std::max(big, x.abs().max().item<double>());
  }
  if (largest) *largest = big;
  return diff;
}

// Sets the value after `flag` in `args`.
void setArg(std::vector<std::string>& args, const std::string& flag, const std::string& value) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag) {
      args[i + 1] = value;
      return;
    }
  ADD_FAILURE() << "no " << flag;
}

// A port the kernel says is free on 127.0.0.1.
std::string freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return std::to_string(ntohs(addr.sin_port));
}

nlohmann::json lastJson(const std::string& output) {
  // --json prints the metrics object last; progress lines come before it.
  const auto at = output.rfind("\n{");
  return nlohmann::json::parse(output.substr(at == std::string::npos ? output.find('{') : at + 1));
}

}  // namespace

TEST(CliDataParallel, RewardModelOnTwoProcessesEqualsOneProcess) {
  const fs::path dir = tempDir("rm");
  const fs::path project = clickProject(dir);
  const CliRun one = run(rmArgs(project, "one"), dir / "one.log");
  ASSERT_EQ(one.status, 0) << one.output;
  auto args = rmArgs(project, "two");
  args.insert(args.end(), {"--nproc", "2"});
  const CliRun two = run(args, dir / "two.log");
  ASSERT_EQ(two.status, 0) << two.output;

  double largest = 0;
  const double adapterDiff = maxFileDiff(project / "models/one/adapter_model.safetensors",
                                         project / "models/two/adapter_model.safetensors", &largest);
  std::printf("reward model: max |2 processes - 1 process| = %.3g (adapter), largest |lora_B| %.3g\n", adapterDiff,
              largest);
  EXPECT_LE(adapterDiff, 1e-6);
  EXPECT_GT(largest, 1e-4) << "the adapters did not train (lora_B still zero)";
  EXPECT_LE(
      maxFileDiff(project / "models/one/reward_heads.safetensors", project / "models/two/reward_heads.safetensors"),
      1e-6);
  const auto m1 = lastJson(one.output), m2 = lastJson(two.output);
  EXPECT_EQ(m1["processes"], 1);
  EXPECT_EQ(m2["processes"], 2);
  EXPECT_EQ(m2["steps"], 5);
  // The held-out evaluation is gathered from both ranks and reported once.
  ASSERT_TRUE(m2.contains("validation"));
  EXPECT_EQ(m1["validation"]["pairs"], m2["validation"]["pairs"]);
  EXPECT_NEAR(m1["validation"]["logLoss"].get<double>(), m2["validation"]["logLoss"].get<double>(), 1e-6);
  EXPECT_NEAR(m1["train"]["logLoss"].get<double>(), m2["train"]["logLoss"].get<double>(), 1e-6);
  EXPECT_GT(m2["communicationSeconds"].get<double>(), 0.0);
  // Rank 0 alone wrote: one run, one log, one adapter folder.
  EXPECT_EQ(two.output.find("[rank 1"), std::string::npos) << two.output;
  EXPECT_TRUE(fs::exists(project / "logs/train-rm-2.jsonl"));
  EXPECT_FALSE(fs::exists(project / "logs/train-rm-3.jsonl"));
}

TEST(CliDataParallel, PcpoRoundOnTwoProcessesEqualsOneProcess) {
  const fs::path dir = tempDir("pcpo");
  const fs::path project = clickProject(dir);
  auto args = [&](const std::string& name) {
    return std::vector<std::string>{"pcpo",
                                    "--project",
                                    project.string(),
                                    "--engine",
                                    "llava",
                                    "--model",
                                    (kData / "tiny-llava-hf").string(),
                                    "--tokenizer",
                                    (kData / "tiny-llava-tok").string(),
                                    "--device",
                                    "cpu",
                                    "--rounds",
                                    "1",
                                    "--products",
                                    "3",
                                    "--max-new-tokens",
                                    "6",
                                    "--lora-r",
                                    "4",
                                    "--lora-alpha",
                                    "8",
                                    "--lora-dropout",
                                    "0",
                                    "--lr",
                                    "1e-3",
                                    "--batch-size",
                                    "2",
                                    "--seed",
                                    "3",
                                    "--name",
                                    name};
  };
  const CliRun one = run(args("one"), dir / "one.log");
  ASSERT_EQ(one.status, 0) << one.output;
  auto a2 = args("two");
  a2.insert(a2.end(), {"--nproc", "2"});
  const CliRun two = run(a2, dir / "two.log");
  ASSERT_EQ(two.status, 0) << two.output;
  double largest = 0;
  const double diff = maxFileDiff(project / "models/one/round-1/adapter/adapter_model.safetensors",
                                  project / "models/two/round-1/adapter/adapter_model.safetensors", &largest);
  std::printf("PCPO round: max |2 processes - 1 process| = %.3g (adapter), largest |lora_B| %.3g\n", diff, largest);
  EXPECT_LE(diff, 1e-6);
  EXPECT_GT(largest, 1e-5) << "the round did not train";
  // The same comparisons (sampled and ranked on two ranks) in the same order.
  auto comparisons = [](const fs::path& log) {
    std::vector<std::string> lines;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.value("event", "") == "comparison")
        lines.push_back(j.value("chosen", "-") + "|" + j.value("rejected", "-"));
    }
    return lines;
  };
  const auto c1 = comparisons(project / "logs/pcpo-1.jsonl");
  EXPECT_EQ(c1.size(), 3u);
  EXPECT_EQ(comparisons(project / "logs/pcpo-2.jsonl"), c1);
  EXPECT_TRUE(fs::is_regular_file(project / "models/two/round-1/model/model.safetensors"));
}

TEST(CliDataParallel, AKilledWorkerStopsTheOtherAndTheLastCheckpointResumes) {
  const fs::path dir = tempDir("fault");
  const fs::path project = clickProject(dir);
  auto args = rmArgs(project, "fault");
  args.erase(args.end() - 1);       // no --json
  setArg(args, "--steps", "2000");  // far more than the test waits for
  args.insert(args.end(), {"--checkpoint-every", "2"});
  std::string port;
  auto env = [&](int rank) {
    return std::map<std::string, std::string>{{"MASTER_ADDR", "127.0.0.1"},
                                              {"MASTER_PORT", port},
                                              {"WORLD_SIZE", "2"},
                                              {"RANK", std::to_string(rank)},
                                              {"LOCAL_RANK", std::to_string(rank)},
                                              {"CAIG_DIST_TIMEOUT", "30"},
                                              {"CAIG_THREADS", "1"}};
  };
  for (const int victim : {1, 0}) {
    const std::string name = "fault" + std::to_string(victim);
    auto a = args;
    setArg(a, "--name", name);
    port = freePort();
    const pid_t r0 = start(a, env(0), dir / (name + "-0.log"));
    const pid_t r1 = start(a, env(1), dir / (name + "-1.log"));
    // Wait for a few complete checkpoints, then kill one worker outright.
    const fs::path checkpoints = project / "checkpoints" / name;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < until && !fs::exists(checkpoints / "checkpoint-6/trainer_state.json"))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(fs::exists(checkpoints / "checkpoint-6/trainer_state.json")) << readFile(dir / (name + "-0.log"));
    const pid_t killed = victim == 1 ? r1 : r0, survivor = victim == 1 ? r0 : r1;
    ASSERT_EQ(::kill(killed, SIGKILL), 0);
    const auto killedAt = std::chrono::steady_clock::now();
    EXPECT_EQ(waitFor(killed, std::chrono::seconds(10)), 128 + SIGKILL);
    const int status = waitFor(survivor, std::chrono::seconds(40));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killedAt).count();
    const std::string log = readFile(dir / (name + "-" + std::to_string(1 - victim) + ".log"));
    EXPECT_EQ(status, 1) << log;  // a clear failure, not a hang (-1) or a crash
    EXPECT_LT(seconds, 30.0) << "the survivor took longer than the timeout";
    EXPECT_NE(log.find("another worker stopped or did not answer"), std::string::npos) << log;
    EXPECT_NE(log.find("rank " + std::to_string(1 - victim) + " of 2"), std::string::npos) << log;  // names itself

    // The newest complete checkpoint loads: one process resumes from it and finishes.
    const auto latest = caig::latestCheckpoint(checkpoints);
    ASSERT_TRUE(latest);
    const int64_t step = nlohmann::json::parse(readFile(*latest / "trainer_state.json"))["step"].get<int64_t>();
    EXPECT_GE(step, 6);
    auto resume = a;
    setArg(resume, "--steps", std::to_string(step + 2));
    resume.push_back("--resume");
    const CliRun resumed = run(resume, dir / (name + "-resume.log"));
    EXPECT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed at step " + std::to_string(step)), std::string::npos) << resumed.output;
  }
}

TEST(CliDataParallel, RefusesAMissingWorkerAMismatchedCommandAndTooManyWorkers) {
  const fs::path dir = tempDir("refuse");
  const fs::path project = clickProject(dir);
  std::string port = freePort();
  auto env = [&](int rank, const std::string& timeout) {
    return std::map<std::string, std::string>{{"MASTER_ADDR", "127.0.0.1"},
                                              {"MASTER_PORT", port},
                                              {"WORLD_SIZE", "2"},
                                              {"RANK", std::to_string(rank)},
                                              {"CAIG_DIST_TIMEOUT", timeout}};
  };
  // Rank 1 never starts.
  const auto start0 = std::chrono::steady_clock::now();
  const CliRun alone = run(rmArgs(project, "alone"), dir / "alone.log", env(0, "2"));
  EXPECT_EQ(alone.status, 1) << alone.output;
  EXPECT_NE(alone.output.find("rank(s) 1 did not join"), std::string::npos) << alone.output;
  EXPECT_LT(std::chrono::steady_clock::now() - start0, std::chrono::seconds(20));

  // The two workers were given different learning rates.
  auto a0 = rmArgs(project, "mismatch"), a1 = a0;
  setArg(a1, "--lr", "1e-3");
  port = freePort();
  const pid_t p0 = start(a0, env(0, "30"), dir / "mismatch-0.log");
  const pid_t p1 = start(a1, env(1, "30"), dir / "mismatch-1.log");
  EXPECT_EQ(waitFor(p0, std::chrono::seconds(60)), 1);
  EXPECT_EQ(waitFor(p1, std::chrono::seconds(60)), 1);
  for (const char* log : {"mismatch-0.log", "mismatch-1.log"}) {
    const std::string out = readFile(dir / log);
    EXPECT_NE(out.find("of rank(s) 1 differ from rank 0's"), std::string::npos) << out;
  }
  EXPECT_FALSE(fs::exists(project / "models/mismatch"));

  // More workers than products with training pairs.
  auto many = rmArgs(project, "many");
  many.insert(many.end(), {"--nproc", "6"});
  const CliRun tooMany = run(many, dir / "many.log");
  EXPECT_NE(tooMany.status, 0);
  EXPECT_NE(tooMany.output.find("every worker needs a product of its own"), std::string::npos) << tooMany.output;
}
