#include "app/cli_bundle.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/cli_progress.h"
#include "core/base/user_message.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/training/training_bundle.h"

namespace fs = std::filesystem;

namespace caig::cli {

namespace {

struct ExportArgs {
  fs::path project = "caig-project";
  std::string model;
  fs::path out;
  bool replace = false;
  NeuralRmJobOptions options;
};

struct ImportArgs {
  fs::path project = "caig-project";
  fs::path from;
  TrainingResultImportOptions options;
};

int fail(const char* command, const std::exception& e) {
  std::fprintf(stderr, "caig bundle %s: %s\n", command, userMessage(e).c_str());
  return 1;
}

}  // namespace

void addBundleCommands(CLI::App& app, int& status) {
  auto* bundle = app.add_subcommand("bundle", "Training bundles: reward-model fine-tuning run on a server");
  bundle->require_subcommand(1);

  auto e = std::make_shared<ExportArgs>();
  auto* ex =
      bundle->add_subcommand("export", "Write the project's clicks and training options to a folder for a server");
  ex->add_option("--project", e->project, "Project folder")->capture_default_str();
  ex->add_option("--model", e->model, "The reward model to fine-tune (folder or installed name)")->required();
  ex->add_option("--out", e->out, "Bundle folder to write")->required();
  ex->add_flag("--replace", e->replace, "Replace an existing bundle folder");
  NeuralRmJobOptions& o = e->options;
  ex->add_option("--steps", o.steps, "Optimiser steps")->capture_default_str()->check(CLI::Range(1, 10000000));
  ex->add_option("--lr", o.learningRate, "Peak AdamW learning rate")->capture_default_str();
  ex->add_option("--lora-r", o.loraRank, "LoRA rank (alpha = 2 x rank)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  ex->add_option("--batch-size", o.batchSize, "Examples per step (global)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  ex->add_option("--min-impressions", o.rules.minImpressions, "Each creative of a pair")->capture_default_str();
  ex->add_option("--ratio-min", o.rules.ratioMin, "Smallest CTR ratio of a pair")->capture_default_str();
  ex->add_option("--ratio-max", o.rules.ratioMax, "Largest CTR ratio of a pair")->capture_default_str();
  ex->add_option("--max-pairs-per-product", o.rules.maxPairsPerProduct, "0 = all")->capture_default_str();
  ex->add_option("--val-fraction", o.validationFraction, "Share of PRODUCTS held out")->capture_default_str();
  ex->add_option("--seed", o.seed, "Seed of the split, data order and adapter")->capture_default_str();
  ex->add_option("--pair-side", o.pairSide, "Each creative's side in the pair image")->capture_default_str();
  ex->add_option("--name", o.name, "Result folder under models/ (default: <model>-ft)");
  ex->add_option("--checkpoint-every", o.checkpointEvery, "Checkpoint every N steps on the server")
      ->capture_default_str();
  ex->add_flag("--merge", o.merge, "Also write the standalone merged reward model on the server");
  ex->callback([e, &status] {
    try {
      e->options.modelDir = ModelRegistry().resolveReference(e->model);
      auto project = Project::open(e->project);
      Progress bar("bundle export");
      const auto r = exportTrainingBundle(project, e->options, e->out, e->replace,
                                          [&](int done, int total) { bar.update(done, total); });
      bar.finish();
      std::printf("%s\n", r.summary.c_str());
      status = 0;
    } catch (const std::exception& x) {
      status = fail("export", x);
    }
  });

  auto i = std::make_shared<ImportArgs>();
  auto* im =
      bundle->add_subcommand("import", "Take a server's result (bundle, adapter or merged model) into the project");
  im->add_option("--project", i->project, "Project folder")->capture_default_str();
  im->add_option("from", i->from, "The bundle folder after its run, an adapter folder or a reward-model folder")
      ->required();
  im->add_option("--base", i->options.baseModelDir, "This machine's copy of the base model (default: the bundle's)");
  im->add_flag("--replace", i->options.replace, "Replace a model of the same name in the project");
  im->callback([i, &status] {
    try {
      auto project = Project::open(i->project);
      const auto r = importTrainingResult(project, i->from, i->options);
      std::printf("%s\n", r.summary.c_str());
      status = 0;
    } catch (const std::exception& x) {
      status = fail("import", x);
    }
  });
}

}  // namespace caig::cli
