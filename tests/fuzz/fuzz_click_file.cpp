// libFuzzer entry: arbitrary bytes as a click export, read as CSV and as CAIG / CreativeRanking
// JSON (core/clicks/click_data.h). Anything but a parsed file or a ClickImportError is a bug.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/clicks/click_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const bool json : {false, true}) {
    try {
      const caig::ClickFile f = json ? caig::parseClickJson(text, "fuzz.json") : caig::parseClickCsv(text, "fuzz.csv");
      for (const auto& row : f.rows) {
        if (row.clicks < 0 || row.impressions < row.clicks) __builtin_trap();
      }
    } catch (const caig::ClickImportError&) {
    }
  }
  return 0;
}
