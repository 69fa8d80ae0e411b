// The ONNX reader on hand-built protobuf bytes: every encoding of tensor data the reader claims
// to support, and malformed or hostile bytes that must end in a FormatError.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "models/io/errors.h"
#include "models/io/onnx.h"
#include "test_util.h"

namespace {

using caig::io::FormatError;
using caig::io::parseOnnx;

// Minimal protobuf writer for the tests.
std::string varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) s += static_cast<char>((v & 0x7f) | 0x80), v >>= 7;
  return s + static_cast<char>(v);
}
std::string key(uint32_t field, uint32_t wire) { return varint(uint64_t{field} << 3 | wire); }
std::string num(uint32_t field, uint64_t v) { return key(field, 0) + varint(v); }
std::string len(uint32_t field, const std::string& body) { return key(field, 2) + varint(body.size()) + body; }
template <typename T>
std::string bytesOf(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
std::string packedVarints(const std::vector<int64_t>& v) {
  std::string s;
  for (const auto x : v) s += varint(static_cast<uint64_t>(x));
  return s;
}

std::string tensor(const std::string& name, int type, const std::vector<int64_t>& dims, const std::string& payload) {
  return len(1, packedVarints(dims)) + num(2, static_cast<uint64_t>(type)) + len(8, name) + payload;
}
std::string model(const std::string& graphBody) { return num(1, 8) + len(2, "caig-test") + len(7, graphBody); }
std::string initializer(const std::string& t) { return len(5, t); }

caig::io::OnnxModel parse(const std::string& bytes, bool halfToFloat = true) {
  caig::io::OnnxReadOptions opt;
  opt.halfToFloat = halfToFloat;
  return parseOnnx(bytes.data(), bytes.size(), opt, "test.onnx");
}

std::string sampleModel() {
  const std::vector<float> w = {1.5f, -2.f, 0.25f, 3.f, 4.f, -0.125f};
  const std::string node = len(1, "x") + len(1, "onnx::Conv_7") + len(1, "b") + len(2, "y") +
                           len(3, "/stage1/rebnconvin/conv_s1/Conv") + len(4, "Conv");
  return model(len(1, node) + initializer(tensor("onnx::Conv_7", 1, {2, 3}, len(9, bytesOf(w)))) +
               initializer(tensor("b", 10, {2}, len(9, bytesOf(std::vector<uint16_t>{0x3c00, 0xc100})))) +
               len(11, len(1, "x")) + len(12, len(1, "y")));
}

TEST(Onnx, Fp32RawData) {
  const auto m = parse(sampleModel());
  EXPECT_EQ(m.irVersion, 8);
  EXPECT_EQ(m.producerName, "caig-test");
  ASSERT_EQ(m.initializers.size(), 2u);
  const auto& [name, t] = m.initializers[0];
  EXPECT_EQ(name, "onnx::Conv_7");
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(t, at::tensor({1.5f, -2.f, 0.25f, 3.f, 4.f, -0.125f}).view({2, 3})));
  ASSERT_EQ(m.nodes.size(), 1u);
  EXPECT_EQ(m.nodes[0].opType, "Conv");
  EXPECT_EQ(m.nodes[0].name, "/stage1/rebnconvin/conv_s1/Conv");
  EXPECT_EQ(m.nodes[0].inputs, (std::vector<std::string>{"x", "onnx::Conv_7", "b"}));
  EXPECT_EQ(m.inputs, std::vector<std::string>{"x"});
  EXPECT_EQ(m.outputs, std::vector<std::string>{"y"});
}

TEST(Onnx, FloatDataPackedAndUnpacked) {
  const std::vector<float> v = {0.5f, -7.f, 1e-3f};
  std::string unpacked;  // one fixed32 field per value
  for (const float f : v) unpacked += key(4, 5) + std::string(reinterpret_cast<const char*>(&f), 4);
  std::string dimsUnpacked = num(1, 3) + num(2, 1) + len(8, "u") + unpacked;
  const auto m = parse(model(initializer(tensor("p", 1, {3}, len(4, bytesOf(v)))) + initializer(dimsUnpacked)));
  ASSERT_EQ(m.initializers.size(), 2u);
  for (const auto& [n, t] : m.initializers) EXPECT_TRUE(at::equal(t, at::tensor({0.5f, -7.f, 1e-3f}))) << n;
}

TEST(Onnx, Fp16RawAndInt32DataToFloat) {
  // 1, -2.5, largest half, smallest subnormal, -0, inf
  const std::vector<uint16_t> h = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000, 0x7c00};
  const std::vector<float> want = {1.f, -2.5f, 65504.f, std::ldexp(1.f, -24), -0.f, INFINITY};
  std::vector<int64_t> asInt(h.begin(), h.end());
  const std::string g = initializer(tensor("raw", 10, {6}, len(9, bytesOf(h)))) +
                        initializer(tensor("i32", 10, {2, 3}, len(5, packedVarints(asInt))));
  const auto wide = parse(model(g));
  for (const auto& [n, t] : wide.initializers) {
    ASSERT_EQ(t.scalar_type(), at::kFloat) << n;
    EXPECT_EQ(std::memcmp(t.contiguous().data_ptr<float>(), want.data(), 24), 0) << n;
  }
  const auto half = parse(model(g), false);
  EXPECT_EQ(half.initializers[0].second.scalar_type(), at::kHalf);
  EXPECT_EQ(std::memcmp(half.initializers[1].second.data_ptr(), h.data(), 12), 0);
}

