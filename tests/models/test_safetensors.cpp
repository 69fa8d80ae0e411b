// Safetensors reading and writing: every dtype, the reference byte layout, hostile headers.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cctype>
#include <csignal>
#include <cstring>

#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "test_util.h"

namespace caig::io {
namespace {

using test::safetensorsBytes;
using test::TempDir;
using test::writeFile;

TEST(Safetensors, RoundTripsEveryDtype) {
  TempDir dir;
  NamedTensors tensors = {
      {"f64", at::randn({2, 3}, at::kDouble)},
      {"f32", at::randn({4, 5})},
      {"f16", at::randn({3, 7}).to(at::kHalf)},
      {"bf16", at::randn({7}).to(at::kBFloat16)},
      {"i64", at::arange(-5, 7, at::kLong).reshape({3, 4})},
      {"i32", at::arange(0, 9, at::kInt)},
      {"i16", at::arange(-3, 3, at::kShort)},
      {"i8", at::arange(-4, 4, at::kChar)},
      {"u8", at::arange(0, 250, 7, at::kByte)},
      {"bool", at::rand({5, 2}) > 0.5},
      {"scalar", at::scalar_tensor(3.5)},
      {"empty", at::empty({0, 4})},
      {"strided", at::randn({6, 4}).t()},  // non-contiguous input is written contiguous
  };
  saveSafetensors(dir / "all.safetensors", tensors, {{"format", "pt"}, {"note", "round trip"}});

  const auto file = SafetensorsFile::open(dir / "all.safetensors");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("note"), "round trip");
  ASSERT_EQ(file.tensors().size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    SCOPED_TRACE(name);
    const at::Tensor got = file.tensor(name);
    EXPECT_EQ(got.scalar_type(), expected.scalar_type());
    EXPECT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(at::equal(got, expected.contiguous()));
  }
  EXPECT_EQ(file.info("f16").dtype, DType::F16);
  EXPECT_EQ(file.info("f32").numel(), 20);
}

TEST(Safetensors, MatchesTheReferenceWriterByteForByte) {
  // The fixture was written in the reference layout; re-saving its tensors must reproduce it.
  const auto path = std::filesystem::path(CAIG_TEST_DATA) / "safetensors/clip_text_io.safetensors";
  const auto original = SafetensorsFile::open(path);
  NamedTensors tensors;
  for (const auto& t : original.tensors()) tensors.emplace_back(t.name, original.tensor(t.name));
  TempDir dir;
  saveSafetensors(dir / "copy.safetensors", tensors, original.metadata());
  EXPECT_EQ(test::readFile(dir / "copy.safetensors"), test::readFile(path));
}

TEST(Safetensors, TensorsAreCopyOnWriteViews) {
  TempDir dir;
  saveSafetensors(dir / "w.safetensors", {{"w", at::ones({4, 4})}});
  const std::string before = test::readFile(dir / "w.safetensors");
  {
    const auto file = SafetensorsFile::open(dir / "w.safetensors");
    at::Tensor w = file.tensor("w");
    w.mul_(3.0);  // in place: must not reach the file
    EXPECT_EQ(w.sum().item<float>(), 48.f);
    // Views of one open file share its mapping (documented); the file itself is untouched.
    EXPECT_EQ(file.tensor("w").sum().item<float>(), 48.f);
    EXPECT_EQ(SafetensorsFile::open(dir / "w.safetensors").tensor("w").sum().item<float>(), 16.f);
  }
  EXPECT_EQ(test::readFile(dir / "w.safetensors"), before);
}

TEST(Safetensors, ViewOutlivesTheFileObject) {
  TempDir dir;
  saveSafetensors(dir / "w.safetensors", {{"w", at::arange(0, 16, at::kFloat)}});
  at::Tensor view;
  { view = SafetensorsFile::open(dir / "w.safetensors").tensor("w"); }
  EXPECT_EQ(view.sum().item<float>(), 120.f);  // the mapping is kept alive by the tensor
}

TEST(Safetensors, MisalignedDataIsCopiedNotMisread) {
  // One U8 byte first puts the F32 tensor at an odd offset.
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  std::string data(9, '\0');
  const float values[2] = {1.5f, -2.25f};
  std::memcpy(&data[1], values, 8);
  TempDir dir;
  writeFile(dir / "m.safetensors", safetensorsBytes(header, data));
  const auto file = SafetensorsFile::open(dir / "m.safetensors");
  const at::Tensor b = file.tensor("b");
  EXPECT_FLOAT_EQ(b[0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(b[1].item<float>(), -2.25f);
}

struct BadHeader {
  const char* what;
  std::string header;
  std::string data;
  const char* message;  // a fragment the error must contain
};

class RejectsBadHeader : public ::testing::TestWithParam<BadHeader> {};

TEST_P(RejectsBadHeader, WithAClearError) {
  const auto& c = GetParam();
  TempDir dir;
  writeFile(dir / "bad.safetensors", safetensorsBytes(c.header, c.data));
  try {
    SafetensorsFile::open(dir / "bad.safetensors");
    FAIL() << c.what << ": accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << "error names the file";
  }
}

const std::string f32x2 = R"("dtype":"F32","shape":[2])";
INSTANTIATE_TEST_SUITE_P(
    Hostile, RejectsBadHeader,
    ::testing::Values(
        BadHeader{"not json", "{nope", "", "not valid JSON"},
        BadHeader{"array", "[1,2]", "", "does not start with '{'"},
        BadHeader{"leading space", " {}", "", "does not start with '{'"},
        BadHeader{"unknown dtype", R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x", "unsupported dtype 'F8'"},
        BadHeader{"size mismatch", "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,4]}})", "1234", "need 8 bytes"},
        BadHeader{"past end", "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]}})", "1234", "truncated"},
        BadHeader{"end before begin", "{\"a\":{" + f32x2 + R"(,"data_offsets":[8,0]}})", "12345678", "end before begin"},
        BadHeader{"overlap",
                  "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[4,12]}})",
                  std::string(12, 'x'), "overlap"},
        BadHeader{"hole", "{\"a\":{" + f32x2 + R"(,"data_offsets":[4,12]}})", std::string(12, 'x'), "hole"},
        BadHeader{"trailing bytes", "{\"a\":{" + f32x2 + R"(,"data_offsets":[0,8]}})", std::string(12, 'x'),
                  "data section has 12"},
        BadHeader{"negative dim", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "", "non-negative"},
        BadHeader{"float dim", R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "1234", "non-negative"},
        BadHeader{"overflowing shape",
                  R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", "1234", "overflows"},
        BadHeader{"huge offset", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]}})", "",
                  "end before begin"},
        BadHeader{"missing field", R"({"a":{"dtype":"F32","shape":[1]}})", "", "needs dtype, shape and data_offsets"},
        BadHeader{"unknown field", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", "a", "unknown field"},
        BadHeader{"duplicate tensor",
                  R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                  "ab", "duplicate key 'a'"},
        BadHeader{"deep nesting", R"({"a":{"dtype":"U8","shape":[[[1]]],"data_offsets":[0,1]}})", "a", "nests deeper"},
        BadHeader{"metadata not strings", R"({"__metadata__":{"n":1}})", "", "is not a string"},
        BadHeader{"entry not object", R"({"a":7})", "", "not a JSON object"},
        BadHeader{"bad utf8", "{\"\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "a", "not valid JSON"}),
    [](const ::testing::TestParamInfo<BadHeader>& param) {
      std::string n = param.param.what;
      for (auto& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
      return n;
    });

TEST(Safetensors, RejectsBadLengthPrefix) {
  TempDir dir;
  writeFile(dir / "short.safetensors", "1234");
  EXPECT_THROW(SafetensorsFile::open(dir / "short.safetensors"), FormatError);

  std::string huge(8, '\0');
  huge[7] = 0x7f;  // ~9e18 bytes of header: refused before any allocation
  writeFile(dir / "huge.safetensors", huge + "{}");
  EXPECT_THROW(SafetensorsFile::open(dir / "huge.safetensors"), FormatError);

  std::string past = test::safetensorsBytes("{}", "");
  past[0] = 100;  // claims 100 header bytes, file has 2
  writeFile(dir / "past.safetensors", past);
  EXPECT_THROW(SafetensorsFile::open(dir / "past.safetensors"), FormatError);
}

TEST(Safetensors, RejectsBoolBytesOtherThanZeroOrOne) {
  TempDir dir;
  writeFile(dir / "b.safetensors",
            safetensorsBytes(R"({"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x02", 2)));
  const auto file = SafetensorsFile::open(dir / "b.safetensors");
  EXPECT_THROW(file.tensor("b"), FormatError);
}

TEST(Safetensors, MissingFileAndMissingTensor) {
  TempDir dir;
  EXPECT_THROW(SafetensorsFile::open(dir / "absent.safetensors"), FileError);
  EXPECT_THROW(SafetensorsFile::open(dir.path()), FileError);  // a folder
  saveSafetensors(dir / "one.safetensors", {{"x", at::zeros({1})}});
  const auto file = SafetensorsFile::open(dir / "one.safetensors");
  EXPECT_THROW(file.tensor("y"), std::out_of_range);
}

TEST(Safetensors, WriterRejectsDuplicatesAndUnsupportedTypes) {
  TempDir dir;
  EXPECT_THROW(saveSafetensors(dir / "d.safetensors", {{"x", at::zeros({1})}, {"x", at::zeros({1})}}),
               std::invalid_argument);
  EXPECT_THROW(saveSafetensors(dir / "c.safetensors", {{"c", at::zeros({1}, at::kComplexFloat)}}),
               std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir / "d.safetensors"));
}

TEST(Safetensors, FailedWriteKeepsThePreviousFile) {
  // A file-size limit makes write() fail with EFBIG partway, as a full disk fails with ENOSPC.
  TempDir dir;
  const auto target = dir / "keep.safetensors";
  saveSafetensors(target, {{"old", at::ones({4})}});
  const std::string before = test::readFile(target);

  std::signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit limit = old;
  limit.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  bool threw = false;
  try {
    saveSafetensors(target, {{"new", at::ones({64, 1024})}});  // 256 KiB
  } catch (const FileError& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_TRUE(threw);
  EXPECT_EQ(test::readFile(target), before);
  EXPECT_FALSE(std::filesystem::exists(dir / "keep.safetensors.partial"));
}

}  // namespace
}  // namespace caig::io
