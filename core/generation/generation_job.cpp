#include "core/generation/generation_job.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <random>
#include <set>
#include <stdexcept>

#include "core/cutout/cutout.h"
#include "core/generation/generator_registry.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/prompts/prompt_writer.h"
#include "core/ranking/ctr_ranker.h"
#include "core/base/utf8.h"
#include "models/io/json_file.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace caig {

namespace fs = std::filesystem;

std::string toString(SeedMode mode) {
  switch (mode) {
    case SeedMode::Fixed: return "fixed";
    case SeedMode::Increment: return "increment";
    case SeedMode::Random: return "random";
  }
  return "increment";
}

SeedMode parseSeedMode(const std::string& name) {
  if (name == "fixed") return SeedMode::Fixed;
  if (name == "increment") return SeedMode::Increment;
  if (name == "random") return SeedMode::Random;
  throw std::invalid_argument("unknown seed mode '" + name + "' (fixed, increment or random)");
}

std::uint64_t variantSeed(SeedMode mode, std::uint64_t seed, int index) {
  switch (mode) {
    case SeedMode::Fixed: return seed;
    case SeedMode::Increment: return seed + static_cast<std::uint64_t>(index);
    case SeedMode::Random: {
      // 32 bits: every seed stays reproducible by any tool that takes a torch / numpy seed.
      static thread_local std::mt19937_64 rng{std::random_device{}()};
      return rng() & 0xffffffffULL;
    }
  }
  return seed;
}

namespace {

constexpr int kMaxVariantsPerJob = 256;

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

nlohmann::json placementJson(const std::optional<PlacementOverride>& p) {
  if (!p) return nullptr;
  return {{"scale", p->scale}, {"dx", p->dx}, {"dy", p->dy}};
}

std::optional<PlacementOverride> placementFromJson(const nlohmann::json& params) {
  const auto p = params.find("placement");
  if (p == params.end() || !p->is_object()) return std::nullopt;
  return PlacementOverride{p->value("scale", 1.0), p->value("dx", 0.0), p->value("dy", 0.0)};
}

void checkRequest(GenerationRequest& r) {
  if (r.prompts < 1 || r.prompts > kMaxVariantsPerJob) throw std::invalid_argument("the number of prompts must be between 1 and 256");
  if (r.variantsPerPrompt < 1 || r.variantsPerPrompt > 64) {
    throw std::invalid_argument("variants per prompt must be between 1 and 64");
  }
  if (static_cast<long long>(r.prompts) * r.variantsPerPrompt > kMaxVariantsPerJob) {
    throw std::invalid_argument("at most 256 variants per job");
  }
  adPreset(r.presetId);  // throws CompositionError for an unknown ad size
  defaultPlacement({0, 0, 1, 1}, {100, 100}, r.composition);  // and for a bad fill or room for copy
  for (const auto& p : r.givenPrompts) requireUtf8(p.text, "the prompt");
  r.settings = completeSettings(generatorKind(r.engine), r.settings);
  for (const auto& [name, value] : r.settings.items()) {
    if (value.is_string()) requireUtf8(value.get<std::string>(), "the " + name + " setting");
  }
}

// The product's shot as the rest of the job sees it: BGR(A) 8-bit.
cv::Mat toBgr8(const cv::Mat& image, const char* what) {
  if (image.empty()) throw std::invalid_argument(std::string("no ") + what + " image");
  if (image.depth() != CV_8U) throw std::invalid_argument(std::string("the ") + what + " image must be 8-bit");
  cv::Mat bgr;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR); break;
    case 3: bgr = image; break;
    case 4: cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR); break;
    default: throw std::invalid_argument(std::string("the ") + what + " image has an unsupported channel count");
  }
  return bgr;
}

