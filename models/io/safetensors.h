#pragma once
// Reading and writing safetensors files as LibTorch tensors.
//
// Reading maps the file copy-on-write: tensors are zero-copy CPU views that keep the mapping
// alive, and writing to them never touches the file. Views of one open file share memory:
// clone() a tensor before changing it in place if other readers of that file need the original. Writing goes to a temporary file that
// replaces the target only once every byte is on disk, so a full disk or a crash leaves any
// previous file intact.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/io/safetensors_header.h"

namespace caig::io {

at::ScalarType toScalarType(DType dtype);
DType fromScalarType(at::ScalarType type);  // throws std::invalid_argument for unsupported types

class SafetensorsFile {
 public:
  // Maps and validates the file. Throws FileError (cannot open/map) or FormatError (bad bytes).
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  uint64_t fileBytes() const;

  bool contains(std::string_view name) const;
  const TensorInfo& info(std::string_view name) const;  // throws std::out_of_range
  // CPU tensor over the file's bytes; copied only when the offset is misaligned for the dtype.
  at::Tensor tensor(std::string_view name) const;

 private:
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, std::size_t> index_;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Writes tensors (any device, made contiguous CPU) in the reference layout: metadata first,
// entries ordered by dtype size (largest first) then name, header padded with spaces to 8 bytes.
// Throws std::invalid_argument (duplicate names, unsupported dtype) or FileError (I/O).
void saveSafetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                     const std::map<std::string, std::string>& metadata = {});

}  // namespace caig::io
