// The model installer against a fake Hugging Face Hub on 127.0.0.1 (tests/support/fake_hub.h):
// the cache layout huggingface_hub writes, resumed downloads, checksums, tokens, cancellation.

#include "core/model_files/hf_hub.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>

#include "core/model_files/hf_cache.h"
#include "tests/models/test_util.h"
#include "tests/support/fake_hub.h"

namespace fs = std::filesystem;
using caig::hf::HubClient;
using caig::hf::HubError;
using caig::hf::HubSettings;
using caig::hf::InstallProgress;
using caig::hf::InstallRequest;
using caig::test::FakeHub;
using caig::test::FakeRepo;
using caig::test::TempDir;
using Kind = HubError::Kind;

namespace {

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

FakeRepo tinyRepo(const std::string& id = "tiny-org/tiny-model") {
  FakeRepo r;
  r.id = id;
  r.files["config.json"] = R"({"_class_name": "UNet2DConditionModel"})";
  r.files["model.safetensors"] = randomBytes(300000, 1);
  r.files["tokenizer/vocab.json"] = R"({"a": 0, "b": 1})";
  r.files["pytorch_model.bin"] = "pickle bytes that must never be fetched";
  return r;
}

HubSettings settingsFor(const FakeHub& hub, const fs::path& cache) {
  HubSettings s;
  s.endpoint = hub.endpoint();
  s.cacheDir = cache;
  s.connectTimeoutSeconds = 5;
  s.stallTimeoutSeconds = 10;
  return s;
}

Kind kindOf(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const HubError& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no HubError thrown";
  return Kind::Server;
}

// Every file of the cache folder, relative, with ".incomplete" and lock files among them.
std::vector<std::string> filesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory()) out.push_back(it->path().lexically_relative(dir).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(HfHub, GlobMatchesLikePythonsFnmatch) {
  using caig::hf::globMatch;
  EXPECT_TRUE(globMatch("*.json", "config.json"));
  EXPECT_TRUE(globMatch("*.json", "tokenizer/vocab.json"));  // '*' crosses '/', as fnmatch does
  EXPECT_TRUE(globMatch("unet/*", "unet/config.json"));
  EXPECT_FALSE(globMatch("unet/*", "vae/config.json"));
  EXPECT_TRUE(globMatch("tokenizer?.json", "tokenizer2.json"));
  EXPECT_TRUE(globMatch("model-[0-9]*.safetensors", "model-00001-of-00002.safetensors"));
  EXPECT_FALSE(globMatch("model-[!0-9]*", "model-1"));
  EXPECT_TRUE(globMatch("config.json", "config.json"));
  EXPECT_FALSE(globMatch("config.json", "config.jsonx"));
  EXPECT_TRUE(globMatch("*", ""));
}

TEST(HfHub, InstallsIntoTheHuggingFaceCacheLayout) {
  FakeHub hub;
  const FakeRepo& repo = hub.addRepo(tinyRepo());
  TempDir cache;
  HubClient client(settingsFor(hub, cache.path()));
  std::vector<InstallProgress> seen;
  const auto r = client.install({repo.id, "main", {}, {}}, [&](const InstallProgress& p) {
    seen.push_back(p);
    return true;
  });

  const fs::path folder = cache.path() / "models--tiny-org--tiny-model";
  EXPECT_EQ(r.commit, repo.commit);
  EXPECT_EQ(r.snapshot, folder / "snapshots" / repo.commit);
  EXPECT_EQ(readAll(folder / "refs" / "main"), repo.commit);  // no newline, as huggingface_hub writes it
  // Blobs are named by the sha256 of LFS files and the git blob id of the others; the snapshot
  // holds relative links to them; the pickle file was never requested.
  const std::string weights = repo.files.at("model.safetensors");
  const std::string sha = caig::test::sha256Hex(weights);
  EXPECT_EQ(readAll(folder / "blobs" / sha), weights);
  EXPECT_EQ(readAll(folder / "blobs" / caig::test::gitBlobId(repo.files.at("config.json"))),
            repo.files.at("config.json"));
  const fs::path link = r.snapshot / "model.safetensors";
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), fs::path("../../blobs") / sha);
  EXPECT_EQ(fs::read_symlink(r.snapshot / "tokenizer" / "vocab.json"),
            fs::path("../../../blobs") / caig::test::gitBlobId(repo.files.at("tokenizer/vocab.json")));
  EXPECT_EQ(readAll(r.snapshot / "tokenizer" / "vocab.json"), repo.files.at("tokenizer/vocab.json"));
  EXPECT_FALSE(fs::exists(r.snapshot / "pytorch_model.bin"));
  EXPECT_EQ(hub.requests("/tiny-org/tiny-model/resolve/" + repo.commit + "/pytorch_model.bin"), 0);
  for (const auto& f : filesUnder(folder)) EXPECT_EQ(f.find(".incomplete"), std::string::npos) << f;
  EXPECT_EQ(r.files.size(), 3u);
  // The CDN is another host: the token-less request is what reached it; progress ends whole.
  EXPECT_FALSE(hub.cdnSawAuthorization());
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().doneBytes, seen.back().totalBytes);
  EXPECT_EQ(seen.back().fileCount, 3u);
  EXPECT_EQ(r.downloadedBytes, seen.back().totalBytes);
  EXPECT_EQ(caig::hf::cachedSnapshot(cache.path(), repo.id), r.snapshot);

  // A second install finds every blob: nothing is fetched from the CDN again.
  const int cdnBefore = hub.requests("/blobs/");
  const auto again = client.install({repo.id, "main", {}, {}});
  EXPECT_EQ(again.downloadedBytes, 0u);
  EXPECT_EQ(again.cachedBytes, r.downloadedBytes);
  EXPECT_EQ(hub.requests("/blobs/"), cdnBefore);
}