// `r` scaled by (sx, sy) about the origin, then moved by `offset`: its corners rounded, so that
// rectangles sharing an edge still share it, at least one pixel each way.
cv::Rect scaleRect(const cv::Rect& r, double sx, double sy, cv::Point offset = {}) {
  const int x0 = offset.x + static_cast<int>(std::lround(r.x * sx));
  const int y0 = offset.y + static_cast<int>(std::lround(r.y * sy));
  const int x1 = offset.x + static_cast<int>(std::lround(r.br().x * sx));
  const int y1 = offset.y + static_cast<int>(std::lround(r.br().y * sy));
  return {x0, y0, std::max(1, x1 - x0), std::max(1, y1 - y0)};
}

// `p`, a placement on a canvas of `from` pixels, carried onto the rectangle `to` of another canvas.
Placement carryPlacement(const Placement& p, cv::Size from, const cv::Rect& to) {
  return {p.source, scaleRect(p.target, double(to.width) / from.width, double(to.height) / from.height, to.tl())};
}

// The band of an outpainted source that is painted again so that it joins the new frame without a
// seam: two latent cells of an SD working image, on the sides that face new frame.
constexpr int kOutpaintSeam = 16;

cv::Rect insideSeam(const cv::Rect& r, cv::Size frame, int seam) {
  const int left = r.x > 0 ? seam : 0, top = r.y > 0 ? seam : 0;
  const int right = r.br().x < frame.width ? seam : 0, bottom = r.br().y < frame.height ? seam : 0;
  return {r.x + left, r.y + top, std::max(0, r.width - left - right), std::max(0, r.height - top - bottom)};
}

// `kept` over `painted` inside `rect`, ramped from the painted frame to the kept image across the
// seam band of each side that faces new frame; 1 (the kept pixels exactly) inside the band.
cv::Mat blendKept(const cv::Mat& painted, const cv::Mat& kept, const cv::Rect& rect, int seam) {
  cv::Mat out = painted.clone();
  const cv::Size frame = painted.size();
  const bool left = rect.x > 0, top = rect.y > 0, right = rect.br().x < frame.width,
             bottom = rect.br().y < frame.height;
  auto ramp = [&](int d) { return seam <= 0 ? 1.0 : std::clamp((d + 0.5) / seam, 0.0, 1.0); };
  for (int y = 0; y < rect.height; ++y) {
    const double wy = std::min(top ? ramp(y) : 1.0, bottom ? ramp(rect.height - 1 - y) : 1.0);
    const auto* k = kept.ptr<cv::Vec3b>(y);
    auto* o = out.ptr<cv::Vec3b>(rect.y + y) + rect.x;
    for (int x = 0; x < rect.width; ++x) {
      const double w = std::min({wy, left ? ramp(x) : 1.0, right ? ramp(rect.width - 1 - x) : 1.0});
      if (w >= 1.0) {
        o[x] = k[x];
      } else {
        for (int c = 0; c < 3; ++c) o[x][c] = cv::saturate_cast<uchar>(w * k[x][c] + (1.0 - w) * o[x][c]);
      }
    }
  }
  return out;
}

}  // namespace

cv::Rect outpaintRect(cv::Size source, cv::Size frame, double copyTop, double copyBottom) {
  if (source.width <= 0 || source.height <= 0 || frame.width <= 0 || frame.height <= 0) {
    throw std::invalid_argument("outpainting needs a source and a frame that are not empty");
  }
  const int top = static_cast<int>(std::lround(copyTop * frame.height));
  const int rows = std::max(1, frame.height - top - static_cast<int>(std::lround(copyBottom * frame.height)));
  const double s = std::min(double(frame.width) / source.width, double(rows) / source.height);
  const int w = std::clamp(static_cast<int>(std::lround(source.width * s)), 1, frame.width);
  const int h = std::clamp(static_cast<int>(std::lround(source.height * s)), 1, rows);
  return {(frame.width - w) / 2, top + (rows - h) / 2, w, h};
}

// ---- Prepare ------------------------------------------------------------------------------

