#include "core/project/variant_params.h"

#include <nlohmann/json.hpp>

#include "models/io/json_file.h"

namespace caig {

VariantParams variantParams(const Variant& variant) {
  VariantParams out;
  const auto params = io::parseJsonOrDiscarded(variant.paramsJson);
  if (!params.is_object()) return out;
  const auto text = [&](const char* key) {
    const auto it = params.find(key);
    return it != params.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  out.prompt = text("prompt");
  out.engine = text("engine");
  out.style = text("style");
  return out;
}

}  // namespace caig
