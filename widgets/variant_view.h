#pragma once
// A variant as the studio shows it: the stored record with its prompt, image path and the facts
// the store has no column for (the render time; the ranking's standard error before schema 5),
// which live in one JSON setting per product ("studio.variants.<productId>").

#include <QString>
#include <map>
#include <optional>
#include <vector>

#include "core/project/project_store.h"

namespace caig {
class Project;
}

namespace caig::ui {

struct VariantView {
  caig::Variant variant;
  QString prompt;
  QString imagePath;  // absolute
  QString engine;     // from the parameters ("builtin")
  QString style;      // the built-in engine's backdrop style; empty for other engines
  std::optional<double> stdError;       // of the BT score
  std::optional<double> renderSeconds;  // per variant, from its generation job
};

struct VariantFacts {
  std::optional<double> renderSeconds;
};

std::vector<VariantView> loadVariantViews(caig::Project& project, qint64 productId);
// Merges `facts` (by variant id) into the product's setting; keeps the other variants' facts.
void storeVariantFacts(caig::ProjectStore& store, qint64 productId, const std::map<qint64, VariantFacts>& facts);

}  // namespace caig::ui
