#include "core/generation/ad_frames.h"

#include <cmath>
#include <set>
#include <stdexcept>

#include "core/generation/composition.h"
#include "core/generation/generator_registry.h"
#include "core/image/image_io.h"
#include "core/project/export.h"
#include "core/project/project.h"
#include "models/io/json_file.h"

namespace caig {

std::string toString(FrameMode mode) {
  switch (mode) {
    case FrameMode::Draw: return "draw";
    case FrameMode::Outpaint: return "outpaint";
    case FrameMode::Fit: return "fit";
  }
  return "draw";
}

FrameMode parseFrameMode(const std::string& name) {
  if (name == "draw") return FrameMode::Draw;
  if (name == "outpaint") return FrameMode::Outpaint;
  if (name == "fit") return FrameMode::Fit;
  throw std::invalid_argument("unknown frame mode '" + name + "' (draw, outpaint or fit)");
}

CopySpace parseCopySpace(const std::string& name) {
  if (name == "none") return {};
  if (name == "top") return {kCopySpace, 0.0};
  if (name == "bottom") return {0.0, kCopySpace};
  throw std::invalid_argument("unknown room for copy '" + name + "' (none, top or bottom)");
}

bool sameAspect(cv::Size a, cv::Size b) {
  if (a.width <= 0 || a.height <= 0 || b.width <= 0 || b.height <= 0) return false;
  const double ra = double(a.width) / a.height, rb = double(b.width) / b.height;
  return std::abs(ra / rb - 1.0) <= 0.005;
}

namespace {

// The size a variant was made at: its recorded "size", else its image file's.
cv::Size variantSize(const ExportItem& item) {
  const nlohmann::json params = io::parseJsonOrDiscarded(item.paramsJson);
  if (params.is_object()) {
    const auto s = params.find("size");
    if (s != params.end() && s->is_array() && s->size() == 2 && (*s)[0].is_number_integer() &&
        (*s)[1].is_number_integer()) {
      return {(*s)[0].get<int>(), (*s)[1].get<int>()};
    }
  }
  return loadImage(item.image).size();
}

}  // namespace

AdFrames::AdFrames(const Project& project, const std::vector<ExportItem>& items,
                   const std::vector<std::string>& presetIds, CopySpace copy, FrameMode mode) {
  if (mode == FrameMode::Fit) return;
  const bool moveProduct = copy.top > 0 || copy.bottom > 0;
  std::set<std::string> drawnNoted;  // engines whose variants are drawn though outpainting was asked
  std::map<std::int64_t, std::vector<Variant>> variantsOf;
  std::map<std::int64_t, std::vector<PromptRecord>> promptsOf;
  for (std::size_t index = 0; index < items.size(); ++index) {
    const ExportItem& item = items[index];
    const std::string who = "variant " + std::to_string(item.variantId);
    try {
      if (!item.productId) throw std::invalid_argument("it belongs to no product");
      if (!variantsOf.count(item.productId)) {
        variantsOf[item.productId] = project.store().variants(item.productId);
        promptsOf[item.productId] = project.store().prompts(item.productId);
      }
      const Variant* variant = nullptr;
      for (const auto& v : variantsOf[item.productId]) {
        if (v.id == item.variantId) variant = &v;
      }
      if (!variant) throw std::invalid_argument("it is not in the project");
      std::optional<PromptRecord> prompt;
      for (const auto& p : promptsOf[item.productId]) {
        if (variant->promptId && p.id == *variant->promptId) prompt = p;
      }
      const GenerationRequest base = repeatRequest(*variant, prompt);
      const cv::Size own = variantSize(item);
      const bool outpaint = mode == FrameMode::Outpaint && generatorKind(base.engine).inpaints;
      bool anyDrawn = false;
      for (const auto& presetId : presetIds) {
        if (!moveProduct && sameAspect(own, adPreset(presetId).size)) continue;
        Frame frame{item.productId, base, {}, {}, 0.0, 0.0};
        frame.request.presetId = presetId;
        if (moveProduct || outpaint) {  // an outpainted frame's own room for copy places the source in it
          frame.request.composition.copyTop = copy.top;
          frame.request.composition.copyBottom = copy.bottom;
        }
        if (outpaint) {
          frame.outpaintFrom = item.image;
          frame.sourcePlacement = base.placement;
          frame.sourceCopyTop = base.composition.copyTop;
          frame.sourceCopyBottom = base.composition.copyBottom;
        } else if (mode == FrameMode::Outpaint && drawnNoted.insert(base.engine).second) {
          notes_.push_back(generatorKind(base.engine).label +
                           ": its variants are drawn again for each size, not outpainted (the engine paints whole "
                           "backgrounds)");
        }
        anyDrawn = true;
        requests_[{index, presetId}] = std::move(frame);
      }
      if (anyDrawn && !products_.count(item.productId)) {
        const auto product = project.store().product(item.productId);
        if (!product) throw std::invalid_argument("its product is gone");
        ProductShot p{loadImage(project.absolute(product->imagePath)), project.cutout(item.productId), product->title,
                      product->category};
        if (p.alpha.empty()) throw std::invalid_argument("its product has no cutout");
        products_.emplace(item.productId, std::move(p));
      }
    } catch (const std::exception& e) {
      for (const auto& presetId : presetIds) requests_.erase({index, presetId});
      notes_.push_back(who + " is fitted to each size, not drawn again: " + e.what());
    }
  }
}

std::vector<std::string> AdFrames::engines() const {
  std::set<std::string> names;
  for (const auto& [key, frame] : requests_) names.insert(frame.request.engine);
  return {names.begin(), names.end()};
}

ExportFrame AdFrames::draw(GenerationEngines& engines, std::size_t index, const std::string& presetId,
                           const std::atomic<bool>* cancel) const {
  const auto it = requests_.find({index, presetId});
  if (it == requests_.end()) return {};
  const Frame& frame = it->second;
  const ProductShot& p = products_.at(frame.productId);
  GenerationEngines noRanking = engines;  // a frame is not a new variant: nothing to rank
  noRanking.ranker = nullptr;
  GenerationInput input = prepareGeneration(p.shot, p.alpha, p.title, p.category, frame.request);
  if (!frame.outpaintFrom.empty()) {
    input.outpaint = OutpaintSource{loadImage(frame.outpaintFrom), frame.sourcePlacement, frame.sourceCopyTop,
                                    frame.sourceCopyBottom};
  }
  const GenerationOutcome outcome = runGeneration(noRanking, input, {}, cancel);
  if (outcome.cancelled || outcome.variants.empty()) throw std::runtime_error("export cancelled");
  return {outcome.variants.front().image, input.outpaint ? "outpainted" : "drawn"};
}

}  // namespace caig
