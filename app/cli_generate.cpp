#include "app/cli_generate.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "app/cli_progress.h"
#include "app/cli_text.h"
#include "core/base/user_message.h"
#include "core/cutout/cutout_engines.h"
#include "core/generation/generation_job.h"
#include "core/generation/generator_registry.h"
#include "core/generation/variant_files.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/ranking/builtin_ranker.h"
#include "core/ranking/compare_math.h"
#include "core/ranking/variant_ranking.h"
#include "core/training/rm_training.h"

namespace fs = std::filesystem;

namespace caig::cli {

namespace {

constexpr int kNotAvailable = 2;

// Ctrl+C stops the job at the next step; the finished variants are still kept.
std::atomic<bool> gCancel{false};
extern "C" void onInterrupt(int) { gCancel.store(true); }

struct GenerateArgs {
  fs::path image;
  std::int64_t productId = 0;
  fs::path project = "caig-project";
  std::string engine = "builtin";
  std::string title, category;
  int variants = 4;
  std::string preset = "1:1-1080";
  std::uint64_t seed = 1;
  std::string seedMode = "increment";
  std::vector<std::string> prompts;
  fs::path out, mask, control;
  // The engines' own options by flag, as typed (converted by their GeneratorOption types).
  std::map<std::string, std::string> engineValues;
  std::map<std::string, std::vector<std::string>> engineLists;  // repeated flags (--lora)
};

// The demo convention: "<name>.alpha.png" beside the shot is its exact mask.
cv::Mat alphaBeside(const fs::path& image) {
  const fs::path path = image.parent_path() / (image.stem().string() + ".alpha.png");
  if (image.empty() || !fs::exists(path)) return {};
  cv::Mat alpha = loadImage(path);
  if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
  return alpha;
}

std::string enginesText() {
  std::string s;
  for (const auto& k : generatorKinds()) s += (s.empty() ? "" : ", ") + k.name + " (" + k.label + ")";
  return s;
}

// The flags of every registered engine, each once, with the engines that have it.
void addEngineOptions(CLI::App* cmd, GenerateArgs& a, std::map<std::string, CLI::Option*>& flags) {
  std::map<std::string, std::pair<const GeneratorOption*, std::string>> byFlag;
  std::vector<std::string> order;
  for (const auto& k : generatorKinds()) {
    for (const auto& o : k.options) {
      auto [it, added] = byFlag.try_emplace(o.flag, &o, k.name);
      if (added) {
        order.push_back(o.flag);
      } else {
        it->second.second += ", " + k.name;
      }
    }
  }
  for (const auto& flag : order) {
    const auto& [o, engines] = byFlag[flag];
    std::string help = "[" + engines + "] " + o->help;
    if (!o->defaultValue.is_null()) {
      help += " (default: " + (o->defaultValue.is_string() ? o->defaultValue.get<std::string>() : o->defaultValue.dump()) + ")";
    }
    if (o->type == OptionType::LoraList) {
      flags[flag] = cmd->add_option("--" + flag, a.engineLists[flag], help + " (repeat for several)")
                        ->type_name("FILE[:WEIGHT]")
                        ->allow_extra_args(false)
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      continue;
    }
    static const char* const typeNames[] = {"INT", "FLOAT", "CHOICE", "TEXT", "DIR", "FILE"};
    flags[flag] = cmd->add_option("--" + flag, a.engineValues[flag], help)->type_name(typeNames[static_cast<int>(o->type)]);
    if (o->type == OptionType::Text) flags[flag]->check(caig::cli::utf8Text());  // stored with the variant
  }
}

nlohmann::json parsedValue(const GeneratorOption& o, const std::string& text) {
  try {
    std::size_t used = 0;
    switch (o.type) {
      case OptionType::Integer: {
        const long long v = std::stoll(text, &used);
        if (used == text.size()) return v;
        break;
      }
      case OptionType::Number: {
        const double v = std::stod(text, &used);
        if (used == text.size()) return v;
        break;
      }
      default: return text;
    }
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("--" + o.flag + ": '" + text + "' is not " +
                              (o.type == OptionType::Integer ? "a whole number" : "a number"));
}

// FILE[:WEIGHT] each (the weight 1 when absent, as A1111's <lora:name>).
nlohmann::json loraListValue(const std::vector<std::string>& given) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& text : given) {
    std::string file = text;
    double weight = 1.0;
    const auto colon = text.rfind(':');
    if (colon != std::string::npos && colon + 1 < text.size()) {
      try {
        std::size_t used = 0;
        const std::string tail = text.substr(colon + 1);
        const double w = std::stod(tail, &used);
        if (used == tail.size()) {
          file = text.substr(0, colon);
          weight = w;
        }
      } catch (const std::exception&) {  // not a number: the colon belongs to the file name
      }
    }
    out.push_back({{"file", file}, {"weight", weight}});
  }
  return out;
}

// The chosen engine's settings from its flags; a flag of another engine is an error.
GeneratorSettings engineSettings(const GeneratorKind& kind, const GenerateArgs& a,
                                 const std::map<std::string, CLI::Option*>& flags) {
  GeneratorSettings s = nlohmann::json::object();
  for (const auto& [flag, option] : flags) {
    if (option->count() == 0) continue;
    const GeneratorOption* mine = nullptr;
    for (const auto& o : kind.options) {
      if (o.flag == flag) mine = &o;
    }
    if (!mine) throw std::invalid_argument("--" + flag + " is not an option of the " + kind.name + " engine");
    if (mine->givenCanvasOnly && a.mask.empty()) {
      throw std::invalid_argument("--control and --" + flag + " go with --mask (the plain inpainting job)");
    }
    if (mine->type == OptionType::LoraList) {
      s[mine->key] = loraListValue(a.engineLists.at(flag));
    } else {
      s[mine->key] = parsedValue(*mine, a.engineValues.at(flag));
    }
  }
  return s;
}

void printRanking(const GenerationOutcome& result, const std::vector<Variant>& saved, const Project& project) {
  std::printf("ranked by %s (%s)\n", result.rankerId.c_str(), result.rankerStatus.c_str());
  std::printf("rank  id    predicted CTR lift over the original (95 %%)  verdict              seed        file\n");
  std::vector<std::pair<int, std::size_t>> order;
  for (std::size_t i = 0; i < saved.size(); ++i) order.emplace_back(saved[i].rank.value_or(0), i);
  std::sort(order.begin(), order.end());
  for (const auto& [rank, i] : order) {
    const Variant& v = saved[i];
    std::string lift = "-", verdict = "-";
    if (const auto l = liftOverOriginal(v)) {
      lift = formatLiftInterval(*l);
      verdict = verdictText(l->verdict);
    }
    // The minus sign is 3 bytes and 1 column: pad by what the terminal shows.
    auto padded = [](const std::string& s, std::size_t width) {
      std::size_t columns = 0;
      for (unsigned char ch : s) columns += (ch & 0xC0) != 0x80;
      return s + std::string(columns < width ? width - columns : 0, ' ');
    };
    std::printf("%4d  %-5lld %s %s %-10llu  %s\n      %s\n", rank, static_cast<long long>(v.id),
                padded(lift, 44).c_str(), padded(verdict, 20).c_str(),
                static_cast<unsigned long long>(result.variants[i].seed),
                project.absolute(v.imagePath).string().c_str(), result.variants[i].prompt.text.c_str());
  }
}

int runGenerate(const GenerateArgs& a, bool projectGiven, const std::map<std::string, CLI::Option*>& flags) {
  if (!hasGenerator(a.engine)) {
    std::fprintf(stderr, "caig generate: the %s engine is not available in this build (it has: %s)\n",
                 a.engine.c_str(), enginesText().c_str());
    return kNotAvailable;
  }
  try {
    const GeneratorKind& kind = generatorKind(a.engine);
    if (a.image.empty() == (a.productId == 0)) throw std::runtime_error("give either a product shot or --product ID");
    const bool given = !a.mask.empty();
    if (!given && !a.control.empty()) throw std::runtime_error("--control and --latents go with --mask (the plain inpainting job)");
    if (given) {
      if (a.out.empty() || projectGiven || a.productId) throw std::runtime_error("--mask writes into --out, not into a project");
      if (a.prompts.empty()) throw std::runtime_error("--mask needs at least one --prompt");
    }
    const bool useProject = !given && (a.out.empty() || projectGiven);
    if (!useProject && a.productId) throw std::runtime_error("--product needs --project");

    GenerationRequest request;
    request.engine = kind.name;
    request.settings = engineSettings(kind, a, flags);
    request.presetId = a.preset;
    request.seed = a.seed;
    request.seedMode = parseSeedMode(a.seedMode);
    // --prompt: those prompts, -n variants each; none: -n prompts, from the product and the planner.
    for (const auto& p : a.prompts) request.givenPrompts.push_back({p, "user", 0, nullptr});
    request.prompts = a.prompts.empty() ? a.variants : static_cast<int>(a.prompts.size());
    request.variantsPerPrompt = a.prompts.empty() ? 1 : a.variants;
    request.productPrompts = a.prompts.empty();
    request.previews = false;    // a terminal shows progress, not images
    adPreset(request.presetId);  // an unknown ad size fails before anything is imported
    // The settings first: a wrong model folder should fail before anything is imported or cut out.
    request.settings = completeSettings(kind, request.settings);

    std::optional<Project> project;
    Product product;
    GenerationInput input;
    if (given) {
      input = prepareGivenCanvas(loadImage(a.image), loadImage(a.mask),
                                 a.control.empty() ? cv::Mat() : loadImage(a.control), request);
    } else if (useProject) {
      project = Project::openOrCreate(a.project);
      if (a.productId) {
        const auto found = project->store().product(a.productId);
        if (!found) throw std::runtime_error("no product " + std::to_string(a.productId) + " in " + a.project.string());
        product = *found;
      } else {
        product = project->importProductShot(a.image, a.title, a.category);
      }
      input = prepareGeneration(*project, product.id, request);
      if (input.alpha.empty() && !a.image.empty()) {
        input.alpha = alphaBeside(a.image);
        if (!input.alpha.empty()) input.alphaSource = "alpha-file";
      }
    } else {
      product.title = a.title.empty() ? a.image.stem().string() : a.title;
      product.category = a.category;
      input = prepareGeneration(loadImage(a.image), alphaBeside(a.image), product.title, product.category, request);
    }

    CutoutProvider cutout;
    BuiltinRanker ranker;
    GenerationEngines engines;
    engines.cutout = [&]() -> CutoutEngine& {
      CutoutEngine& e = cutout.get();
      if (!cutout.note().empty()) std::fprintf(stderr, "%s\n", cutout.note().c_str());
      return e;
    };
    if (project) {
      // Ranked against the plain original with the built-in ranker, trained on the project's clicks when it was.
      if (const auto trained = activeBuiltinRankerWeights(*project)) ranker.load(*trained);
      engines.ranker = &ranker;
    }

    gCancel.store(false);
    auto previous = std::signal(SIGINT, onInterrupt);
    std::optional<JobProgressBar> bar;
    const auto result = runGeneration(
        engines, input,
        [&](const GenerationEvent& e) {
          if (e.stage == GenerationEvent::Stage::EngineLoaded && !e.detail.empty()) {
            std::fprintf(stderr, "loaded %s on %s\n", kind.name.c_str(), e.detail.c_str());
          }
          if (e.stage == GenerationEvent::Stage::Warning) std::fprintf(stderr, "warning: %s\n", e.detail.c_str());
          // A bar for engines that take steps (a single-step render is milliseconds).
          if (e.stage != GenerationEvent::Stage::Generating || e.steps <= 1) return;
          if (!bar) bar.emplace(e.variants);
          bar->step(e.step, e.steps, e.variant);
        },
        &gCancel);
    std::signal(SIGINT, previous);
    const int total = static_cast<int>(result.prompts.size()) * request.variantsPerPrompt;
    if (result.cancelled) {
      if (bar) bar->close();
      std::fprintf(stderr, "cancelled: %zu of %d variants finished\n", result.variants.size(), total);
    }

    const std::string size = given ? cv::format("%dx%d", input.givenCanvas->canvas.width, input.givenCanvas->canvas.height)
                                   : request.presetId;
    if (!a.out.empty()) {
      const auto files = writeVariantFiles(a.out, result, kind.filePrefix.empty() ? kind.name : kind.filePrefix);
      for (std::size_t i = 0; i < files.size(); ++i) {
        std::printf("%s\n      %s\n", files[i].string().c_str(), result.variants[i].prompt.text.c_str());
      }
      std::printf("%zu variants at %s in %.2f s -> %s\n", result.variants.size(), size.c_str(), result.seconds,
                  a.out.string().c_str());
    }
    if (project && !result.variants.empty()) {
      const auto saved = saveGeneration(*project, input, result);
      product = *project->store().product(product.id);
      std::printf("product %lld \"%s\" (cutout: %s): %zu variants at %s in %.2f s with %s, %s\n",
                  static_cast<long long>(product.id), product.title.c_str(), product.cutoutEngine.c_str(), saved.size(),
                  size.c_str(), result.seconds, result.modelId.c_str(), result.description.c_str());
      printRanking(result, saved, *project);
    }
    return result.cancelled ? 130 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caig generate: %s\n", caig::userMessage(e).c_str());
    return 1;
  }
}

}  // namespace

