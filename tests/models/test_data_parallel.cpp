// models/data_parallel.h over real c10d (TCPStore + Gloo) on 127.0.0.1, two ranks as two
// threads of this process; core/training/distributed.h's sharding and argument handling.
// The multi-process runs (two `caig` workers, a killed worker) are in
// tests/app/test_cli_data_parallel.cpp.

#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/training/distributed.h"
#include "models/data_parallel.h"

namespace {

// A port the kernel says is free on 127.0.0.1 (ctest runs tests side by side).
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs body(rank, group) on `world` threads joined into one group; rethrows the first error.
void onRanks(int world, const std::function<void(int, caig::DataParallel&)>& body, int64_t bucketBytes = 25 << 20) {
  const int port = freePort();
  std::vector<std::future<void>> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.push_back(std::async(std::launch::async, [=] {
      caig::DataParallelOptions o;
      o.rank = r;
      o.worldSize = world;
      o.masterPort = port;
      o.timeout = std::chrono::seconds(20);
      o.bucketBytes = bucketBytes;
      caig::DataParallel group(o);
      body(r, group);
    }));
  }
  for (auto& f : ranks) f.get();
}

}  // namespace

TEST(DataParallel, SumsTensorsInBucketsOfEveryDtype) {
  // 64-byte buckets: the float tensors go through several buckets, the double one through its own.
  onRanks(
      2,
      [](int r, caig::DataParallel& g) {
        EXPECT_EQ(g.worldSize(), 2);
        EXPECT_EQ(g.rank(), r);
        EXPECT_NE(g.describe().find("gloo"), std::string::npos);
        std::vector<at::Tensor> t{at::full({3, 4}, r + 1.0), at::arange(40, at::kFloat) * (r + 1),
                                  at::full({5}, 10.0 * (r + 1), at::TensorOptions().dtype(at::kDouble)),
                                  at::full({2, 2}, r == 0 ? 1.0 : -1.0).t()};  // non-contiguous
        g.allReduceSum(t);
        EXPECT_TRUE(at::allclose(t[0], at::full({3, 4}, 3.0)));
        EXPECT_TRUE(at::allclose(t[1], at::arange(40, at::kFloat) * 3));
        EXPECT_EQ(t[2].scalar_type(), at::kDouble);
        EXPECT_TRUE(at::allclose(t[2], at::full({5}, 30.0, at::TensorOptions().dtype(at::kDouble))));
        EXPECT_TRUE(at::allclose(t[3], at::zeros({2, 2})));
        const auto summed = g.sum({1.0 * r, 2.0, r == 1 ? 0.25 : 0.0});
        EXPECT_EQ(summed, (std::vector<double>{1.0, 4.0, 0.25}));
        EXPECT_TRUE(g.anyTrue(r == 1));
        EXPECT_FALSE(g.anyTrue(false));
        EXPECT_GT(g.communicationSeconds(), 0.0);
      },
      64);
}

TEST(DataParallel, BroadcastsTrainableTensorsAndGathersStrings) {
  onRanks(2, [](int r, caig::DataParallel& g) {
    // A leaf that requires grad, as LoRA weights are: taken in place from rank 1.
    at::Tensor w = at::full({4}, static_cast<double>(r)).set_requires_grad(true);
    std::vector<at::Tensor> t{w};
    g.broadcast(t, 1);
    EXPECT_TRUE(at::allclose(w.detach(), at::ones({4})));
    EXPECT_TRUE(w.requires_grad());
    const auto all = g.allGather("rank-" + std::to_string(r));
    EXPECT_EQ(all, (std::vector<std::string>{"rank-0", "rank-1"}));
    const auto again = g.allGather(std::string(3, static_cast<char>('a' + r)));
    EXPECT_EQ(again, (std::vector<std::string>{"aaa", "bbb"}));
    g.barrier();
    g.requireSame("same digest", "options");  // equal: no throw
  });
}

TEST(DataParallel, RefusesToStartWhenARanksOptionsDiffer) {
  std::vector<std::string> messages(2);
  onRanks(2, [&](int r, caig::DataParallel& g) {
    try {
      g.requireSame(r == 0 ? "abc" : "abd", "options, model files or click pairs");
    } catch (const caig::DistributedError& e) {
      messages[static_cast<std::size_t>(r)] = e.what();
    }
  });
  for (const auto& m : messages) {
    EXPECT_NE(m.find("rank(s) 1 differ from rank 0's"), std::string::npos) << m;
    EXPECT_NE(m.find("options, model files or click pairs"), std::string::npos) << m;
  }
}

TEST(DataParallel, NamesTheRankThatDidNotJoin) {
  caig::DataParallelOptions o;
  o.rank = 0;
  o.worldSize = 3;
  o.masterPort = freePort();
  o.timeout = std::chrono::milliseconds(1500);
  const auto start = std::chrono::steady_clock::now();
  // Rank 2 joins, rank 1 never does.
  auto other = std::async(std::launch::async, [o] {
    auto p = o;
    p.rank = 2;
    try {
      caig::DataParallel g(p);
    } catch (const caig::DistributedError&) {
    }
  });
  try {
    caig::DataParallel g(o);
    FAIL() << "joined without rank 1";
  } catch (const caig::DistributedError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("rank(s) 1 did not join"), std::string::npos) << m;
    EXPECT_EQ(m.find("rank(s) 1, 2"), std::string::npos) << m;
    EXPECT_NE(m.find("WORLD_SIZE=3"), std::string::npos) << m;
  }
  other.get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

