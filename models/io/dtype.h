#pragma once
// Element types of the safetensors format, independent of LibTorch so that header parsing
// (and its fuzzing) needs no Torch.

#include <cstddef>
#include <optional>
#include <string_view>

namespace caig::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// "F32" -> DType::F32; nullopt for names the project does not support.
std::optional<DType> dtypeFromName(std::string_view name);
const char* dtypeName(DType dtype);
std::size_t dtypeSize(DType dtype);

}  // namespace caig::io