void addGenerateCommand(CLI::App& app, int& status) {
  auto a = std::make_shared<GenerateArgs>();
  auto flags = std::make_shared<std::map<std::string, CLI::Option*>>();
  auto* cmd = app.add_subcommand("generate", "Generate background variants for a product shot");
  cmd->add_option("image", a->image, "Product shot to import (or --product)");
  cmd->add_option("--product", a->productId, "Id of a product already in the project");
  cmd->add_option("--project", a->project, "Project folder (created when absent)")->capture_default_str();
  cmd->add_option("--engine", a->engine, "Background generator: " + enginesText())->capture_default_str();
  cmd->add_option("--title", a->title, "Product title (default: the file name)")->check(caig::cli::utf8Text());
  cmd->add_option("--category", a->category, "Product category")->check(caig::cli::utf8Text());
  cmd->add_option("-n,--variants", a->variants, "Number of prompts (with --prompt: variants per prompt)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--preset", a->preset, "Ad size: 1:1-512 1:1-1024 1:1-1080 4:5 9:16 1.91:1")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed")->capture_default_str();
  cmd->add_option("--seed-mode", a->seedMode, "increment (seed + i), fixed or random")->capture_default_str();
  cmd->add_option("--prompt", a->prompts,
                  "Background prompt (repeatable; -n variants each); default: the product's pinned and new "
                  "prompts, then the built-in planner's")
      ->check(caig::cli::utf8Text());
  cmd->add_option("--out", a->out, "Also write the variants (PNG with parameters + variants.json) into this folder; "
                                   "without --project, only there");
  cmd->add_option("--mask", a->mask,
                  "Inpaint the image as given with this mask (white = repaint), without CAIG's composition; needs "
                  "--out and --prompt");
  cmd->add_option("--control", a->control, "With --mask: ControlNet image (default: canny of the kept part)");
  addEngineOptions(cmd, *a, *flags);
  cmd->callback([a, flags, cmd, &status] { status = runGenerate(*a, cmd->count("--project") > 0, *flags); });
}

}  // namespace caig::cli
