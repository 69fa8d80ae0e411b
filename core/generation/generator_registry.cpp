#include "core/generation/generator_registry.h"

#include <cmath>
#include <stdexcept>

#include "core/backdrop/builtin_generator.h"

namespace caig {

namespace {

std::vector<GeneratorKind>& kinds() {
  static std::vector<GeneratorKind> all{builtinGeneratorKind()};
  return all;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// One option's value, checked and converted to its JSON type.
nlohmann::json checkedValue(const GeneratorKind& kind, const GeneratorOption& o, const nlohmann::json& value) {
  const std::string what = kind.name + " option '" + o.key + "'";
  switch (o.type) {
    case OptionType::Integer: {
      if (!value.is_number_integer() && !(value.is_number_float() && std::floor(value.get<double>()) == value.get<double>())) {
        throw std::invalid_argument(what + " must be a whole number");
      }
      const double v = value.get<double>();
      if (v < o.min || v > o.max) {
        throw std::invalid_argument(what + " must be between " + number(o.min) + " and " + number(o.max));
      }
      const auto i = static_cast<long long>(v);
      if (o.multiple > 1 && i % o.multiple != 0) {
        throw std::invalid_argument(what + " must be a multiple of " + std::to_string(o.multiple));
      }
      return i;
    }
    case OptionType::Number: {
      if (!value.is_number()) throw std::invalid_argument(what + " must be a number");
      const double v = value.get<double>();
      if (!(v >= o.min && v <= o.max)) {
        throw std::invalid_argument(what + " must be between " + number(o.min) + " and " + number(o.max));
      }
      return v;
    }
    case OptionType::Choice: {
      if (!value.is_string()) throw std::invalid_argument(what + " must be one of its choices");
      const auto s = value.get<std::string>();
      for (const auto& c : o.choices) {
        if (c == s) return s;
      }
      std::string list;
      for (const auto& c : o.choices) list += (list.empty() ? "" : ", ") + c;
      throw std::invalid_argument("unknown " + o.key + " '" + s + "' (" + list + ")");
    }
    case OptionType::Text:
    case OptionType::Model:
    case OptionType::File:
      if (!value.is_string()) throw std::invalid_argument(what + " must be text");
      return value;
    case OptionType::LoraList: {
      if (!value.is_array()) throw std::invalid_argument(what + " must be a list of {file, weight}");
      nlohmann::json out = nlohmann::json::array();
      for (const auto& e : value) {
        if (!e.is_object() || !e.contains("file") || !e["file"].is_string() || e["file"].get<std::string>().empty()) {
          throw std::invalid_argument(what + ": every LoRA needs a \"file\"");
        }
        const nlohmann::json w = e.value("weight", nlohmann::json(1.0));
        if (!w.is_number() || !std::isfinite(w.get<double>())) {
          throw std::invalid_argument(what + ": the weight of " + e["file"].get<std::string>() + " must be a number");
        }
        out.push_back({{"file", e["file"]}, {"weight", w.get<double>()}});
      }
      return out;
    }
  }
  return value;
}

}  // namespace

const GeneratorOption* GeneratorKind::option(const std::string& key) const {
  for (const auto& o : options) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

const GeneratorOption* GeneratorKind::primaryModel() const {
  for (const auto& o : options) {
    if (o.primaryModel) return &o;
  }
  return nullptr;
}

void registerGenerator(GeneratorKind kind) {
  if (kind.name.empty() || !kind.create) throw std::invalid_argument("an engine needs a name and a create function");
  if (hasGenerator(kind.name)) throw std::invalid_argument("the engine '" + kind.name + "' is registered already");
  for (const auto& o : kind.options) {
    if (o.key.empty() || o.flag.empty()) {
      throw std::invalid_argument("engine " + kind.name + ": every option needs a key and a flag");
    }
    for (const auto& other : kinds()) {
      for (const auto& p : other.options) {
        if (p.flag == o.flag && (p.type != o.type || p.key != o.key)) {
          throw std::invalid_argument("engine " + kind.name + ": --" + o.flag + " means another option of " +
                                      other.name);
        }
      }
    }
  }
  kinds().push_back(std::move(kind));
}

const std::vector<GeneratorKind>& generatorKinds() { return kinds(); }

bool hasGenerator(const std::string& name) {
  for (const auto& k : kinds()) {
    if (k.name == name) return true;
  }
  return false;
}

const GeneratorKind& generatorKind(const std::string& name) {
  std::string known;
  for (const auto& k : kinds()) {
    if (k.name == name) return k;
    known += (known.empty() ? "" : ", ") + k.name;
  }
  throw std::invalid_argument("unknown engine '" + name + "' (this build has: " + known + ")");
}

GeneratorSettings completeSettings(const GeneratorKind& kind, const GeneratorSettings& settings) {
  if (!settings.is_null() && !settings.is_object()) throw std::invalid_argument("engine settings must be an object");
  GeneratorSettings out = nlohmann::json::object();
  if (settings.is_object()) {
    for (const auto& [key, value] : settings.items()) {
      const GeneratorOption* o = kind.option(key);
      if (!o) throw std::invalid_argument("the " + kind.name + " engine has no option '" + key + "'");
      if (!value.is_null()) out[key] = checkedValue(kind, *o, value);
    }
  }
  for (const auto& o : kind.options) {
    if (!out.contains(o.key)) out[o.key] = o.defaultValue;
  }
  if (kind.validate) kind.validate(out);
  return out;
}

BackgroundGenerator& GeneratorCache::get(const GeneratorKind& kind, const GeneratorSettings& settings) {
  if (current_ && current_->engine() == kind.name && current_->reusableFor(settings)) return *current_;
  current_.reset();  // frees the old weights before the new ones load
  current_ = kind.create(settings);
  return *current_;
}

}  // namespace caig
