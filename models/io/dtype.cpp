#include "models/io/dtype.h"

#include <array>
#include <utility>

namespace caig::io {
namespace {

struct DTypeRow {
  DType dtype;
  const char* name;
  std::size_t size;
};

constexpr std::array<DTypeRow, 10> kRows{{
    {DType::F64, "F64", 8},
    {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8},
    {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},
    {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
}};

const DTypeRow& row(DType dtype) {
  for (const auto& r : kRows) {
    if (r.dtype == dtype) return r;
  }
  return kRows[0];  // unreachable: every enumerator has a row
}

}  // namespace

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const auto& r : kRows) {
    if (name == r.name) return r.dtype;
  }
  return std::nullopt;
}

const char* dtypeName(DType dtype) { return row(dtype).name; }
std::size_t dtypeSize(DType dtype) { return row(dtype).size; }

}  // namespace caig::io
