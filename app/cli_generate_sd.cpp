#include "app/cli_generate_sd.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "core/export.h"
#include "core/builtin_ranker.h"
#include "core/cutout_engines.h"
#include "core/image_io.h"
#include "core/project.h"
#include "core/prompt_writer.h"
#include "core/rm_training.h"
#include "core/sd_generation.h"
#include "core/style_preferences.h"
#include "core/variant_ranking.h"
#include "models/io/atomic_file.h"

namespace fs = std::filesystem;

namespace caig::cli {

namespace {

// Ctrl+C stops the denoising loop at the next step; the finished variants are still kept.
std::atomic<bool> gCancel{false};
extern "C" void onInterrupt(int) {
  gCancel.store(true);
}

// The demo convention: "<name>.alpha.png" beside the shot is its exact mask.
cv::Mat alphaBeside(const fs::path& image) {
  const fs::path path = image.parent_path() / (image.stem().string() + ".alpha.png");
  if (image.empty() || !fs::exists(path)) return {};
  cv::Mat alpha = loadImage(path);
  if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
  return alpha;
}

cv::Mat cutOut(const cv::Mat& shot, std::string& engineName) {
  auto choice = chooseCutoutEngine();
  if (!choice.note.empty()) std::fprintf(stderr, "%s\n", choice.note.c_str());
  engineName = choice.engine->name();
  return choice.engine->alpha(shot);
}

void writeFile(const fs::path& path, const std::string& bytes) {
  io::AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

// One line redrawn in place on a terminal: the whole job's bar, the variant and step, s/it from
// the recent steps and the time left. Without a terminal (a log file, CI), one line per variant.
class ProgressBar {
 public:
  explicit ProgressBar(int variants) : variants_(variants), tty_(isatty(fileno(stderr)) != 0) {}

  void step(int step, int steps, int variant) {
    const auto now = std::chrono::steady_clock::now();
    if (lastVariant_ != variant || step == 1) {
      variantStart_ = now;
    } else {
      const double dt = std::chrono::duration<double>(now - last_).count();
      secondsPerStep_ = secondsPerStep_ < 0 ? dt : 0.7 * secondsPerStep_ + 0.3 * dt;
    }
    last_ = now;
    lastVariant_ = variant;
    const double done = (variant + double(step) / steps) / variants_;
    const int remainingSteps = (variants_ - variant - 1) * steps + (steps - step);
    if (tty_) {
      const int width = 30;
      const int filled = static_cast<int>(done * width + 0.5);
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(width, '.');
      std::fprintf(stderr, "\r[%s] %3.0f%%  variant %d/%d  step %d/%d", bar.c_str(), 100 * done, variant + 1, variants_,
                   step, steps);
      if (secondsPerStep_ > 0) {
        std::fprintf(stderr, "  %.2f s/it  %s left   ", secondsPerStep_, clock(secondsPerStep_ * remainingSteps).c_str());
      }
      if (step == steps && variant + 1 == variants_) std::fprintf(stderr, "\n");
      std::fflush(stderr);
    } else if (step == steps) {
      std::fprintf(stderr, "variant %d/%d: %d steps in %.1f s\n", variant + 1, variants_, steps,
                   std::chrono::duration<double>(now - variantStart_).count());
    }
  }

  // Ends a bar cut short (cancelled, failed).
  void close() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  static std::string clock(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    return s >= 60 ? cv::format("%ldm%02lds", s / 60, s % 60) : cv::format("%lds", s);
  }

  int variants_;
  bool tty_;
  int lastVariant_ = -1;
  double secondsPerStep_ = -1;
  std::chrono::steady_clock::time_point last_, variantStart_;
};

// --out: one PNG per variant (the A1111 "parameters" text chunk) and variants.json.
void writeOutFolder(const fs::path& out, const SdResult& result, const std::string& size, double seconds) {
  fs::create_directories(out);
  nlohmann::json index = nlohmann::json::array();
  for (std::size_t i = 0; i < result.variants.size(); ++i) {
    const auto& v = result.variants[i];
    const std::string name = cv::format("sd-%02zu-seed%llu.png", i + 1, static_cast<unsigned long long>(v.seed));
    // A1111/ComfyUI users read the generation settings from a PNG text chunk named "parameters".
    const std::string parameters = v.prompt + "\nNegative prompt: " + v.negativePrompt +
                                   cv::format("\nSteps: %d, Sampler: %s, CFG scale: %g, Seed: %llu, Size: %dx%d, ",
                                              v.steps, v.sampler.c_str(), v.guidance,
                                              static_cast<unsigned long long>(v.seed), v.image.cols, v.image.rows) +
                                   "Model: " + v.modelId + cv::format(", ControlNet scale: %g", v.controlnetScale) +
                                   (v.clipSkip > 1 ? cv::format(", Clip skip: %d", v.clipSkip) : std::string());
    const auto png = caig::encodeWithMetadata(v.image, caig::ExportFormat::Png, {{"parameters", parameters}});
    writeFile(out / name, std::string(png.begin(), png.end()));
    index.push_back({{"file", name},
                     {"prompt", v.prompt},
                     {"negativePrompt", v.negativePrompt},
                     {"seed", v.seed},
                     {"sampler", v.sampler},
                     {"steps", v.steps},
                     {"cfg", v.guidance},
                     {"controlnetScale", v.controlnetScale},
                     {"clipSkip", v.clipSkip},
                     {"model", v.modelId},
                     {"preset", size},
                     {"workingSize", {v.workingSize.width, v.workingSize.height}},
                     {"totalSeconds", v.totalSeconds}});
    std::printf("%s\n      %s\n", (out / name).string().c_str(), v.prompt.c_str());
  }
  writeFile(out / "variants.json", index.dump(2) + "\n");
  std::printf("%zu variants at %s in %.2f s -> %s\n", result.variants.size(), size.c_str(), seconds,
              out.string().c_str());
}

cv::Mat loadOptional(const fs::path& path) {
  return path.empty() ? cv::Mat() : loadImage(path);
}

}  // namespace

void addSdGenerateOptions(CLI::App* generate, SdCliOptions& o) {
  generate->add_option("--model", o.model, "sd15: diffusers SD1.5 (ControlNet-inpaint) pipeline folder");
  generate->add_option("--controlnet", o.controlnet, "sd15: ControlNet canny folder (default: MODEL/controlnet)");
  generate->add_option("--sampler", o.sampler, "sd15: euler, euler_a, ddim, dpmpp_2m, dpmpp_2m_karras, unipc, lcm")
      ->capture_default_str();
  generate->add_option("--steps", o.steps, "sd15: denoising steps")->capture_default_str()->check(CLI::Range(1, 1000));
  generate->add_option("--cfg", o.cfg, "sd15: classifier-free guidance scale")->capture_default_str();
  generate->add_option("--control-scale", o.controlnetScale, "sd15: ControlNet conditioning scale")
      ->capture_default_str();
  generate->add_option("--clip-skip", o.clipSkip, "sd15: 1 = last CLIP layer, 2 = penultimate (A1111's Clip skip)")
      ->capture_default_str()
      ->check(CLI::Range(1, 2));
  generate->add_option("--prompt", o.prompts,
                       "sd15: background prompt (repeatable; -n variants each); default: the built-in planner's "
                       "-n prompts");
  generate->add_option("--negative", o.negative, "sd15: negative prompt (default: one for product ads)");
  generate->add_option("--seed-mode", o.seedMode, "sd15: increment (seed + i), fixed or random")->capture_default_str();
  generate->add_option("--working-size", o.workingSize, "sd15: generator long side (multiple of 8)")
      ->capture_default_str();
  generate->add_option("--device", o.device, "sd15: auto, cpu, cuda or cuda:N")->capture_default_str();
  generate->add_option("--precision", o.precision, "sd15: auto (fp16 on CUDA, fp32 on CPU), fp32, fp16, bf16")
      ->capture_default_str();
  generate->add_option("--out", o.out, "sd15: write the variants (PNG + JSON) into this folder instead of a project");
  generate->add_option("--mask", o.mask,
                       "sd15: inpaint the image as given with this mask (white = repaint), without CAIG's "
                       "composition; needs --out and --prompt");
  generate->add_option("--control", o.control, "sd15 with --mask: ControlNet image (default: canny of the kept part)");
  generate->add_option("--latents", o.latents,
                       "sd15 with --mask: safetensors holding the initial noise \"latents\" [1,4,H/8,W/8] "
                       "(reproduces another implementation's run)");
}

namespace {

int runGiven(SdEngine& engine, SdRequest request, const SdCliOptions& o, const GenerateCommon& a) {
  SdGivenInputs inputs;
  inputs.image = loadImage(a.image);
  inputs.mask = loadImage(o.mask);
  inputs.control = loadOptional(o.control);
  inputs.initialLatentsFile = o.latents;
  request.variantsPerPrompt = a.variants;
  gCancel.store(false);
  auto previous = std::signal(SIGINT, onInterrupt);
  const int total = static_cast<int>(o.prompts.size()) * request.variantsPerPrompt;
  ProgressBar bar(total);
  const auto start = std::chrono::steady_clock::now();
  const auto result = renderSdGiven(
      engine, inputs, o.prompts, request,
      [&](int step, int steps, int variant, const cv::Mat&) { bar.step(step, steps, variant); }, &gCancel);
  std::signal(SIGINT, previous);
  if (result.cancelled) {
    bar.close();
    std::fprintf(stderr, "cancelled: %zu of %d variants finished\n", result.variants.size(), total);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  writeOutFolder(o.out, result, cv::format("%dx%d", inputs.image.cols, inputs.image.rows), seconds);
  return result.cancelled ? 130 : 0;
}

}  // namespace

int runSdGenerate(const SdCliOptions& o, const GenerateCommon& a) {
  try {
    if (a.image.empty() == (a.productId == 0)) throw std::runtime_error("give either a product shot or --product ID");
    if (o.model.empty()) throw std::runtime_error("--engine sd15 needs --model DIR (a diffusers SD1.5 folder)");
    const bool useProject = o.out.empty() || a.projectGiven;
    if (!useProject && a.productId) throw std::runtime_error("--product needs --project");
    if (o.mask.empty() && !(o.control.empty() && o.latents.empty())) {
      throw std::runtime_error("--control and --latents go with --mask (the plain inpainting job)");
    }
    if (!o.mask.empty()) {
      if (o.out.empty() || a.projectGiven || a.productId) {
        throw std::runtime_error("--mask writes into --out, not into a project");
      }
      if (o.prompts.empty()) throw std::runtime_error("--mask needs at least one --prompt");
    }

    SdRequest request;
    request.modelDir = o.model;
    request.controlnetDir = o.controlnet;
    request.sampler = o.sampler;
    request.steps = o.steps;
    request.guidance = o.cfg;
    request.controlnetScale = o.controlnetScale;
    request.clipSkip = o.clipSkip;
    if (!o.negative.empty()) request.negativePrompt = o.negative;
    request.seed = a.seed;
    request.seedMode = parseSeedMode(o.seedMode);
    request.presetId = a.preset;
    request.workingLongSide = o.workingSize;
    request.device = o.device;
    request.precision = o.precision;
    validateSdRequest(request);

    // The model first: a wrong folder should fail before anything is imported or cut out.
    const auto loadStart = std::chrono::steady_clock::now();
    SdEngine engine(request);
    std::fprintf(stderr, "loaded %s on %s (%s) in %.1f s\n", engine.modelId().c_str(), engine.device().c_str(),
                 engine.precision().c_str(),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count());

    if (!o.mask.empty()) return runGiven(engine, request, o, a);

    std::optional<Project> project;
    Product product;
    cv::Mat shot, alpha;
    if (useProject) {
      project = Project::openOrCreate(a.project);
      if (a.productId) {
        const auto found = project->store().product(a.productId);
        if (!found) throw std::runtime_error("no product " + std::to_string(a.productId) + " in " + a.project.string());
        product = *found;
      } else {
        product = project->importProductShot(a.image, a.title, a.category);
      }
      shot = loadImage(project->absolute(product.imagePath));
      request.placement = project->store().placement(product.id);  // the studio's Place tool
      alpha = project->cutout(product.id);
      if (alpha.empty()) {
        std::string engineName = "alpha-file";
        alpha = alphaBeside(a.image);
        if (alpha.empty()) alpha = cutOut(shot, engineName);
        product = project->setCutout(product.id, alpha, engineName);
      }
    } else {
      shot = loadImage(a.image);
      product.title = a.title.empty() ? a.image.stem().string() : a.title;
      product.category = a.category;
      alpha = alphaBeside(a.image);
      if (alpha.empty()) alpha = cutOut(shot, product.cutoutEngine);
    }

    std::vector<std::string> prompts = o.prompts;
    if (prompts.empty()) {
      TemplatePromptWriter writer;
      if (project) loadProjectStyleWeights(*project, writer);
      const ProductShot prepared = prepareProduct(shot, alpha, request.composition);
      for (const auto& d :
           writer.write(product.title, product.category, prepared.bgr, prepared.alpha, a.variants, a.seed)) {
        prompts.push_back(d.prompt);
      }
      request.variantsPerPrompt = 1;
      request.promptSource = "builtin";
    } else {
      request.variantsPerPrompt = a.variants;
      request.promptSource = "user";
    }

    gCancel.store(false);
    auto previous = std::signal(SIGINT, onInterrupt);
    const int total = static_cast<int>(prompts.size()) * request.variantsPerPrompt;
    ProgressBar bar(total);
    const auto start = std::chrono::steady_clock::now();
    const auto result = renderSdVariants(
        engine, shot, alpha, prompts, request,
        [&](int step, int steps, int variant, const cv::Mat&) { bar.step(step, steps, variant); }, &gCancel);
    std::signal(SIGINT, previous);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (result.cancelled) {
      bar.close();
      std::fprintf(stderr, "cancelled: %zu of %d variants finished\n", result.variants.size(), total);
    }

    if (!o.out.empty()) writeOutFolder(o.out, result, request.presetId, seconds);
    if (project && !result.variants.empty()) {
      const auto saved = saveSdVariants(*project, product.id, result.variants, request);
      std::printf("product %lld \"%s\" (cutout: %s): %zu variants at %s in %.2f s with %s, %s %d steps, cfg %.1f\n",
                  static_cast<long long>(product.id), product.title.c_str(), product.cutoutEngine.c_str(), saved.size(),
                  request.presetId.c_str(), seconds, engine.modelId().c_str(), request.sampler.c_str(), request.steps,
                  request.guidance);
      // Ranked against the plain original like the built-in engine's variants.
      std::vector<VariantImage> images;
      for (std::size_t i = 0; i < saved.size(); ++i) images.push_back({saved[i].id, result.variants[i].image});
      BuiltinRanker ranker;
      if (const auto trained = activeBuiltinRankerWeights(*project)) ranker.load(*trained);
      const auto rankings = rankVariants(ranker, shot, alpha, images, {product.title, product.category});
      storeRankings(project->store(), rankings, ranker.id());
      std::printf("ranked by %s (%s)\n", ranker.id().c_str(), ranker.status().c_str());
      std::printf("rank  id    P(beats original)  seed        file\n");
      std::vector<std::size_t> order(saved.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[static_cast<std::size_t>(rankings[i].rank - 1)] = i;
      for (std::size_t i : order) {
        std::printf("%4d  %-5lld %17.2f  %-10llu  %s\n      %s\n", rankings[i].rank,
                    static_cast<long long>(saved[i].id), rankings[i].winVsOriginal,
                    static_cast<unsigned long long>(result.variants[i].seed),
                    project->absolute(saved[i].imagePath).string().c_str(), result.variants[i].prompt.c_str());
      }
    }
    return result.cancelled ? 130 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caig generate: %s\n", e.what());
    return 1;
  }
}

}  // namespace caig::cli
