// libFuzzer entry: arbitrary bytes through the one JSON reader (models/io/json_file.h) with the
// default limits and with the safetensors header's strict ones. Anything but a value or a
// FormatError (a crash, a sanitizer report, a hang on deep nesting) is a bug.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "models/io/errors.h"
#include "models/io/json_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  caig::io::JsonLimits strict;
  strict.maxDepth = 3;
  strict.rejectDuplicateKeys = true;
  for (const auto& limits : {caig::io::JsonLimits{}, strict}) {
    try {
      const auto j = caig::io::parseJson(text, "fuzz.json", limits);
      (void)j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const caig::io::FormatError&) {
    }
  }
  (void)caig::io::parseJsonOrDiscarded(text);
  return 0;
}
