#include "widgets/variant_view.h"
#include "models/io/json_file.h"

#include <nlohmann/json.hpp>

#include "core/project/project.h"
#include "core/project/variant_params.h"

namespace caig::ui {

namespace {
std::string factsKey(qint64 productId) { return "studio.variants." + std::to_string(productId); }

nlohmann::json readFacts(const caig::ProjectStore& store, qint64 productId) {
  const auto text = store.setting(factsKey(productId));
  if (!text) return nlohmann::json::object();
  // Facts are informative only: an unreadable setting is treated as empty, never an error.
  auto parsed = io::parseJsonOrDiscarded(*text);
  return parsed.is_object() ? parsed : nlohmann::json::object();
}

std::optional<double> number(const nlohmann::json& j, const char* key) {
  if (j.contains(key) && j.at(key).is_number()) return j.at(key).get<double>();
  return std::nullopt;
}
}  // namespace

std::vector<VariantView> loadVariantViews(caig::Project& project, qint64 productId) {
  std::map<int64_t, std::string> prompts;
  for (const auto& p : project.store().prompts(productId)) prompts[p.id] = p.text;
  const nlohmann::json facts = readFacts(project.store(), productId);
  std::vector<VariantView> out;
  for (const auto& v : project.store().variants(productId)) {
    VariantView view;
    view.variant = v;
    if (v.promptId && prompts.count(*v.promptId)) view.prompt = QString::fromStdString(prompts[*v.promptId]);
    view.imagePath = QString::fromStdString(project.absolute(v.imagePath).string());
    const caig::VariantParams params = caig::variantParams(v);
    view.engine = QString::fromStdString(params.engine);
    view.style = QString::fromStdString(params.style);
    // The text it was made with wins over the prompt record, which the user may have edited since.
    if (!params.prompt.empty()) view.prompt = QString::fromStdString(params.prompt);
    const std::string id = std::to_string(v.id);
    if (facts.contains(id)) {
      view.stdError = number(facts[id], "stdError");  // rankings stored before schema 5
      view.renderSeconds = number(facts[id], "renderSeconds");
    }
    if (v.stdError) view.stdError = v.stdError;
    out.push_back(std::move(view));
  }
  return out;
}

void storeVariantFacts(caig::ProjectStore& store, qint64 productId, const std::map<qint64, VariantFacts>& facts) {
  nlohmann::json all = readFacts(store, productId);
  for (const auto& [id, f] : facts) {
    auto& entry = all[std::to_string(id)];
    if (!entry.is_object()) entry = nlohmann::json::object();
    if (f.renderSeconds) entry["renderSeconds"] = *f.renderSeconds;
  }
  store.setSetting(factsKey(productId), all.dump());
}

}  // namespace caig::ui
