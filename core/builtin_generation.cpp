#include "core/builtin_generation.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/backdrop_renderer.h"
#include "core/image_io.h"
#include "core/project.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace caig {
namespace {
// The user's placement as the variant's params record it: null = CAIG's default.
nlohmann::json placementJson(const std::optional<PlacementOverride>& p) {
  if (!p) return nullptr;
  return {{"scale", p->scale}, {"dx", p->dx}, {"dy", p->dy}};
}
}  // namespace

std::vector<BuiltinVariant> renderBuiltinVariants(const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                                                  const std::string& category, const BuiltinRequest& request,
                                                  const std::function<bool(int, int)>& progress) {
  if (request.variants < 1 || request.variants > 64) {
    throw std::invalid_argument("the number of variants must be between 1 and 64");
  }
  const cv::Size canvas = adPreset(request.presetId).size;
  const ProductShot product = prepareProduct(shot, alpha, request.composition);
  const Layout layout = layoutProduct(
      product, canvas, productPlacement(productBox(product.alpha), canvas, request.placement, request.composition),
      request.composition);

  // The palette comes from the product as it will appear, not from its studio backdrop.
  TemplatePromptWriter writer;
  writer.styleWeights = request.styleWeights;
  const auto descriptions = writer.write(title, category, product.bgr, product.alpha, request.variants, request.seed);

  std::vector<BuiltinVariant> out;
  for (const auto& d : descriptions) {
    BuiltinVariant v{d, renderAd(d.spec, layout.product, layout.alpha), layout.alpha};
    out.push_back(std::move(v));
    if (progress && !progress(static_cast<int>(out.size()), static_cast<int>(descriptions.size()))) break;
  }
  return out;
}

std::vector<Variant> saveBuiltinVariants(Project& project, std::int64_t productId,
                                         const std::vector<BuiltinVariant>& variants, const BuiltinRequest& request) {
  std::vector<Variant> saved;
  project.store().transaction([&] {
    for (const auto& v : variants) {
      const auto png = encodeImage(v.image, ".png");
      const std::string relative = "variants/" + contentHash(png.data(), png.size()) + ".png";
      try {
        io::AtomicFile file(project.absolute(relative));
        file.write(png.data(), png.size());
        file.commit();
      } catch (const io::FileError& e) {
        throw StoreError(std::string("cannot save a variant: ") + e.what());
      }
      PromptRecord prompt{0, productId, v.description.prompt, "builtin", false};
      prompt.id = project.store().addPrompt(prompt);
      Variant record;
      record.productId = productId;
      record.promptId = prompt.id;
      record.imagePath = relative;
      record.seed = static_cast<std::int64_t>(v.description.spec.seed);
      record.paramsJson = nlohmann::json{{"engine", "builtin"},
                                         {"preset", request.presetId},
                                         {"style", v.description.styleId},
                                         {"harmony", toString(v.description.harmony)},
                                         {"requestSeed", request.seed},
                                         {"spec", toJson(v.description.spec)},
                                         {"placement", placementJson(request.placement)}}
                              .dump();
      record.id = project.store().addVariant(record);
      saved.push_back(record);
    }
  });
  return saved;
}

}  // namespace caig
