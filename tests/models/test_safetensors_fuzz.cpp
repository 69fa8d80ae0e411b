// Randomised mutation of safetensors headers and whole files: every input is either accepted
// as a header that really is valid, or rejected with FormatError. Nothing else may happen:
// no crash, no other exception, no huge allocation. (tests/fuzz has the libFuzzer harness.)

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>

#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "test_util.h"

namespace caig::io {
namespace {

// Seeds: real headers plus hand-made ones exercising every dtype and metadata.
std::vector<std::pair<std::string, uint64_t>> seedHeaders() {
  std::vector<std::pair<std::string, uint64_t>> seeds;
  const std::string file = test::readFile(std::filesystem::path(CAIG_TEST_DATA) / "safetensors/clip_text_io.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(file[i]);
  seeds.emplace_back(file.substr(8, n), file.size() - 8 - n);
  seeds.emplace_back(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"BOOL","shape":[4],"data_offsets":[12,16]},"c":{"dtype":"I64","shape":[],"data_offsets":[16,24]}})",
      24);
  seeds.emplace_back(R"({"e":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]}})", 0);
  return seeds;
}

// Independent check of what an accepted header promises.
void expectValid(const SafetensorsHeader& h, uint64_t dataBytes) {
  uint64_t cursor = 0;
  for (const auto& t : h.tensors) {
    ASSERT_EQ(t.begin, cursor);
    ASSERT_LE(t.end, dataBytes);
    uint64_t bytes = dtypeSize(t.dtype);
    for (int64_t d : t.shape) {
      ASSERT_GE(d, 0);
      bytes *= static_cast<uint64_t>(d);
    }
    ASSERT_EQ(bytes, t.end - t.begin);
    cursor = t.end;
  }
  ASSERT_EQ(cursor, dataBytes);
}

std::string mutate(std::string s, std::mt19937_64& rng) {
  static const char* tokens[] = {"{", "}", "[", "]", ",", ":", "\"", "-1", "0", "1e9", "18446744073709551616",
                                 "9223372036854775807", "null", "true", "\"F32\"", "\"dtype\"", "\"shape\"",
                                 "\"data_offsets\"", "\"__metadata__\"", "\\u0000", "\xff", "[[[[", " "};
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t pos = rng() % s.size();
    switch (rng() % 6) {
      case 0: s[pos] = static_cast<char>(rng() & 0xff); break;                    // flip a byte
      case 1: s.erase(pos, 1 + rng() % 8); break;                                 // delete
      case 2: s.insert(pos, tokens[rng() % (sizeof tokens / sizeof *tokens)]); break;  // insert a token
      case 3: s.resize(pos); break;                                               // truncate
      case 4:                                                                     // change a digit
        for (std::size_t i = pos; i < s.size(); ++i) {
          if (std::isdigit(static_cast<unsigned char>(s[i]))) {
            s[i] = static_cast<char>('0' + rng() % 10);
            break;
          }
        }
        break;
      case 5: s.insert(pos, s.substr(rng() % s.size(), rng() % 64)); break;       // duplicate a span
    }
  }
  return s;
}

TEST(SafetensorsFuzz, MutatedHeadersAreRejectedOrValid) {
  std::mt19937_64 rng(20261128);
  const auto seeds = seedHeaders();
  int accepted = 0, rejected = 0;
  constexpr int kRuns = 20000;
  for (int i = 0; i < kRuns; ++i) {
    const auto& [seed, dataBytes] = seeds[i % seeds.size()];
    const std::string header = mutate(seed, rng);
    // The data size is mutated too, so that offsets past the end are exercised.
    const uint64_t data = (rng() % 4 == 0) ? dataBytes + (rng() % 16) - 8 : dataBytes;
    try {
      const auto parsed = parseSafetensorsHeader(header, data);
      expectValid(parsed, data);
      ++accepted;
    } catch (const FormatError&) {
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "unexpected exception type for mutated header #" << i << ": " << e.what();
    }
  }
  std::printf("[fuzz] %d mutated headers: %d rejected with FormatError, %d accepted and valid\n", kRuns, rejected,
              accepted);
  EXPECT_GT(rejected, kRuns * 9 / 10);
}

TEST(SafetensorsFuzz, MutatedFilesOpenOrFailCleanly) {
  test::TempDir dir;
  saveSafetensors(dir / "seed.safetensors", {{"w", at::randn({8, 4})}, {"b", at::arange(0, 6, at::kLong)},
                                             {"m", at::rand({3}) > 0.5}, {"h", at::randn({5}).to(at::kHalf)}},
                  {{"format", "pt"}});
  const std::string seed = test::readFile(dir / "seed.safetensors");
  std::mt19937_64 rng(7);
  int opened = 0, rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = seed;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = rng() % bytes.size();
      if (rng() % 3 == 0) {
        bytes.resize(pos);  // truncation, including inside the length prefix
      } else {
        bytes[pos] = static_cast<char>(rng() & 0xff);
      }
      if (bytes.empty()) break;
    }
    test::writeFile(dir / "m.safetensors", bytes);
    try {
      const auto file = SafetensorsFile::open(dir / "m.safetensors");
      for (const auto& t : file.tensors()) {
        try {
          (void)file.tensor(t.name).sum();  // touches every byte of the view
        } catch (const FormatError&) {
          // a BOOL byte that is not 0/1
        }
      }
      ++opened;
    } catch (const FormatError&) {
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "unexpected exception for mutated file #" << i << ": " << e.what();
    }
  }
  std::printf("[fuzz] 2000 mutated files: %d rejected, %d opened (mutations in tensor data)\n", rejected, opened);
  EXPECT_GT(rejected, 0);
  EXPECT_GT(opened, 0);
}

}  // namespace
}  // namespace caig::io
