#include "models/io/onnx.h"
#include "models/io/json_file.h"

#include <ATen/Functions.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <unordered_set>

#include "models/io/errors.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "raw_data is little-endian; big-endian hosts need swapping");

namespace caig::io {
namespace {

// Protobuf itself refuses messages over 2 GiB; so do we (weights beyond that use external data).
constexpr std::size_t kMaxOnnxBytes = std::size_t{2} << 30;
constexpr std::size_t kMaxRank = 16;

enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t value = 0;             // varint / fixed payload
  const uint8_t* data = nullptr;  // length-delimited payload
  std::size_t size = 0;
  std::string_view text() const { return {reinterpret_cast<const char*>(data), size}; }
};

// One message level of the wire format. `base` is the start of the file, for offsets in errors.
class Reader {
 public:
  Reader(const uint8_t* begin, std::size_t size, const uint8_t* base, std::string_view source, const char* what)
      : p_(begin), end_(begin + size), base_(base), source_(source), what_(what) {}

  bool done() const { return p_ == end_; }

  Field next() {
    Field f;
    const uint64_t key = varint();
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    if (f.number == 0 || key >> 32) fail("invalid field key " + std::to_string(key));
    switch (f.wire) {
      case kVarint: f.value = varint(); break;
      case kFixed64: f.value = fixed(8); break;
      case kFixed32: f.value = fixed(4); break;
      case kLen: {
        const uint64_t len = varint();
        if (len > static_cast<uint64_t>(end_ - p_))
          fail("field " + std::to_string(f.number) + " claims " + std::to_string(len) + " bytes but only " +
               std::to_string(end_ - p_) + " remain");
        f.data = p_;
        f.size = static_cast<std::size_t>(len);
        p_ += len;
        break;
      }
      default: fail("unsupported wire type " + std::to_string(f.wire) + " in field " + std::to_string(f.number));
    }
    return f;
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ == end_) fail("truncated varint");
      const uint8_t b = *p_++;
      if (shift == 63 && b > 1) fail("varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }

  [[noreturn]] void fail(const std::string& msg) const {
    throw FormatError(std::string(source_) + ": ONNX " + what_ + " at byte " + std::to_string(p_ - base_) + ": " + msg);
  }

 private:
  uint64_t fixed(int n) {
    if (end_ - p_ < n) fail("truncated fixed" + std::to_string(8 * n) + " value");
    uint64_t v = 0;
    std::memcpy(&v, p_, static_cast<std::size_t>(n));
    p_ += n;
    return v;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* base_;
  std::string_view source_;
  const char* what_;
};

Reader sub(const Field& f, const uint8_t* base, std::string_view source, const char* what) {
  return Reader(f.data, f.size, base, source, what);
}

// A repeated scalar field arrives either packed (one length-delimited run) or one value per field.
template <typename Decode>
void repeated(const Field& f, uint32_t scalarWire, Reader& parent, const uint8_t* base, std::string_view source,
              Decode&& decode) {
  if (f.wire == scalarWire) {
    decode(f.value);
    return;
  }
  if (f.wire != kLen) parent.fail("field " + std::to_string(f.number) + " has the wrong wire type");
  if (scalarWire == kVarint) {
    Reader r(f.data, f.size, base, source, "packed field");
    while (!r.done()) decode(r.varint());
    return;
  }
  const std::size_t width = scalarWire == kFixed32 ? 4 : 8;
  if (f.size % width) parent.fail("packed field " + std::to_string(f.number) + " is not a whole number of values");
  for (std::size_t i = 0; i < f.size; i += width) {
    uint64_t v = 0;
    std::memcpy(&v, f.data + i, width);
    decode(v);
  }
}

struct TypeInfo {
  at::ScalarType type;
  std::size_t size;
  enum Source { Float, Int32, Int64, Double } typed;
};

TypeInfo typeInfo(int64_t onnxType, Reader& r) {
  switch (onnxType) {
    case 1: return {at::kFloat, 4, TypeInfo::Float};
    case 2: return {at::kByte, 1, TypeInfo::Int32};
    case 3: return {at::kChar, 1, TypeInfo::Int32};
    case 5: return {at::kShort, 2, TypeInfo::Int32};
    case 6: return {at::kInt, 4, TypeInfo::Int32};
    case 7: return {at::kLong, 8, TypeInfo::Int64};
    case 9: return {at::kBool, 1, TypeInfo::Int32};
    case 10: return {at::kHalf, 2, TypeInfo::Int32};  // int32_data holds the 16-bit patterns
    case 11: return {at::kDouble, 8, TypeInfo::Double};
    case 16: return {at::kBFloat16, 2, TypeInfo::Int32};
    default: r.fail("unsupported tensor data_type " + std::to_string(onnxType));
  }
}

std::pair<std::string, at::Tensor> parseTensor(Reader r, const uint8_t* base, std::string_view source,
                                               const OnnxReadOptions& opt) {
  std::string name;
  std::vector<int64_t> dims;
  int64_t dataType = 0;
  const uint8_t* raw = nullptr;
  std::size_t rawSize = 0;
  bool hasRaw = false;
  std::vector<uint64_t> typed;  // every typed value as its 64 wire bits; grows only with bytes present
  int typedFields = 0;
  while (!r.done()) {
    const Field f = r.next();
    switch (f.number) {
      case 1:
        repeated(f, kVarint, r, base, source, [&](uint64_t v) {
          if (dims.size() == kMaxRank) r.fail("tensor rank above " + std::to_string(kMaxRank));
          dims.push_back(static_cast<int64_t>(v));
        });
        break;
      case 2: dataType = static_cast<int64_t>(f.value); break;
      case 8:
        if (f.wire != kLen) r.fail("tensor name has the wrong wire type");
        name = std::string(f.text());
        break;
      case 9:
        if (f.wire != kLen) r.fail("raw_data has the wrong wire type");
        raw = f.data, rawSize = f.size, hasRaw = true;
        break;
      case 4: ++typedFields, repeated(f, kFixed32, r, base, source, [&](uint64_t v) { typed.push_back(v); }); break;
      case 5:
      case 7: ++typedFields, repeated(f, kVarint, r, base, source, [&](uint64_t v) { typed.push_back(v); }); break;
      case 10: ++typedFields, repeated(f, kFixed64, r, base, source, [&](uint64_t v) { typed.push_back(v); }); break;
      case 3: r.fail("segmented tensors are not supported");
      case 6: r.fail("string tensors are not supported");
      case 13: r.fail("tensor '" + name + "' uses external data, which is not supported");
      case 14:
        if (f.value != 0) r.fail("tensor '" + name + "' uses external data, which is not supported");
        break;
      default: break;  // doc_string and fields of later ONNX versions
    }
  }
  const TypeInfo ti = typeInfo(dataType, r);
  // numel and byte size with overflow checks, then compared with what the file really holds.
  uint64_t numel = 1;
  for (const int64_t d : dims) {
    if (d < 0) r.fail("tensor '" + name + "' has a negative dimension");
    if (d != 0 && numel > (uint64_t{1} << 62) / static_cast<uint64_t>(d)) r.fail("tensor '" + name + "' is too large");
    numel *= static_cast<uint64_t>(d);
  }
  if (numel > (uint64_t{1} << 62) / ti.size) r.fail("tensor '" + name + "' is too large");
  const uint64_t bytes = numel * ti.size;
  if (hasRaw && typedFields) r.fail("tensor '" + name + "' has both raw_data and typed data");
  if (hasRaw ? rawSize != bytes : typed.size() != numel)
    r.fail("tensor '" + name + "' declares " + std::to_string(numel) + " elements but holds " +
           (hasRaw ? std::to_string(rawSize) + " raw bytes" : std::to_string(typed.size()) + " values"));

  const bool widen = opt.halfToFloat && ti.type == at::kHalf;
  at::Tensor t = at::empty(dims, at::TensorOptions().dtype(widen ? at::kFloat : ti.type));
  auto* out = static_cast<uint8_t*>(t.data_ptr());
  for (uint64_t i = 0; i < numel; ++i) {
    uint64_t v = 0;  // the element's bits, from raw_data or from the typed field
    if (hasRaw) {
      std::memcpy(&v, raw + i * ti.size, ti.size);
    } else if (ti.typed == TypeInfo::Float) {
      v = typed[i] & 0xffffffffu;
    } else {
      v = typed[i];  // int32/int64 varints, double bits; narrowed by the copy below (little-endian)
    }
    if (widen) {
      const float x = halfBitsToFloat(static_cast<uint16_t>(v));
      std::memcpy(out + i * 4, &x, 4);
    } else {
      std::memcpy(out + i * ti.size, &v, ti.size);
    }
  }
  if (ti.type == at::kBool && !hasRaw) t = t.ne(0);  // normalise non-0/1 bytes
  return {std::move(name), std::move(t)};
}

OnnxNode parseNode(Reader r) {
  OnnxNode n;
  while (!r.done()) {
    const Field f = r.next();
    if (f.number >= 1 && f.number <= 4 && f.wire != kLen) r.fail("node field has the wrong wire type");
    if (f.number == 1) n.inputs.emplace_back(f.text());
    if (f.number == 2) n.outputs.emplace_back(f.text());
    if (f.number == 3) n.name = std::string(f.text());
    if (f.number == 4) n.opType = std::string(f.text());
  }
  return n;
}

std::string valueInfoName(Reader r) {
  while (!r.done()) {
    const Field f = r.next();
    if (f.number == 1 && f.wire == kLen) return std::string(f.text());
  }
  return {};
}

void parseGraph(Reader r, const uint8_t* base, std::string_view source, const OnnxReadOptions& opt, OnnxModel& m) {
  std::unordered_set<std::string> seen;
  while (!r.done()) {
    const Field f = r.next();
    if ((f.number == 1 || f.number == 5 || f.number == 11 || f.number == 12) && f.wire != kLen)
      r.fail("graph field " + std::to_string(f.number) + " has the wrong wire type");
    if (f.number == 1 && opt.readNodes) m.nodes.push_back(parseNode(sub(f, base, source, "node")));
    if (f.number == 5) {
      auto t = parseTensor(sub(f, base, source, "initializer"), base, source, opt);
      if (!seen.insert(t.first).second) r.fail("duplicate initializer '" + t.first + "'");
      m.initializers.push_back(std::move(t));
    }
    if (f.number == 11) m.inputs.push_back(valueInfoName(sub(f, base, source, "graph input")));
    if (f.number == 12) m.outputs.push_back(valueInfoName(sub(f, base, source, "graph output")));
  }
}

}  // namespace

float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalise
    exp = 113;
    while (!(mant & 0x400)) mant <<= 1, --exp;
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

OnnxModel parseOnnx(const void* data, std::size_t bytes, const OnnxReadOptions& options, std::string_view source) {
  const auto* base = static_cast<const uint8_t*>(data);
  if (bytes > kMaxOnnxBytes) throw FormatError(std::string(source) + ": ONNX model above 2 GiB (external data is not supported)");
  Reader r(base, bytes, base, source, "model");
  OnnxModel m;
  bool hasGraph = false;
  while (!r.done()) {
    const Field f = r.next();
    if (f.number == 1 && f.wire == kVarint) m.irVersion = static_cast<int64_t>(f.value);
    if (f.number == 2 && f.wire == kLen) m.producerName = std::string(f.text());
    if (f.number == 3 && f.wire == kLen) m.producerVersion = std::string(f.text());
    if (f.number == 7) {
      if (f.wire != kLen || hasGraph) r.fail("malformed or repeated graph field");
      hasGraph = true;
      parseGraph(sub(f, base, source, "graph"), base, source, options, m);
    }
  }
  if (!hasGraph) throw FormatError(std::string(source) + ": not an ONNX model (no graph)");
  if (m.irVersion <= 0) throw FormatError(std::string(source) + ": not an ONNX model (no ir_version)");
  return m;
}

OnnxModel readOnnxFile(const std::filesystem::path& path, const OnnxReadOptions& options) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw FileError(path.string() + ": " + ec.message());
  if (size > kMaxOnnxBytes) throw FormatError(path.string() + ": ONNX model above 2 GiB (external data is not supported)");
  requireRegularFile(path, "ONNX model");
  std::ifstream in(path, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) throw FileError(path.string() + ": cannot read");
  return parseOnnx(bytes.data(), bytes.size(), options, path.string());
}

}  // namespace caig::io