TEST(Onnx, HalfConversionMatchesLibTorchForEveryValue) {
  for (uint32_t b = 0; b < 65536; ++b) {
    uint16_t bits = static_cast<uint16_t>(b);
    c10::Half h;
    std::memcpy(&h, &bits, 2);
    const float ref = static_cast<float>(h), got = caig::io::halfBitsToFloat(bits);
    if (std::isnan(ref)) {
      ASSERT_TRUE(std::isnan(got)) << b;
    } else {
      ASSERT_EQ(std::memcmp(&ref, &got, 4), 0) << b;
    }
  }
}

TEST(Onnx, IntegerTypes) {
  const auto m = parse(model(initializer(tensor("i64", 7, {3}, len(7, packedVarints({-1, 0, int64_t{1} << 40})))) +
                             initializer(tensor("i8", 3, {2}, len(5, packedVarints({-3, 100})))) +
                             initializer(tensor("scalar", 6, {}, len(9, bytesOf(std::vector<int32_t>{-9}))))));
  EXPECT_TRUE(at::equal(m.initializers[0].second, at::tensor({int64_t{-1}, int64_t{0}, int64_t{1} << 40})));
  EXPECT_TRUE(at::equal(m.initializers[1].second, at::tensor({-3, 100}, at::kChar)));
  EXPECT_EQ(m.initializers[2].second.dim(), 0);
  EXPECT_EQ(m.initializers[2].second.item<int32_t>(), -9);
}

void expectFormatError(const std::string& bytes, const std::string& fragment) {
  try {
    parse(bytes);
    FAIL() << "accepted; expected an error mentioning '" << fragment << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.onnx"), std::string::npos) << e.what();
  }
}

TEST(Onnx, EveryTruncationIsRejected) {
  const std::string full = sampleModel();
  for (std::size_t n = 0; n < full.size(); ++n) EXPECT_THROW(parse(full.substr(0, n)), FormatError) << n;
}

TEST(Onnx, HostileInputsAreRejected) {
  const std::string f4 = len(9, std::string(4, '\0'));
  // Dimensions whose product would be a huge allocation, with 4 bytes of data.
  expectFormatError(model(initializer(tensor("big", 1, {1 << 30, 1 << 30, 1 << 30}, f4))), "too large");
  expectFormatError(model(initializer(tensor("big", 1, {int64_t{1} << 40, 1 << 20}, f4))), "elements but holds");
  expectFormatError(model(initializer(tensor("neg", 1, {-1}, f4))), "negative dimension");
  expectFormatError(model(initializer(tensor("short", 1, {2}, f4))), "declares 2 elements but holds 4 raw bytes");
  expectFormatError(model(initializer(tensor("s", 8, {1}, f4))), "unsupported tensor data_type 8");
  expectFormatError(model(initializer(tensor("ext", 1, {1}, num(14, 1)))), "external data");
  expectFormatError(model(initializer(tensor("d", 1, {1}, f4)) + initializer(tensor("d", 1, {1}, f4))), "duplicate");
  expectFormatError(model(initializer(tensor("both", 1, {1}, f4 + len(4, std::string(4, '\0'))))), "both raw_data");
  // A length prefix far beyond the buffer, an over-long varint, a group wire type, no graph.
  expectFormatError(num(1, 8) + key(7, 2) + varint(uint64_t{1} << 62), "claims");
  expectFormatError(num(1, 8) + key(1, 0) + std::string(11, '\xff'), "varint");
  expectFormatError(num(1, 8) + key(7, 3), "wire type 3");
  expectFormatError(num(1, 8), "no graph");
  expectFormatError(std::string("\x00\x01", 2), "invalid field key");
  expectFormatError(model(initializer(tensor("r", 1, std::vector<int64_t>(17, 1), f4))), "rank");
}

TEST(Onnx, RandomCorruptionNeverCrashes) {
  const std::string full = sampleModel();
  std::mt19937 rng(1234);
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string b = full;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    try {
      parse(b);
    } catch (const FormatError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 100);
}

TEST(Onnx, ReadsFiles) {
  caig::test::TempDir dir;
  caig::test::writeFile(dir / "m.onnx", sampleModel());
  EXPECT_EQ(caig::io::readOnnxFile(dir / "m.onnx").initializers.size(), 2u);
  EXPECT_THROW(caig::io::readOnnxFile(dir / "missing.onnx"), caig::io::FileError);
}

}  // namespace
