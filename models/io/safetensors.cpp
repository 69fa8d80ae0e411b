#include "models/io/safetensors.h"

#include <ATen/Functions.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace caig::io {

struct SafetensorsFile::Mapping {
  void* base = nullptr;
  uint64_t size = 0;
  uint64_t dataOffset = 0;  // 8 + header length
  ~Mapping() {
    if (base) munmap(base, size);
  }
  const unsigned char* data() const {
    return static_cast<const unsigned char*>(base) + dataOffset;
  }
};

at::ScalarType toScalarType(DType dtype) {
  switch (dtype) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  throw std::logic_error("unhandled dtype");
}

DType fromScalarType(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default:
      throw std::invalid_argument(std::string("safetensors cannot store dtype ") +
                                  c10::toString(type));
  }
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string source = path.string();
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw FileError("cannot open '" + source + "': " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError("'" + source + "' is not a regular file (a folder, pipe or device); refusing to read it");
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<uint64_t>(st.st_size);
  if (mapping->size < 8) {
    ::close(fd);
    throw FormatError("safetensors '" + source + "': file is shorter than the 8-byte header length");
  }
  // Private + writable: tensors may be modified in place without ever reaching the file.
  void* base = mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) throw FileError("cannot map '" + source + "': " + std::strerror(errno));
  mapping->base = base;

  const auto* bytes = static_cast<const unsigned char*>(base);
  const uint64_t headerBytes = readHeaderLength(bytes, mapping->size, source);
  mapping->dataOffset = 8 + headerBytes;
  std::string_view json(reinterpret_cast<const char*>(bytes + 8), headerBytes);

  SafetensorsFile file;
  file.path_ = path;
  file.header_ = parseSafetensorsHeader(json, mapping->size - mapping->dataOffset, source);
  file.mapping_ = std::move(mapping);
  for (std::size_t i = 0; i < file.header_.tensors.size(); ++i) {
    file.index_.emplace(file.header_.tensors[i].name, i);
  }
  return file;
}

uint64_t SafetensorsFile::fileBytes() const { return mapping_->size; }

bool SafetensorsFile::contains(std::string_view name) const {
  return index_.count(std::string(name)) != 0;
}

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    throw std::out_of_range("no tensor '" + std::string(name) + "' in '" + path_.string() + "'");
  }
  return header_.tensors[it->second];
}

at::Tensor SafetensorsFile::tensor(std::string_view name) const {
  const TensorInfo& ti = info(name);
  const auto options = at::TensorOptions().dtype(toScalarType(ti.dtype)).device(at::kCPU);
  auto* ptr = const_cast<unsigned char*>(mapping_->data()) + ti.begin;
  if (ti.dtype == DType::BOOL) {
    // A byte other than 0/1 is undefined behaviour for torch's bool kernels.
    for (uint64_t i = 0; i < ti.byteSize(); ++i) {
      if (ptr[i] > 1) {
        throw FormatError("safetensors '" + path_.string() + "': tensor '" + ti.name +
                          "' holds a BOOL byte other than 0 or 1");
      }
    }
  }
  const bool aligned = reinterpret_cast<std::uintptr_t>(ptr) % dtypeSize(ti.dtype) == 0;
  if (!aligned || ti.byteSize() == 0) {
    at::Tensor copy = at::empty(ti.shape, options);
    if (ti.byteSize()) std::memcpy(copy.data_ptr(), ptr, ti.byteSize());
    return copy;
  }
  std::shared_ptr<Mapping> keepAlive = mapping_;
  return at::from_blob(
      ptr, ti.shape, [keepAlive](void*) mutable { keepAlive.reset(); }, options);
}

void saveSafetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                     const std::map<std::string, std::string>& metadata) {
  struct Entry {
    const std::string* name;
    at::Tensor data;
    DType dtype;
  };
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("'__metadata__' is a reserved name");
    if (!seen.insert(name).second) {
      throw std::invalid_argument("duplicate tensor name '" + name + "'");
    }
    if (!t.defined()) throw std::invalid_argument("tensor '" + name + "' is undefined");
    entries.push_back({&name, t.to(at::kCPU).contiguous(), fromScalarType(t.scalar_type())});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    const auto sa = dtypeSize(a.dtype), sb = dtypeSize(b.dtype);
    return sa != sb ? sa > sb : *a.name < *b.name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& e : entries) {
    const uint64_t bytes = e.data.numel() * dtypeSize(e.dtype);
    nlohmann::ordered_json entry;
    entry["dtype"] = dtypeName(e.dtype);
    entry["shape"] = e.data.sizes().vec();
    entry["data_offsets"] = {offset, offset + bytes};
    header[*e.name] = std::move(entry);
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');

  unsigned char prefix[8];
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);

  AtomicFile out(path);
  out.write(prefix, 8);
  out.write(json.data(), json.size());
  for (const auto& e : entries) {
    out.write(e.data.data_ptr(), e.data.numel() * dtypeSize(e.dtype));
  }
  out.commit();
}

}  // namespace caig::io
