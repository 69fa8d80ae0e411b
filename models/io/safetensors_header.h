#pragma once
// The JSON header of a safetensors file, parsed and validated without touching tensor data.
//
// Layout: u64 little-endian N, then N bytes of JSON, then the data section. Each tensor entry
// names a dtype, a shape and [begin, end) offsets into the data section. A valid header
// covers the data section exactly: entries sorted by offset are contiguous from 0 to its end,
// with no hole and no overlap, and every entry's byte size equals prod(shape) * dtype size.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "models/io/dtype.h"

namespace caig::io {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;

  uint64_t byteSize() const { return end - begin; }
  int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in the order of their data offsets
  std::map<std::string, std::string> metadata;
};

// Largest header accepted, as in the reference implementation (guards against huge allocations).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Validates `json` (the N header bytes) against a data section of `dataBytes` bytes.
// Throws FormatError with a precise message on any violation; `source` names the file in it.
SafetensorsHeader parseSafetensorsHeader(std::string_view json, uint64_t dataBytes,
                                         std::string_view source = "<memory>");

// Reads the 8-byte length prefix; checks it against the file size. Returns N.
uint64_t readHeaderLength(const unsigned char* prefix8, uint64_t fileBytes,
                          std::string_view source = "<memory>");

}  // namespace caig::io