TEST(HfHub, IncludePatternsPickOnlyThoseFiles) {
  FakeHub hub;
  const FakeRepo& repo = hub.addRepo(tinyRepo());
  TempDir cache;
  HubClient client(settingsFor(hub, cache.path()));
  const auto r = client.install({repo.id, "main", {"*.json"}, {"tokenizer/*"}});
  EXPECT_EQ(r.files, std::vector<std::string>{"config.json"});
  std::string message;
  EXPECT_EQ(kindOf([&] { client.install({repo.id, "main", {"nothing/*"}, {}}); }, &message), Kind::Refused);
  EXPECT_NE(message.find("no file of tiny-org/tiny-model matches"), std::string::npos) << message;
}

TEST(HfHub, RefusesARepositoryWithOnlyPickleWeights) {
  FakeHub hub;
  FakeRepo r;
  r.id = "old/pickled";
  r.files["config.json"] = "{}";
  r.files["pytorch_model.bin"] = randomBytes(1000, 2);
  hub.addRepo(r);
  TempDir cache;
  std::string message;
  EXPECT_EQ(kindOf(
                [&] {
                  HubClient(settingsFor(hub, cache.path())).install({r.id, "main", {}, {}});
                },
                &message),
            Kind::Refused);
  EXPECT_NE(message.find("only as pickle files (pytorch_model.bin)"), std::string::npos) << message;
  EXPECT_EQ(hub.requests("/old/pickled/resolve/"), 0);  // refused before any file was asked for
}

TEST(HfHub, AGatedRepositoryNeedsTheToken) {
  FakeHub hub;
  FakeRepo gated = tinyRepo("gated-org/gated-model");
  gated.gated = true;
  hub.addRepo(gated);
  hub.setToken("hf_secret");
  TempDir cache;
  HubSettings s = settingsFor(hub, cache.path());
  std::string message;
  EXPECT_EQ(kindOf([&] { HubClient(s).install({gated.id, "main", {}, {}}); }, &message), Kind::NeedsToken);
  EXPECT_NE(message.find("gated"), std::string::npos) << message;
  EXPECT_NE(message.find("HF_TOKEN"), std::string::npos) << message;
  s.token = "hf_wrong";
  EXPECT_EQ(kindOf([&] { HubClient(s).install({gated.id, "main", {}, {}}); }, &message), Kind::NeedsToken);
  EXPECT_NE(message.find("has access"), std::string::npos) << message;
  s.token = "hf_secret";
  const auto r = HubClient(s).install({gated.id, "main", {}, {}});
  EXPECT_EQ(readAll(r.snapshot / "model.safetensors"), gated.files.at("model.safetensors"));
  EXPECT_FALSE(hub.cdnSawAuthorization());  // the signed CDN URL never gets the token
}

