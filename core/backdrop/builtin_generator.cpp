#include "core/backdrop/builtin_generator.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/backdrop/backdrop_renderer.h"

namespace caig {

namespace {

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

const TemplatePromptWriter& styleLibrary() {
  static const TemplatePromptWriter writer;
  return writer;
}

class BuiltinBackdropGenerator : public BackgroundGenerator {
 public:
  std::string engine() const override { return "builtin"; }
  std::string modelId() const override { return "builtin"; }
  std::string describe(const GeneratorSettings&) const override { return "procedural backdrops"; }
  cv::Size workingSize(cv::Size adSize, const GeneratorSettings&) const override { return adSize; }
  bool reusableFor(const GeneratorSettings&) const override { return true; }

  GeneratedBackground generate(const BackgroundRequest& r, const GeneratorSettings&, const BackgroundStep& onStep,
                               const std::atomic<bool>* cancel) override {
    GeneratedBackground out;
    if (cancel && cancel->load()) {
      out.cancelled = true;
      return out;
    }
    BackgroundDescription d;
    if (r.plan.is_object() && r.plan.contains("spec")) {  // the planner's own prompt, drawn as planned
      d.spec = backdropSpecFromJson(r.plan["spec"]);
      d.styleId = r.plan.value("style", "");
      d.harmony = parseHarmony(r.plan.value("harmony", "neutral"));
    } else {
      d = builtinPlanForPrompt(r.prompt, r.title.empty() ? "product" : r.title, r.category, r.layout.product,
                               r.layout.alpha);
    }
    d.spec.seed = r.seed;  // the variant's seed drives the textures, grain and bokeh
    out.image = renderAd(d.spec, r.layout.product, r.layout.alpha, r.copyBottom);
    if (onStep) onStep(1, 1, {});
    out.record = {{"spec", toJson(d.spec)}, {"style", d.styleId}, {"harmony", toString(d.harmony)}};
    return out;
  }
};

}  // namespace

GeneratorKind builtinGeneratorKind() {
  GeneratorKind k;
  k.name = "builtin";
  k.label = "Built-in backdrops (procedural)";
  k.planKeys = {"spec", "style", "harmony"};
  k.create = [](const GeneratorSettings&) { return std::make_unique<BuiltinBackdropGenerator>(); };
  return k;
}

BackgroundDescription builtinPlanForPrompt(const std::string& prompt, const std::string& title,
                                           const std::string& category, const cv::Mat& productBgr,
                                           const cv::Mat& productAlpha) {
  const TemplatePromptWriter& base = styleLibrary();
  std::string text;
  for (const char c : prompt) text += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::map<std::string, int> score;
  int best = 0;
  for (const auto& id : base.styleIds()) {
    std::stringstream words(id);
    std::string w;
    int s = 0;
    while (std::getline(words, w, '-'))
      if (w.size() >= 3 && text.find(w) != std::string::npos) ++s;
    score[id] = s;
    best = std::max(best, s);
  }
  TemplatePromptWriter writer = base;
  if (best > 0)
    for (const auto& [id, s] : score) writer.styleWeights[id] = s == best ? 1.0 : 0.0;
  auto d = writer.write(title, category, productBgr, productAlpha, 1, fnv1a(prompt) & 0xFFFFFFFFFFull);
  if (d.empty()) throw std::runtime_error("the template planner wrote no description");
  d.front().prompt = prompt;
  return d.front();
}

}  // namespace caig