std::vector<JobPrompt> choosePrompts(const std::vector<JobPrompt>& given, const std::vector<PromptRecord>& records,
                                     const std::vector<std::int64_t>& used, int count, bool productPrompts) {
  std::vector<JobPrompt> chosen;
  std::set<std::string> texts;
  for (JobPrompt p : given) {
    if (!texts.insert(p.text).second) continue;
    if (p.promptId == 0) {  // the product's record of the same text, when there is one
      for (const auto& r : records) {
        if (r.text == p.text) {
          p.promptId = r.id;
          p.source = r.source;
          break;
        }
      }
    }
    chosen.push_back(std::move(p));
  }
  if (!productPrompts) return chosen;
  const std::set<std::int64_t> usedIds(used.begin(), used.end());
  std::vector<const PromptRecord*> candidates;
  for (const auto& r : records) {
    if (r.pinned || !usedIds.count(r.id)) candidates.push_back(&r);
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const PromptRecord* a, const PromptRecord* b) {
    return a->pinned != b->pinned ? a->pinned : a->id > b->id;
  });
  for (const PromptRecord* r : candidates) {
    if (static_cast<int>(chosen.size()) >= count) break;
    if (!texts.insert(r->text).second) continue;
    chosen.push_back({r->text, r->source, r->id, nullptr});
  }
  return chosen;
}

GenerationInput prepareGeneration(const Project& project, std::int64_t productId, GenerationRequest request) {
  checkRequest(request);
  const auto product = project.store().product(productId);
  if (!product) throw StoreError("no product " + std::to_string(productId) + " in " + project.dir().string());
  GenerationInput in;
  in.productId = productId;
  in.title = product->title;
  in.category = product->category;
  in.shot = loadImage(project.absolute(product->imagePath));
  in.alpha = project.cutout(productId);
  if (!request.placementGiven) request.placement = project.store().placement(productId);
  std::vector<std::int64_t> used;
  for (const auto& v : project.store().variants(productId)) {
    if (v.promptId) used.push_back(*v.promptId);
    in.storedVariants.emplace_back(v.id, project.absolute(v.imagePath));
  }
  const auto records = project.store().prompts(productId);
  in.prompts = choosePrompts(request.givenPrompts, records, used, request.prompts, request.productPrompts);
  const std::set<std::int64_t> usedIds(used.begin(), used.end());
  for (const auto& r : records) {
    if (!r.pinned && usedIds.count(r.id)) in.usedPromptTexts.insert(r.text);
  }
  TemplatePromptWriter learnt;  // what the project's style rounds learnt (caig pcpo --engine builtin)
  if (loadProjectStyleWeights(project, learnt)) in.styleWeights = learnt.styleWeights;
  in.request = std::move(request);
  return in;
}

GenerationInput prepareGeneration(const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                                  const std::string& category, GenerationRequest request) {
  checkRequest(request);
  requireUtf8(title, "the product title");
  requireUtf8(category, "the product category");
  GenerationInput in;
  in.title = title;
  in.category = category;
  in.shot = shot;
  in.alpha = alpha;
  in.prompts = choosePrompts(request.givenPrompts, {}, {}, request.prompts, false);
  in.request = std::move(request);
  return in;
}

GenerationInput prepareGivenCanvas(const cv::Mat& image, const cv::Mat& mask, const cv::Mat& control,
                                   GenerationRequest request) {
  if (request.givenPrompts.empty()) throw std::invalid_argument("the plain inpainting job needs at least one prompt");
  request.prompts = static_cast<int>(request.givenPrompts.size());
  checkRequest(request);
  const cv::Mat bgr = toBgr8(image, "init");
  const cv::Size size = bgr.size();
  if (mask.empty()) throw std::invalid_argument("no mask image");
  if (mask.size() != size) {
    throw std::invalid_argument(cv::format("the mask is %dx%d, the init image %dx%d: they must match", mask.cols,
                                           mask.rows, size.width, size.height));
  }
  if (mask.depth() != CV_8U) throw std::invalid_argument("the mask image must be 8-bit");
  cv::Mat m;
  if (mask.channels() == 1) {
    m = mask;
  } else {
    cv::extractChannel(mask, m, 0);
  }
  Layout layout;
  layout.canvas = size;
  layout.placement = {cv::Rect({0, 0}, size), cv::Rect({0, 0}, size)};
  layout.product = bgr;
  layout.mask = m >= 128;
  layout.alpha = 255 - layout.mask;  // where the init image is kept
  if (control.empty()) {
    // The edges of what is kept, as the composition does for a product.
    cv::Mat grey, edges;
    cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
    cv::Canny(grey, edges, request.composition.cannyLow, request.composition.cannyHigh,
              request.composition.cannyAperture);
    edges.setTo(0, layout.mask);
    cv::cvtColor(edges, layout.control, cv::COLOR_GRAY2BGR);
  } else {
    if (control.size() != size) {
      throw std::invalid_argument(cv::format("the control image is %dx%d, the init image %dx%d: they must match",
                                             control.cols, control.rows, size.width, size.height));
    }
    layout.control = toBgr8(control, "control");
  }
  GenerationInput in;
  in.shot = bgr;
  in.alpha = layout.alpha;
  in.prompts = choosePrompts(request.givenPrompts, {}, {}, request.prompts, false);
  in.givenCanvas = std::move(layout);
  in.request = std::move(request);
  return in;
}