TEST(DataParallel, ReadsTorchrunsVariables) {
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "CAIG_DIST_TIMEOUT"})
    ::unsetenv(v);
  EXPECT_FALSE(caig::dataParallelFromEnvironment());
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("RANK", "3", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "10.0.0.5", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  ::setenv("CAIG_DIST_TIMEOUT", "45", 1);
  const auto o = caig::dataParallelFromEnvironment();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->worldSize, 4);
  EXPECT_EQ(o->rank, 3);
  EXPECT_EQ(o->localRank, 1);
  EXPECT_EQ(o->masterAddr, "10.0.0.5");
  EXPECT_EQ(o->masterPort, 29511);
  EXPECT_EQ(o->timeout, std::chrono::seconds(45));
  ::setenv("RANK", "4", 1);
  EXPECT_THROW(caig::dataParallelFromEnvironment(), std::invalid_argument);
  ::setenv("RANK", "x", 1);
  EXPECT_THROW(caig::dataParallelFromEnvironment(), std::invalid_argument);
  ::setenv("RANK", "0", 1);
  ::unsetenv("MASTER_ADDR");
  try {
    caig::dataParallelFromEnvironment();
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_ADDR"), std::string::npos);
  }
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "CAIG_DIST_TIMEOUT"})
    ::unsetenv(v);
}

TEST(DataParallelShards, ProductsStayWholeAndRanksBalance) {
  // 5 products with 6, 4, 3, 2, 1 records.
  std::vector<std::string> records;
  const std::map<std::string, int> counts{{"a", 6}, {"b", 4}, {"c", 3}, {"d", 2}, {"e", 1}};
  for (int round = 0; round < 6; ++round)
    for (const auto& [p, n] : counts)
      if (round < n) records.push_back(p);
  const auto ranks = caig::shardByProduct(records, 2);
  ASSERT_EQ(ranks.size(), records.size());
  std::map<std::string, std::set<int>> owners;
  std::vector<int> load(2, 0);
  for (std::size_t i = 0; i < records.size(); ++i)
    owners[records[i]].insert(ranks[i]), ++load[static_cast<std::size_t>(ranks[i])];
  for (const auto& [p, o] : owners) EXPECT_EQ(o.size(), 1u) << p << " split between ranks";
  EXPECT_EQ(load, (std::vector<int>{8, 8}));           // a+d / b+c+e
  EXPECT_EQ(caig::shardByProduct(records, 2), ranks);  // deterministic
  EXPECT_EQ(caig::shardByProduct(records, 1), std::vector<int>(records.size(), 0));
  try {
    caig::shardByProduct(records, 6);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("at most 5 worker(s)"), std::string::npos) << e.what();
  }
}

TEST(DataParallelShards, TakesNprocOutOfTheArguments) {
  std::vector<std::string> args{"train-rm", "--nproc", "3", "--steps", "5"};
  EXPECT_EQ(caig::takeNprocArgument(args), 3);
  EXPECT_EQ(args, (std::vector<std::string>{"train-rm", "--steps", "5"}));
  args = {"pcpo", "--nproc=2"};
  EXPECT_EQ(caig::takeNprocArgument(args), 2);
  EXPECT_EQ(args, (std::vector<std::string>{"pcpo"}));
  args = {"pcpo"};
  EXPECT_EQ(caig::takeNprocArgument(args), 0);
  args = {"pcpo", "--nproc", "0"};
  EXPECT_THROW(caig::takeNprocArgument(args), std::invalid_argument);
  args = {"pcpo", "--nproc"};
  EXPECT_THROW(caig::takeNprocArgument(args), std::invalid_argument);
}

TEST(DataParallelShards, RunFingerprintSeesOptionsAndModelFiles) {
  const auto dir = std::filesystem::temp_directory_path() / ("caig_fp_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<char> big(3 << 20, 'x');
  auto write = [&](const std::string& name, std::size_t at, char c) {
    big[at] = c;
    std::FILE* f = std::fopen((dir / name).c_str(), "wb");
    std::fwrite(big.data(), 1, big.size(), f);
    std::fclose(f);
  };
  write("model.safetensors", 0, 'x');
  auto digest = [&](const std::string& options) {
    caig::RunFingerprint fp;
    fp.add(options);
    fp.addModelFolder(dir);
    return fp.hex();
  };
  const std::string base = digest("lr=1");
  EXPECT_EQ(base.size(), 32u);
  EXPECT_EQ(digest("lr=1"), base);
  EXPECT_NE(digest("lr=2"), base);
  write("model.safetensors", big.size() - 10, 'y');  // the last MiB changed
  EXPECT_NE(digest("lr=1"), base);
  std::filesystem::remove_all(dir);
}
