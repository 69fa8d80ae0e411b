#pragma once
// A minimal ONNX reader: the graph's initializers (weights) as named tensors and its node list
// (op type, name, inputs, outputs), read straight from the protobuf wire format. Enough to
// import weights; it runs nothing. Every length and count is checked against the bytes that
// are actually there before anything is allocated, so a truncated or hostile file gets a
// FormatError naming the problem, never a crash or a huge allocation.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace caig::io {

struct OnnxNode {
  std::string name;
  std::string opType;
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;
};

struct OnnxModel {
  int64_t irVersion = 0;
  std::string producerName;
  std::string producerVersion;
  // Initializers in file order, as CPU tensors of their ONNX type (FLOAT16 stays at::kHalf
  // unless the reader is asked to widen it).
  std::vector<std::pair<std::string, at::Tensor>> initializers;
  std::vector<OnnxNode> nodes;
  std::vector<std::string> inputs;   // graph inputs (names)
  std::vector<std::string> outputs;  // graph outputs (names)
};

struct OnnxReadOptions {
  bool halfToFloat = true;  // FLOAT16 initializers become float32 (exact)
  bool readNodes = true;
};

// Parses a whole ModelProto held in memory. `source` names it in error messages.
// Throws FormatError.
OnnxModel parseOnnx(const void* data, std::size_t bytes, const OnnxReadOptions& options = {},
                    std::string_view source = "<memory>");
// Reads and parses a file. Throws FileError or FormatError.
OnnxModel readOnnxFile(const std::filesystem::path& path, const OnnxReadOptions& options = {});

// IEEE half bits -> float, exact for every value (subnormals, inf, NaN included).
float halfBitsToFloat(uint16_t bits);

}  // namespace caig::io
