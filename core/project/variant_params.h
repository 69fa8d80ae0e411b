#pragma once
// What a variant's parameters (its params JSON) record about it, for naming and showing it: read
// in one place, leniently (a missing field, one of another type or malformed JSON reads as empty).

#include <string>

#include "core/project/project_store.h"

namespace caig {

struct VariantParams {
  std::string prompt;  // the text it was made with ("prompt"); empty: see the prompt record
  std::string engine;  // "builtin", "sd15", ...
  std::string style;   // the built-in engine's backdrop style ("marble-podium"); empty for other engines
};

VariantParams variantParams(const Variant& variant);

}  // namespace caig