TEST(HfHub, MissingRepositoryRevisionAndFileAreNamed) {
  FakeHub hub;
  hub.addRepo(tinyRepo());
  TempDir cache;
  HubSettings s = settingsFor(hub, cache.path());
  std::string message;
  EXPECT_EQ(kindOf([&] { HubClient(s).repoInfo("nobody/nothing"); }, &message), Kind::NeedsToken);
  EXPECT_NE(message.find("nobody/nothing: repository not found"), std::string::npos) << message;
  s.token = "hf_any";
  EXPECT_EQ(kindOf([&] { HubClient(s).repoInfo("nobody/nothing"); }, &message), Kind::NotFound);
  EXPECT_EQ(kindOf([&] { HubClient(s).repoInfo("tiny-org/tiny-model", "v9"); }, &message), Kind::NotFound);
  EXPECT_NE(message.find("no such revision"), std::string::npos) << message;
  EXPECT_EQ(kindOf([&] { HubClient(s).repoInfo("not a repo"); }, &message), Kind::NotFound);
  EXPECT_FALSE(fs::exists(cache.path() / "models--nobody--nothing"));
}

TEST(HfHub, ADroppedConnectionResumesWithARangeRequest) {
  FakeHub hub;
  const FakeRepo& repo = hub.addRepo(tinyRepo());
  caig::test::FakeHubFaults faults;
  faults.dropAfterBytes["model.safetensors"] = 120000;  // 40 % of the file, then the connection closes
  faults.dropTimes = 2;                                 // twice: 120000 + 120000 + the rest
  hub.setFaults(faults);
  TempDir cache;
  const auto r = HubClient(settingsFor(hub, cache.path())).install({repo.id, "main", {"model.safetensors"}, {}});
  EXPECT_EQ(readAll(r.snapshot / "model.safetensors"), repo.files.at("model.safetensors"));
  EXPECT_EQ(hub.rangesSeen(), (std::vector<std::string>{"bytes=120000-", "bytes=240000-"}));
  EXPECT_EQ(r.downloadedBytes, 300000u);  // each byte once
}

TEST(HfHub, AFileWithTheWrongChecksumNeverAppears) {
  FakeHub hub;
  const FakeRepo& repo = hub.addRepo(tinyRepo());
  caig::test::FakeHubFaults faults;
  faults.corrupt = {"model.safetensors"};
  hub.setFaults(faults);
  TempDir cache;
  HubClient client(settingsFor(hub, cache.path()));
  std::string message;
  EXPECT_EQ(kindOf([&] { client.install({repo.id, "main", {}, {}}); }, &message), Kind::Corrupt);
  EXPECT_NE(message.find("expected " + caig::test::sha256Hex(repo.files.at("model.safetensors"))), std::string::npos)
      << message;
  const fs::path folder = cache.path() / "models--tiny-org--tiny-model";
  EXPECT_FALSE(fs::exists(folder / "snapshots" / repo.commit / "model.safetensors"));
  for (const auto& f : filesUnder(folder / "blobs")) {
    EXPECT_NE(f, caig::test::sha256Hex(repo.files.at("model.safetensors")));
    EXPECT_EQ(f.find(".incomplete"), std::string::npos) << f;
  }
  EXPECT_FALSE(fs::exists(folder / "refs" / "main"));  // the revision is not recorded as installed
  // Once the server sends the right bytes, the install completes.
  hub.setFaults({});
  const auto r = client.install({repo.id, "main", {}, {}});
  EXPECT_EQ(readAll(r.snapshot / "model.safetensors"), repo.files.at("model.safetensors"));
}

