#pragma once
// Command-line text that the studio stores or prints (titles, categories, prompts) must be UTF-8;
// CLI11 refuses anything else while parsing, before a job starts (core/base/utf8.h).

#include <CLI/CLI.hpp>
#include <string>

#include "core/base/utf8.h"

namespace caig::cli {

inline CLI::Validator utf8Text() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const std::size_t at = firstInvalidUtf8(value);
        if (at == std::string::npos) return {};
        return "not valid UTF-8 text (byte " + std::to_string(at + 1) + "); use a UTF-8 terminal or file";
      },
      "UTF-8");
}

}  // namespace caig::cli
