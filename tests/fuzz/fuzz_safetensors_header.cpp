// libFuzzer entry: arbitrary bytes as a whole safetensors file (length prefix, header, data).
// Anything but success or FormatError is a bug.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "models/io/errors.h"
#include "models/io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const uint64_t n = caig::io::readHeaderLength(data, size);
    const std::string_view json(reinterpret_cast<const char*>(data + 8), n);
    const auto header = caig::io::parseSafetensorsHeader(json, size - 8 - n);
    uint64_t cursor = 0;
    for (const auto& t : header.tensors) {
      if (t.begin != cursor || t.end > size - 8 - n) __builtin_trap();
      cursor = t.end;
    }
  } catch (const caig::io::FormatError&) {
  }
  return 0;
}
