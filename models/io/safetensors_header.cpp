#include "models/io/safetensors_header.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig::io {
namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw FormatError("safetensors '" + std::string(source) + "': " + what);
}

uint64_t asOffset(const Json& v, std::string_view source, const std::string& ctx) {
  if (!v.is_number_unsigned()) fail(source, ctx + " must be a non-negative integer");
  return v.get<uint64_t>();
}

TensorInfo parseEntry(const std::string& name, const Json& entry, uint64_t dataBytes,
                      std::string_view source) {
  const std::string ctx = "tensor '" + name + "'";
  if (!entry.is_object()) fail(source, ctx + " is not a JSON object");
  for (const auto& [key, value] : entry.items()) {
    (void)value;
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      fail(source, ctx + " has an unknown field '" + key + "'");
    }
  }
  const auto dtypeIt = entry.find("dtype");
  const auto shapeIt = entry.find("shape");
  const auto offsetsIt = entry.find("data_offsets");
  if (dtypeIt == entry.end() || shapeIt == entry.end() || offsetsIt == entry.end()) {
    fail(source, ctx + " needs dtype, shape and data_offsets");
  }
  if (!dtypeIt->is_string()) fail(source, ctx + ": dtype must be a string");
  const auto dtypeText = dtypeIt->get<std::string>();
  const auto dtype = dtypeFromName(dtypeText);
  if (!dtype) fail(source, ctx + ": unsupported dtype '" + dtypeText + "'");

  TensorInfo info;
  info.name = name;
  info.dtype = *dtype;
  if (!shapeIt->is_array()) fail(source, ctx + ": shape must be an array");
  uint64_t bytes = dtypeSize(*dtype);
  for (const auto& dim : *shapeIt) {
    const uint64_t d = asOffset(dim, source, ctx + ": shape entry");
    if (d > static_cast<uint64_t>(INT64_MAX)) fail(source, ctx + ": shape entry too large");
    if (__builtin_mul_overflow(bytes, d, &bytes)) fail(source, ctx + ": shape overflows");
    info.shape.push_back(static_cast<int64_t>(d));
  }
  if (!offsetsIt->is_array() || offsetsIt->size() != 2) {
    fail(source, ctx + ": data_offsets must be [begin, end]");
  }
  info.begin = asOffset((*offsetsIt)[0], source, ctx + ": data_offsets begin");
  info.end = asOffset((*offsetsIt)[1], source, ctx + ": data_offsets end");
  if (info.end < info.begin) fail(source, ctx + ": data_offsets end before begin");
  if (info.end > dataBytes) {
    fail(source, ctx + ": data ends at byte " + std::to_string(info.end) +
                     " but the data section has " + std::to_string(dataBytes) +
                     " bytes (truncated file?)");
  }
  if (info.byteSize() != bytes) {
    fail(source, ctx + ": shape and dtype need " + std::to_string(bytes) +
                     " bytes but data_offsets span " + std::to_string(info.byteSize()));
  }
  return info;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t readHeaderLength(const unsigned char* prefix8, uint64_t fileBytes,
                          std::string_view source) {
  if (fileBytes < 8) fail(source, "file is shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix8[i];
  if (n > kMaxHeaderBytes) fail(source, "header length " + std::to_string(n) + " exceeds the limit");
  if (n > fileBytes - 8) {
    fail(source, "header length " + std::to_string(n) + " exceeds the file size " +
                     std::to_string(fileBytes));
  }
  return n;
}

SafetensorsHeader parseSafetensorsHeader(std::string_view json, uint64_t dataBytes,
                                         std::string_view source) {
  if (json.size() > kMaxHeaderBytes) fail(source, "header exceeds the size limit");
  if (json.empty() || json.front() != '{') fail(source, "header does not start with '{'");

  // Duplicate keys would let two readers see different tensors; the format never nests deeper
  // than {name: {shape: [..]}}.
  JsonLimits limits;
  limits.maxDepth = 3;
  limits.rejectDuplicateKeys = true;
  Json root;
  try {
    root = parseJson(json, "header", limits);
  } catch (const FormatError& e) {
    fail(source, e.what());
  }
  if (!root.is_object()) fail(source, "header is not a JSON object");

  SafetensorsHeader header;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(source, "__metadata__ must be an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(source, "__metadata__ value '" + mk + "' is not a string");
        header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parseEntry(key, value, dataBytes, source));
  }

  // Contiguity: sorted by offset, each entry starts where the previous one ended.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t cursor = 0;
  for (const auto& t : header.tensors) {
    if (t.begin != cursor) {
      fail(source, "tensor '" + t.name + "' starts at byte " + std::to_string(t.begin) +
                       " but the previous data ends at " + std::to_string(cursor) +
                       (t.begin < cursor ? " (overlap)" : " (hole)"));
    }
    cursor = t.end;
  }
  if (cursor != dataBytes) {
    fail(source, "tensors cover " + std::to_string(cursor) + " bytes but the data section has " +
                     std::to_string(dataBytes));
  }
  return header;
}

}  // namespace caig::io
