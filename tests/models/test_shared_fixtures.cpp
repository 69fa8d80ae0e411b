// Every safetensors file of the shared reference fixtures loads, and matches its
// `.keys.txt` listing (name, dtype, shape) exactly. Runs where ../shared/fixtures exists
// (developers' machines and CI); a bare clone reports it as skipped.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "models/io/checkpoint.h"

namespace caig::io {
namespace {

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The listings use torch's dtype names.
std::string torchName(DType d) {
  switch (d) {
    case DType::F64: return "float64";
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::I64: return "int64";
    case DType::I32: return "int32";
    case DType::I16: return "int16";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::BOOL: return "bool";
  }
  return "?";
}

TEST(SharedFixtures, EverySafetensorsFileLoadsAndMatchesItsListing) {
  const std::filesystem::path root = CAIG_SHARED_FIXTURES;
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << "no shared fixtures at " << root;
  int files = 0, listed = 0, tensors = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(entry.path().string());
    const auto file = SafetensorsFile::open(entry.path());
    ++files;
    for (const auto& t : file.tensors()) {
      const at::Tensor x = file.tensor(t.name);
      ASSERT_EQ(x.numel(), t.numel());
      if (x.is_floating_point()) {
        ASSERT_TRUE(x.isfinite().all().item<bool>()) << t.name;
      }
      ++tensors;
    }
    std::ifstream keys(entry.path().string() + ".keys.txt");
    if (!keys) continue;
    ++listed;
    std::string line;
    std::size_t lines = 0;
    while (std::getline(keys, line)) {
      if (line.empty()) continue;
      ++lines;
      std::istringstream fields(line);
      std::string name, dtype, shape;
      std::getline(fields, name, '\t');
      std::getline(fields, dtype, '\t');
      std::getline(fields, shape);
      ASSERT_TRUE(file.contains(name)) << name;
      EXPECT_EQ(torchName(file.info(name).dtype), dtype) << name;
      EXPECT_EQ(shapeText(file.info(name).shape), shape) << name;
    }
    EXPECT_EQ(lines, file.tensors().size());
  }
  std::printf("[fixtures] %d safetensors files, %d tensors, %d checked against .keys.txt\n", files, tensors, listed);
  EXPECT_GE(files, 20);
}

}  // namespace
}  // namespace caig::io
