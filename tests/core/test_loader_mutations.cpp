// Randomised hostile input: mutated config.json (UNet, ControlNet, VAE, CLIP text, LLaVA),
// scheduler_config.json, click CSV/JSON and image headers go through the real loaders for a
// bounded time each. Every input must be accepted or refused with an exception whose message is
// the studio's (no LibTorch backtrace, no library-internal text); a crash, hang or huge allocation
// fails the test by killing it. The stream is seeded: a failure names the iteration to replay.

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../models/test_util.h"
#include "core/base/splitmix.h"
#include "core/clicks/click_data.h"
#include "core/image/image_io.h"
#include "models/autoencoder_kl.h"
#include "models/clip_text.h"
#include "models/controlnet.h"
#include "models/diffusion_schedulers.h"
#include "models/io/json_file.h"
#include "models/llava.h"
#include "models/unet2d.h"

namespace caig {
namespace {

namespace fs = std::filesystem;
const fs::path kData = CAIG_TEST_DATA;
constexpr double kSecondsPerFamily = 3.0;

// Values a hostile or careless file puts where a size belongs.
nlohmann::json oddValue(SplitMix64& rng) {
  switch (rng.index(12)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return 1'000'000'000;
    case 3: return 4'000'000'000'000LL;
    case 4: return 1e300;
    case 5: return "12";
    case 6: return nullptr;
    case 7: return nlohmann::json::array({1, 2});
    case 8: return nlohmann::json::object();
    case 9: return true;
    case 10: return static_cast<int64_t>(rng.index(4096));
    default: return 2.5;
  }
}

// One structural edit: a field (possibly nested) set to an odd value, removed, or the text broken.
std::string mutateJson(const nlohmann::json& base, SplitMix64& rng) {
  nlohmann::json j = base;
  const int edits = 1 + static_cast<int>(rng.index(3));
  for (int e = 0; e < edits; ++e) {
    nlohmann::json* node = &j;
    while (true) {  // walk down to a random container
      if (node->is_object() && !node->empty()) {
        auto it = node->begin();
        std::advance(it, static_cast<long>(rng.index(node->size())));
        if ((it->is_object() || it->is_array()) && !it->empty() && rng.index(2)) {
          node = &*it;
          continue;
        }
        if (rng.index(5) == 0)
          node->erase(it);
        else
          *it = oddValue(rng);
      } else if (node->is_array() && !node->empty()) {
        (*node)[rng.index(node->size())] = oddValue(rng);
      }
      break;
    }
  }
  std::string text = j.dump();
  switch (rng.index(6)) {  // sometimes damage the text itself
    case 0: text.resize(rng.index(text.size() + 1)); break;
    case 1: text.insert(rng.index(text.size() + 1), std::string(1 + rng.index(300), '[')); break;
    case 2:
      if (!text.empty()) text[rng.index(text.size())] = static_cast<char>(rng.next());
      break;
    default: break;
  }
  return text;
}

std::string mutateBytes(std::string bytes, SplitMix64& rng, std::size_t region) {
  const int edits = 1 + static_cast<int>(rng.index(4));
  for (int e = 0; e < edits && !bytes.empty(); ++e) {
    const std::size_t at = rng.index(std::min(region, bytes.size()));
    switch (rng.index(4)) {
      case 0: bytes[at] = static_cast<char>(rng.next()); break;
      case 1: bytes.insert(at, 1, static_cast<char>(rng.next())); break;
      case 2: bytes.erase(at, 1 + rng.index(8)); break;
      default: bytes.resize(at + rng.index(bytes.size() - at + 1)); break;
    }
  }
  return bytes;
}

// A watchdog: an input that takes longer than this is a hang (or a huge allocation); the test
// prints it and aborts, so the failure names the input instead of timing out silently.
constexpr double kSecondsPerInput = 20.0;
std::mutex gCurrentMutex;
std::string gCurrentFamily, gCurrentInput;
uint64_t gCurrentIteration = 0;
std::chrono::steady_clock::time_point gCurrentStart;
bool gRunning = false;

// A crash (SIGSEGV, SIGFPE...) prints the input that caused it before the process dies.
extern "C" void onCrash(int sig) {
  const char head[] = "CRASH on input:\n";
  (void)!::write(2, head, sizeof head - 1);
  (void)!::write(2, gCurrentInput.data(), std::min<std::size_t>(gCurrentInput.size(), 4000));
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void watch() {
  for (const int sig : {SIGSEGV, SIGFPE, SIGBUS, SIGILL}) std::signal(sig, onCrash);
  static std::once_flag started;
  std::call_once(started, [] {
    std::thread([] {
      while (true) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        std::lock_guard<std::mutex> lock(gCurrentMutex);
        if (gRunning && std::chrono::duration<double>(std::chrono::steady_clock::now() - gCurrentStart).count() >
                            kSecondsPerInput) {
          std::fprintf(stderr, "HANG: %s iteration %llu took over %.0f s on:\n%.4000s\n", gCurrentFamily.c_str(),
                       static_cast<unsigned long long>(gCurrentIteration), kSecondsPerInput, gCurrentInput.c_str());
          std::abort();
        }
      }
    }).detach();  // runs until the process exits
  });
}

void beginInput(const std::string& family, uint64_t i, const std::string& input) {
  std::lock_guard<std::mutex> lock(gCurrentMutex);
  gCurrentFamily = family;
  gCurrentIteration = i;
  gCurrentInput = input;
  gCurrentStart = std::chrono::steady_clock::now();
  gRunning = true;
}

void endInput() {
  std::lock_guard<std::mutex> lock(gCurrentMutex);
  gRunning = false;
}

struct Tally {
  int accepted = 0, refused = 0;
};

// Runs `attempt(i)` for iterations i = 0, 1, ... until the time is up; every exception must carry
// the studio's own message.
Tally fuzz(const std::string& family, const std::function<void(uint64_t)>& attempt) {
  watch();
  Tally t;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0;
       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < kSecondsPerFamily; ++i) {
    try {
      attempt(i);
      endInput();
      ++t.accepted;
    } catch (const std::exception& e) {
      endInput();
      ++t.refused;
      const std::string what = e.what();
      for (const char* leak :
           {"Exception raised from", "frame #", "_M_", "basic_filebuf", "std::bad_alloc", "bad_alloc"}) {
        EXPECT_EQ(what.find(leak), std::string::npos)
            << family << " iteration " << i << ": " << what.substr(0, 300) << "\non: " << gCurrentInput.substr(0, 3000);
      }
      EXPECT_FALSE(what.empty()) << family << " iteration " << i;
    }
  }
  std::printf("%-22s %5d inputs: %5d accepted, %5d refused\n", family.c_str(), t.accepted + t.refused, t.accepted,
              t.refused);
  return t;
}

// A model folder copy whose config.json each iteration rewrites.
void fuzzModelConfig(const std::string& family, const fs::path& fixture,
                     const std::function<void(const fs::path&)>& load) {
  test::TempDir dir;
  const fs::path root = dir / "m";
  fs::copy(fixture, root, fs::copy_options::recursive);
  const auto base = io::readJsonFile(fixture / "config.json");
  const Tally t = fuzz(family, [&](uint64_t i) {
    SplitMix64 rng{0xC0FFEE + i};
    const std::string text = mutateJson(base, rng);
    beginInput(family, i, text);
    test::writeFile(root / "config.json", text);
    load(root);
  });
  EXPECT_GT(t.refused, 0) << family;
}

TEST(LoaderMutations, ModelConfigs) {
  const fs::path sd = kData / "tiny-sd-e2e";
  fuzzModelConfig("unet config", sd / "unet", [](const fs::path& d) { UNet2DConditionModel::load(d); });
  fuzzModelConfig("controlnet config", sd / "controlnet", [](const fs::path& d) { ControlNetModel::load(d); });
  fuzzModelConfig("vae config", sd / "vae", [](const fs::path& d) { AutoencoderKL::load(d); });
  fuzzModelConfig("clip text config", sd / "text_encoder", [](const fs::path& d) { ClipTextModel::load(d); });
  fuzzModelConfig("llava config", kData / "tiny-llava", [](const fs::path& d) { LlavaModel::load(d); });
}

TEST(LoaderMutations, SchedulerConfigs) {
  const auto base = io::readJsonFile(kData / "tiny-sd-e2e/scheduler/scheduler_config.json");
  const auto names = schedulerNames();
  fuzz("scheduler config", [&](uint64_t i) {
    SplitMix64 rng{0x5EED + i};
    const std::string text = mutateJson(base, rng);
    beginInput("scheduler config", i, text);
    const auto j = io::parseJson(text, "scheduler_config.json");
    auto s = makeScheduler(rng.index(3) ? names[rng.index(names.size())] : "", j);
    s->setTimesteps(1 + static_cast<int>(rng.index(50)));
  });
}

TEST(LoaderMutations, ClickFiles) {
  const std::string csv =
      "creative_id,image,product,title,impressions,clicks\n"
      "a,a.png,p1,Mug,1000,12\n"
      "b,b.png,p1,Mug,\"1,200\",30\n"
      "c,c.png,p2,Jar,900,4\n";
  const nlohmann::json json = nlohmann::json::parse(R"([{"product_id":"p1","title":"Mug","creatives":[
      {"creative_id":"a","image":"a.png","impressions":1000,"clicks":12},
      {"creative_id":"b","image_hash":"0123456789abcdef","impressions":1200,"clicks":30}]}])");
  fuzz("click csv", [&](uint64_t i) {
    SplitMix64 rng{0xC5F + i};
    const std::string text = mutateBytes(csv, rng, csv.size());
    beginInput("click csv", i, text);
    parseClickCsv(text, "clicks.csv");
  });
  fuzz("click json", [&](uint64_t i) {
    SplitMix64 rng{0x750 + i};
    const std::string text = mutateJson(json, rng);
    beginInput("click json", i, text);
    parseClickJson(text, "clicks.json");
  });
}

TEST(LoaderMutations, ImageHeaders) {
  cv::Mat img(48, 64, CV_8UC4);
  cv::randu(img, 0, 255);
  for (const std::string ext : {".png", ".jpg", ".webp"}) {
    const auto encoded = encodeImage(img, ext, 90);
    const std::string base(encoded.begin(), encoded.end());
    fuzz("image " + ext, [&](uint64_t i) {
      SplitMix64 rng{0x1A6E + i};
      const std::string bytes = mutateBytes(base, rng, 256);  // the header and the first segments
      beginInput("image " + ext, i, "(binary)");
      const cv::Mat m = decodeImage(std::vector<unsigned char>(bytes.begin(), bytes.end()), "shot" + ext);
      EXPECT_LE(uint64_t(m.cols) * m.rows, kMaxImagePixels);
    });
  }
}

}  // namespace
}  // namespace caig