// ---- Run ----------------------------------------------------------------------------------

GenerationOutcome runGeneration(GenerationEngines& engines, const GenerationInput& input,
                               const GenerationObserver& observe, const std::atomic<bool>* cancel) {
  const auto jobStart = std::chrono::steady_clock::now();
  const GenerationRequest& request = input.request;
  const CompositionParams& comp = request.composition;
  const GeneratorKind& kind = generatorKind(request.engine);
  const GeneratorSettings& settings = request.settings;
  auto emit = [&](GenerationEvent e) {
    if (observe) observe(e);
  };
  GenerationOutcome result;
  result.engine = kind.name;

  // Cutout on demand (never for a given canvas: its mask says what is kept).
  cv::Mat alpha = input.alpha;
  if (!input.givenCanvas) {
    if (alpha.empty()) {
      if (!engines.cutout) throw std::invalid_argument("the product has no cutout and no cutout engine was given");
      CutoutEngine& cutter = engines.cutout();
      emit({GenerationEvent::Stage::CuttingOut, 0.0, 0, 0, 0, 0, cutter.name(), {}});
      alpha = cutter.alpha(input.shot);
      result.newCutout = alpha;
      result.cutoutEngine = cutter.name();
    } else if (!input.alphaSource.empty()) {
      result.newCutout = alpha;
      result.cutoutEngine = input.alphaSource;
    }
  }
  ProductShot product;
  if (input.givenCanvas) {
    product = {input.givenCanvas->product, input.givenCanvas->alpha, {}};
  } else {
    product = prepareProduct(input.shot, alpha, comp);  // throws CompositionError without a product
  }

  // Prompts: the chosen ones, then the planner's (palette from the product as it will appear).
  result.prompts = input.prompts;
  const int missing = request.prompts - static_cast<int>(result.prompts.size());
  if (missing > 0 && !input.givenCanvas) {
    emit({GenerationEvent::Stage::WritingPrompts, 0.02, 0, 0, 0, 0, "builtin", {}});
    TemplatePromptWriter planner;
    planner.styleWeights = input.styleWeights;
    // Written as a list that does not depend on its length: asking for more and skipping what
    // the product used already keeps the seed's choice otherwise the same.
    std::set<std::string> taken = input.usedPromptTexts;
    for (const auto& p : result.prompts) taken.insert(p.text);
    const int ask = missing + static_cast<int>(taken.size());
    auto written = planner.write(input.title, input.category, product.bgr, product.alpha, ask, request.seed);
    std::vector<BackgroundDescription> fresh, again;  // again: used before, only when fresh runs out
    for (auto& d : written) (taken.insert(d.prompt).second ? fresh : again).push_back(std::move(d));
    fresh.insert(fresh.end(), again.begin(), again.end());
    for (int k = 0; k < missing && k < static_cast<int>(fresh.size()); ++k) {
      const auto& d = fresh[static_cast<std::size_t>(k)];
      nlohmann::json plan{{"spec", toJson(d.spec)}, {"style", d.styleId}, {"harmony", toString(d.harmony)}};
      result.prompts.push_back({d.prompt, "builtin", 0, std::move(plan)});
    }
  }
  if (result.prompts.empty()) throw std::invalid_argument("no prompts to generate from");
  const int total = static_cast<int>(result.prompts.size()) * request.variantsPerPrompt;
  if (total > kMaxVariantsPerJob) throw std::invalid_argument("at most 256 variants per job");

  // The engine, loaded once per cache.
  GeneratorCache local;
  GeneratorCache& cache = engines.generators ? *engines.generators : local;
  emit({GenerationEvent::Stage::LoadingEngine, 0.03, 0, 0, 0, 0, kind.name, {}});
  BackgroundGenerator& generator = cache.get(kind, settings);
  result.modelId = generator.modelId();
  result.device = generator.device();
  result.description = generator.describe(settings);
  emit({GenerationEvent::Stage::EngineLoaded, 0.05, 0, 0, 0, 0, result.device, {}});

  // The generator sees the product at its working size; the ad gets the original pixels laid out
  // again at the full ad size (never the generator's rescaled copy of them).
  const cv::Size adSize = input.givenCanvas ? input.givenCanvas->canvas : adPreset(request.presetId).size;
  const cv::Size work = input.givenCanvas ? adSize : generator.workingSize(adSize, settings);
  Layout workLayout, adLayout;
  // Outpainting: where the source ad lies on the frame, at the ad size and at the working size.
  cv::Rect keptAd, keptWork;
  cv::Mat keptSource;  // the source at keptAd's size
  int seamAd = 0;
  if (input.givenCanvas) {
    workLayout = adLayout = *input.givenCanvas;
  } else if (input.outpaint) {
    if (!kind.inpaints) {
      throw std::invalid_argument("the " + kind.name +
                                  " engine paints whole backgrounds and cannot outpaint: draw the frame again instead");
    }
    const cv::Mat source = toBgr8(input.outpaint->image, "outpaint source");
    CompositionParams sourceComp = comp;
    sourceComp.copyTop = input.outpaint->copyTop;
    sourceComp.copyBottom = input.outpaint->copyBottom;
    const cv::Rect box = productBox(product.alpha);
    const Placement onSource = productPlacement(box, source.size(), input.outpaint->placement, sourceComp);
    keptAd = outpaintRect(source.size(), adSize, comp.copyTop, comp.copyBottom);
    const double kx = double(work.width) / adSize.width, ky = double(work.height) / adSize.height;
    keptWork = scaleRect(keptAd, kx, ky) & cv::Rect({0, 0}, work);
    adLayout = layoutProduct(product, adSize, carryPlacement(onSource, source.size(), keptAd), comp);
    workLayout = layoutProduct(product, work, carryPlacement(onSource, source.size(), keptWork), comp);
    // The engine sees the source where it is kept (the product as the layout has it on top) and
    // repaints the rest of the frame and a seam band inside the source's inner edges.
    cv::Mat sourceWork, layer = workLayout.product.clone();
    cv::resize(source, sourceWork, keptWork.size(), 0, 0, cv::INTER_AREA);
    sourceWork.copyTo(layer(keptWork));
    workLayout.product.copyTo(layer, workLayout.alpha > 0);
    workLayout.product = layer;
    workLayout.mask(insideSeam(keptWork, work, kOutpaintSeam)).setTo(0);
    if (keptAd.size() == source.size()) {
      keptSource = source;
    } else {
      cv::resize(source, keptSource, keptAd.size(), 0, 0,
                 keptAd.area() < source.size().area() ? cv::INTER_AREA : cv::INTER_CUBIC);
    }
    seamAd = static_cast<int>(std::lround(kOutpaintSeam / std::min(kx, ky)));
  } else {
    const cv::Rect box = productBox(product.alpha);
    adLayout = layoutProduct(product, adSize, productPlacement(box, adSize, request.placement, comp), comp);
    workLayout = work == adSize ? adLayout
                                : layoutProduct(product, work, productPlacement(box, work, request.placement, comp), comp);
  }

  const double generatingEnd = engines.ranker && !input.givenCanvas ? 0.95 : 1.0;
  std::set<std::string> warned;  // each warning once per job
  for (int index = 0; index < total; ++index) {
    if (cancel && cancel->load()) {
      result.cancelled = true;
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    GeneratedVariant v;
    v.promptIndex = index / request.variantsPerPrompt;
    v.prompt = result.prompts[static_cast<std::size_t>(v.promptIndex)];
    v.seed = variantSeed(request.seedMode, request.seed, index);
    v.workingSize = work;
    const BackgroundRequest task{workLayout,  adSize,         v.prompt.text, v.prompt.plan,   v.seed,
                                 input.title, input.category, comp.copyTop,  comp.copyBottom, request.previews};
    auto onStep = [&](int step, int steps, const cv::Mat& preview) {
      GenerationEvent e{GenerationEvent::Stage::Generating, 0, index, total, step, steps, {}, {}};
      e.fraction = 0.05 + (generatingEnd - 0.05) * (index + double(step) / std::max(1, steps)) / total;
      if (!preview.empty()) {
        if (preview.size() == work) {
          e.preview = preview;
        } else {
          cv::resize(preview, e.preview, work, 0, 0, cv::INTER_LINEAR);
        }
      }
      emit(e);
    };
    GeneratedBackground out = generator.generate(task, settings, onStep, cancel);
    if (out.cancelled) {
      result.cancelled = true;
      break;
    }
    if (out.image.size() != work || out.image.type() != CV_8UC3) {
      throw std::runtime_error("the " + kind.name + " engine returned an image of the wrong size or type");
    }
    v.background = out.image;
    if (input.givenCanvas) {
      v.image = v.background;
      if (!kind.inpaints) {
        v.image = v.background.clone();
        adLayout.product.copyTo(v.image, adLayout.mask == 0);
      }
    } else {
      cv::Mat background = v.background;
      if (work != adSize) {
        // INTER_CUBIC upscales a 512 px background to 1080+ px without the ringing of Lanczos.
        cv::resize(v.background, background, adSize, 0, 0, work.area() < adSize.area() ? cv::INTER_CUBIC : cv::INTER_AREA);
      }
      if (!input.outpaint) {
        v.image = pasteBack(background, adLayout, comp);
      } else if (keptSource.size() == input.outpaint->image.size()) {
        // Kept at its own scale, the source holds the product's pixels already (its soft edge
        // blended once): it goes over the pasted frame, so the ranked pixels stay exactly.
        v.image = blendKept(pasteBack(background, adLayout, comp), keptSource, keptAd, seamAd);
      } else {
        // Rescaled, it holds resampled product pixels: the shot's own are pasted over it.
        v.image = pasteBack(blendKept(background, keptSource, keptAd, seamAd), adLayout, comp);
      }
    }
    v.canvasAlpha = adLayout.alpha;
    v.seconds = secondsSince(start);

    nlohmann::json params{{"engine", kind.name},
                          {"model", result.modelId},
                          {"preset", input.givenCanvas ? cv::format("%dx%d", adSize.width, adSize.height) : request.presetId},
                          {"size", {adSize.width, adSize.height}},
                          {"workingSize", {work.width, work.height}},
                          {"prompt", v.prompt.text},
                          {"seed", v.seed},
                          {"seedMode", toString(request.seedMode)},
                          {"requestSeed", request.seed},
                          {"placement", placementJson(request.placement)},
                          {"settings", settings}};
    if (comp.copyTop > 0 || comp.copyBottom > 0) params["copySpace"] = {{"top", comp.copyTop}, {"bottom", comp.copyBottom}};
    if (input.outpaint) {
      params["outpaint"] = {{"sourceSize", {input.outpaint->image.cols, input.outpaint->image.rows}},
                            {"rect", {keptAd.x, keptAd.y, keptAd.width, keptAd.height}}};
    }
    nlohmann::json timings = nlohmann::json::object();
    for (auto& [key, value] : out.record.items()) {
      if (key == "timings" && value.is_object()) {
        timings = value;
      } else {
        params[key] = value;
      }
    }
    timings["totalSeconds"] = v.seconds;
    params["timings"] = timings;
    if (params.contains("warnings") && params["warnings"].is_array()) {
      for (const auto& w : params["warnings"]) {
        if (w.is_string() && warned.insert(w.get<std::string>()).second) {
          emit({GenerationEvent::Stage::Warning, 0.05, index, total, 0, 0, w.get<std::string>(), {}});
        }
      }
    }
    v.params = std::move(params);
    result.variants.push_back(std::move(v));
    emit({GenerationEvent::Stage::Generating, 0.05 + (generatingEnd - 0.05) * (index + 1.0) / total, index, total, 0, 0,
          {}, {}});
  }

  // Ranking: the product's stored variants and the new ones, against the plain original.
  if (engines.ranker && !input.givenCanvas && !result.variants.empty()) {
    emit({GenerationEvent::Stage::Ranking, 0.95, 0, 0, 0, 0, engines.ranker->id(), {}});
    std::vector<VariantImage> images;
    for (const auto& [id, path] : input.storedVariants) {
      try {
        images.push_back({id, loadImage(path)});
      } catch (const std::exception&) {
        // A stored image that is gone or unreadable is left out of the ranking, not the job's end.
      }
    }
    for (std::size_t i = 0; i < result.variants.size(); ++i) {
      images.push_back({-static_cast<std::int64_t>(i) - 1, result.variants[i].image});
    }
    result.rankings = rankVariants(*engines.ranker, input.shot, alpha, images, {input.title, input.category}, comp);
    result.rankerId = engines.ranker->id();
    result.rankerStatus = engines.ranker->status();
  }
  result.seconds = secondsSince(jobStart);
  return result;
}

// ---- Save ---------------------------------------------------------------------------------

std::vector<Variant> saveGeneration(Project& project, const GenerationInput& input, const GenerationOutcome& result) {
  if (input.productId == 0) throw std::invalid_argument("this job's product is not in a project");
  std::vector<Variant> saved;
  // The images this save writes; removed again when the transaction fails (a full disk), so a
  // failed save leaves no file that no row names.
  std::vector<std::filesystem::path> written;
  try {
    project.store().transaction([&] {
      if (!result.newCutout.empty()) project.setCutout(input.productId, result.newCutout, result.cutoutEngine);
      // One record per prompt text: a prompt the product already has keeps its record.
      std::set<std::int64_t> ids;  // the product's prompt records
      std::map<std::string, std::int64_t> byText;
      for (const auto& r : project.store().prompts(input.productId)) {
        ids.insert(r.id);
        byText.emplace(r.text, r.id);
      }
      for (const auto& v : result.variants) {
        if (v.image.empty() || v.image.type() != CV_8UC3) throw std::invalid_argument("a variant without an image");
        const auto png = encodeImage(v.image, ".png");
        const std::string relative = "variants/" + contentHash(png.data(), png.size()) + ".png";
        const bool existed = std::filesystem::exists(project.absolute(relative));
        try {
          io::AtomicFile file(project.absolute(relative));
          file.write(png.data(), png.size());
          file.commit();
        } catch (const io::FileError& e) {
          throw StoreError(std::string("cannot save a variant: ") + e.what());
        }
        if (!existed) written.push_back(project.absolute(relative));
        std::int64_t promptId = v.prompt.promptId;
        if (!ids.count(promptId)) {
          const auto found = byText.find(v.prompt.text);
          if (found != byText.end()) {
            promptId = found->second;
          } else {
            PromptRecord record{0, input.productId, v.prompt.text, v.prompt.source, false};
            promptId = project.store().addPrompt(record);
            ids.insert(promptId);
            byText.emplace(v.prompt.text, promptId);
          }
        }
        Variant record;
        record.productId = input.productId;
        record.promptId = promptId;
        record.imagePath = relative;
        record.seed = static_cast<std::int64_t>(v.seed);
        record.paramsJson = v.params.dump();
        record.id = project.store().addVariant(record);
        saved.push_back(record);
      }
      if (!result.rankings.empty()) {
        std::vector<VariantRanking> rankings = result.rankings;
        for (auto& r : rankings) {
          if (r.variantId < 0) r.variantId = saved.at(static_cast<std::size_t>(-r.variantId - 1)).id;
        }
        storeRankings(project.store(), rankings, result.rankerId);
        for (auto& s : saved) {
          for (const auto& r : rankings) {
            if (r.variantId != s.id) continue;
            s.score = r.score;
            s.rank = r.rank;
            s.winProbability = r.winVsOriginal;
            s.rankerId = result.rankerId;
            s.stdError = r.stdError;
            s.vsOriginal = r.vsOriginal;
            s.vsOriginalStdError = r.vsOriginalStdError;
            s.uncertaintyBasis = r.uncertaintyBasis;
            s.ctrScale = r.ctrScale;
          }
        }
      }
    });
  } catch (...) {
    for (const auto& f : written) {
      std::error_code ignored;
      std::filesystem::remove(f, ignored);
    }
    throw;
  }
  return saved;
}

// ---- Same seed again ----------------------------------------------------------------------

GenerationRequest repeatRequest(const Variant& variant, const std::optional<PromptRecord>& prompt) {
  nlohmann::json params = io::parseJsonOrDiscarded(variant.paramsJson);
  if (params.is_discarded()) throw std::invalid_argument("this variant's parameters are unreadable");
  if (!params.is_object() || !params.contains("engine") || !params["engine"].is_string()) {
    throw std::invalid_argument("this variant does not record its engine");
  }
  const std::string engine = params["engine"].get<std::string>();
  if (!hasGenerator(engine)) {
    throw std::invalid_argument("this variant was made by the " + engine + " engine, which this build does not have");
  }
  const GeneratorKind& kind = generatorKind(engine);
  GenerationRequest r;
  r.engine = engine;
  if (params.contains("settings") && params["settings"].is_object()) {
    r.settings = params["settings"];
  } else if (kind.settingsFromOldParams) {
    r.settings = kind.settingsFromOldParams(params);
  }
  if (!params.contains("preset") || !params["preset"].is_string()) {
    throw std::invalid_argument("this variant does not record its ad size");
  }
  r.presetId = params["preset"].get<std::string>();
  r.seed = static_cast<std::uint64_t>(variant.seed);
  r.seedMode = SeedMode::Fixed;
  r.prompts = 1;
  r.variantsPerPrompt = 1;
  r.productPrompts = false;
  r.placementGiven = true;
  r.placement = placementFromJson(params);
  if (const auto copy = params.find("copySpace"); copy != params.end() && copy->is_object()) {
    r.composition.copyTop = copy->value("top", 0.0);
    r.composition.copyBottom = copy->value("bottom", 0.0);
  }
  JobPrompt p;
  if (params.contains("prompt") && params["prompt"].is_string()) {
    p.text = params["prompt"].get<std::string>();
  } else if (prompt) {
    p.text = prompt->text;
  } else {
    throw std::invalid_argument("this variant's prompt is gone");
  }
  if (prompt && variant.promptId && prompt->id == *variant.promptId) {
    p.promptId = prompt->id;
    p.source = prompt->source;
  }
  for (const auto& key : kind.planKeys) {
    if (params.contains(key)) p.plan[key] = params[key];
  }
  r.givenPrompts = {std::move(p)};
  return r;
}

cv::Mat renderPromptAd(GenerationEngines& engines, const std::string& engine, const GeneratorSettings& settings,
                       const cv::Mat& shot, const cv::Mat& alpha, const std::string& title,
                       const std::string& category, const std::string& prompt, std::uint64_t seed,
                       const std::string& presetId) {
  GenerationRequest r;
  r.engine = engine;
  r.settings = settings;
  r.presetId = presetId;
  r.prompts = 1;
  r.seed = seed;
  r.seedMode = SeedMode::Fixed;
  r.givenPrompts = {{prompt, "user", 0, nullptr}};
  GenerationEngines noRanking = engines;
  noRanking.ranker = nullptr;
  const GenerationOutcome result = runGeneration(noRanking, prepareGeneration(shot, alpha, title, category, r));
  return result.variants.at(0).image;
}

}  // namespace caig