TEST(HfHub, CancellingASlowDownloadKeepsThePartForTheNextInstall) {
  FakeHub hub;
  FakeRepo big = tinyRepo();
  big.files["model.safetensors"] = randomBytes(1 << 20, 3);  // 256 chunks of 4 KiB at 20 ms: ~5 s
  const FakeRepo& repo = hub.addRepo(big);
  caig::test::FakeHubFaults faults;
  faults.slowChunkMilliseconds = 20;
  hub.setFaults(faults);
  TempDir cache;
  HubClient client(settingsFor(hub, cache.path()));
  const auto start = std::chrono::steady_clock::now();
  double rate = 0;
  std::string message;
  EXPECT_EQ(kindOf(
                [&] {
                  client.install({repo.id, "main", {"model.safetensors"}, {}}, [&](const InstallProgress& p) {
                    rate = std::max(rate, p.bytesPerSecond);
                    return p.doneBytes < 100000;  // the user presses Cancel
                  });
                },
                &message),
            Kind::Cancelled);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 3.0);  // cancel does not wait for the transfer
  EXPECT_GT(rate, 0.0);
  EXPECT_NE(message.find("resumes next time"), std::string::npos) << message;
  const fs::path folder = cache.path() / "models--tiny-org--tiny-model";
  const fs::path partial =
      folder / "blobs" / (caig::test::sha256Hex(repo.files.at("model.safetensors")) + ".incomplete");
  ASSERT_TRUE(fs::exists(partial));
  const auto kept = fs::file_size(partial);
  EXPECT_GE(kept, 100000u);
  EXPECT_FALSE(fs::exists(folder / "snapshots" / repo.commit / "model.safetensors"));

  hub.setFaults({});
  const auto r = client.install({repo.id, "main", {"model.safetensors"}, {}});
  EXPECT_EQ(readAll(r.snapshot / "model.safetensors"), repo.files.at("model.safetensors"));
  ASSERT_FALSE(hub.rangesSeen().empty());
  EXPECT_EQ(hub.rangesSeen().back(), "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(r.downloadedBytes, (1u << 20) - kept);
}

TEST(HfHub, NoNetworkSaysSo) {
  TempDir cache;
  HubSettings s;
  s.endpoint = "http://127.0.0.1:9";  // discard port: nothing listens
  s.cacheDir = cache.path();
  s.connectTimeoutSeconds = 2;
  std::string message;
  EXPECT_EQ(kindOf([&] { HubClient(s).install({"tiny-org/tiny-model", "main", {}, {}}); }, &message), Kind::NoNetwork);
  EXPECT_NE(message.find("cannot reach 127.0.0.1:9"), std::string::npos) << message;
  EXPECT_NE(message.find("HF_ENDPOINT"), std::string::npos) << message;
}

TEST(HfHub, SettingsComeFromTheEnvironmentAsHuggingFaceHubReadsThem) {
  TempDir home;
  setenv("HF_HOME", home.path().c_str(), 1);
  unsetenv("HF_HUB_CACHE");
  unsetenv("HUGGINGFACE_HUB_CACHE");
  unsetenv("HF_TOKEN");
  setenv("HF_ENDPOINT", "http://127.0.0.1:5000/", 1);
  caig::test::writeFile(home / "token", "hf_from_file\n");
  HubSettings s = HubSettings::fromEnvironment();
  EXPECT_EQ(s.endpoint, "http://127.0.0.1:5000");
  EXPECT_EQ(s.token, "hf_from_file");
  EXPECT_EQ(s.cacheDir, home.path() / "hub");
  setenv("HF_TOKEN", "hf_from_env", 1);
  setenv("HF_HUB_CACHE", (home / "elsewhere").c_str(), 1);
  s = HubSettings::fromEnvironment();
  EXPECT_EQ(s.token, "hf_from_env");
  EXPECT_EQ(s.cacheDir, home / "elsewhere");
  for (const char* v : {"HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "HF_ENDPOINT"}) unsetenv(v);
}

TEST(HfHub, FormatsSizesAsTheHubShowsThem) {
  EXPECT_EQ(caig::hf::formatBytes(999), "999 B");
  EXPECT_EQ(caig::hf::formatBytes(4270000000ull), "4.3 GB");
  EXPECT_EQ(caig::hf::formatBytes(135000000), "135 MB");
}
