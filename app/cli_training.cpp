// caig import-clicks / train-rm / pcpo / demo-clicks: click data and training on the built-in
// engines. Progress goes to stderr (a bar with ETA on a terminal, plain lines otherwise), results
// to stdout. The neural variants (train-rm --model DIR, pcpo --engine llava) fine-tune LLaVA
// models with LoRA (core/training/neural_rm_training.h, core/training/neural_pcpo.h); Ctrl+C stops them cleanly.

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cmath>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli_progress.h"
#include "core/base/user_message.h"
#include "core/clicks/click_data.h"
#include "core/clicks/synthetic_clicks.h"
#include "core/generation/generator_registry.h"
#include "core/llava/neural_ranker.h"
#include "core/project/project.h"
#include "core/ranking/builtin_ranker.h"
#include "core/sd/sd_generation.h"
#include "core/training/distributed.h"
#include "core/training/neural_pcpo.h"
#include "core/training/neural_rm_training.h"
#include "core/training/rm_training.h"
#include "core/training/style_preferences.h"
#include "models/data_parallel.h"
#include "models/device_info.h"

namespace fs = std::filesystem;

namespace {

using caig::cli::Progress;

constexpr int kNotAvailable = 2;

// Ctrl+C during neural training: stop between steps (with a checkpoint) instead of dying.
std::atomic<bool> gCancel{false};
void onInterrupt(int) { gCancel.store(true); }
void catchInterrupt() {
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
}

// This process's arguments (after argv[0]): what --nproc starts its workers with.
std::vector<std::string> gArguments;

// "[rank 1 of 2] " inside a data-parallel worker, else "".
std::string rankTag() {
  const char* rank = std::getenv("RANK");
  const char* world = std::getenv("WORLD_SIZE");
  if (!rank || !world || std::string(world) == "1") return "";
  return std::string("[rank ") + rank + " of " + world + "] ";
}

bool isWorkerRank() {
  const char* rank = std::getenv("RANK");
  const char* world = std::getenv("WORLD_SIZE");
  return rank && world && std::string(rank) != "0" && std::string(world) != "1";
}

[[noreturn]] void fail(const char* command, const std::exception& e) {
  const std::string message = caig::userMessage(e);
  const bool named = message.rfind("rank ", 0) == 0;  // a DistributedError says which rank already
  std::fprintf(stderr, "caig %s: %s%s\n", command, named ? "" : rankTag().c_str(), message.c_str());
  std::exit(1);
}

// --nproc N outside a launched worker: run N workers of this same command on this machine
// (torchrun's variables) and exit with their status. Returns inside a worker or for N <= 1.
void launchWorkersIfAsked(int nproc) {
  if (nproc <= 1 || std::getenv("WORLD_SIZE")) return;
  std::vector<std::string> args = gArguments;
  caig::takeNprocArgument(args);
  caig::LocalLaunchOptions lo;
  lo.processes = nproc;
  std::exit(caig::runLocalWorkers(args, lo));
}

// Joins the data-parallel group when started with torchrun's variables and WORLD_SIZE > 1
// (null otherwise). On CUDA each local rank takes its own GPU.
std::unique_ptr<caig::DataParallel> joinDataParallel(std::string& device) {
  auto o = caig::dataParallelFromEnvironment();
  if (!o || o->worldSize <= 1) return nullptr;
  const bool cuda = device.rfind("cuda", 0) == 0 || (device == "auto" && caig::queryDeviceInfo().cuda);
  if (cuda && (device == "auto" || device == "cuda")) device = "cuda:" + std::to_string(o->localRank);
  o->cuda = cuda;
  return std::make_unique<caig::DataParallel>(*o);
}

void addImportClicks(CLI::App& app) {
  struct Args {
    fs::path project = "caig-project";
    fs::path file;
    bool dryRun = false, json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import-clicks", "Import click data (CSV or CAIG JSON) into a project");
  cmd->add_option("--project", a->project, "Project folder (created when absent)")->capture_default_str();
  cmd->add_option("file", a->file, "CSV export or CAIG / CreativeRanking JSON")->required();
  cmd->add_flag("--dry-run", a->dryRun, "Check and report; write nothing");
  cmd->add_flag("--json", a->json, "Print the report as JSON");
  cmd->callback([a] {
    try {
      caig::ImportOptions options;
      options.dryRun = a->dryRun;
      Progress bar("import-clicks");
      options.progress = [&](int done, int total) { bar.update(done, total); };
      caig::ImportReport report;
      if (a->dryRun && caig::Project::isProject(a->project)) {
        auto project = caig::Project::openReadOnly(a->project);
        report = caig::importClicks(project, a->file, options);
      } else if (a->dryRun) {
        // Nothing may be written, not even a new project: check against an empty scratch one,
        // removed however the check ends (the guard outlives the project it holds).
        struct Scratch {
          fs::path dir = fs::temp_directory_path() / ("caig-dry-run-" + std::to_string(getpid()));
          Scratch() { fs::remove_all(dir); }
          ~Scratch() {
            std::error_code ec;
            fs::remove_all(dir, ec);
          }
        } scratch;
        auto project = caig::Project::create(scratch.dir);
        report = caig::importClicks(project, a->file, options);
      } else {
        auto project = caig::Project::openOrCreate(a->project);
        report = caig::importClicks(project, a->file, options);
      }
      bar.finish();
      std::printf("%s", a->json ? (report.toJson() + "\n").c_str() : report.summary().c_str());
      std::exit(0);
    } catch (const std::exception& e) {
      fail("import-clicks", e);
    }
  });
}

void addTrainRm(CLI::App& app) {
  struct Args {
    fs::path project = "caig-project";
    std::string model = "builtin";
    caig::RmTrainOptions options;
    caig::NeuralRmOptions neural;
    int printEvery = 1;
    int nproc = 0;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train-rm", "Train the CTR reward model on a project's clicks");
  cmd->add_option("--project", a->project, "Project folder")->capture_default_str();
  cmd->add_option("--model", a->model, "builtin (feature ranker) or a neural reward model folder")->capture_default_str();
  cmd->add_option("--min-impressions", a->options.rules.minImpressions, "Each creative of a pair")->capture_default_str();
  cmd->add_option("--ratio-min", a->options.rules.ratioMin, "Smallest CTR ratio of a pair")->capture_default_str();
  cmd->add_option("--ratio-max", a->options.rules.ratioMax, "Largest CTR ratio of a pair")->capture_default_str();
  cmd->add_option("--max-pairs-per-product", a->options.rules.maxPairsPerProduct, "0 = all")->capture_default_str();
  cmd->add_option("--val-fraction", a->options.validationFraction, "Share of PRODUCTS held out")->capture_default_str();
  cmd->add_option("--seed", a->options.seed, "Seed of the product split")->capture_default_str();
  cmd->add_option("--l2", a->options.l2, "L2 penalty")->capture_default_str();
  cmd->add_option("--max-iterations", a->options.maxIterations, "Newton steps at most")->capture_default_str();
  cmd->add_option("--log", a->options.logFile, "JSON-lines log (default: <project>/logs/train-rm-<run>.jsonl)");
  cmd->add_option("--print-every", a->printEvery, "Print the loss every N steps")->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the metrics as JSON");
  // The neural reward model (--model DIR): LoRA fine-tuning.
  auto& n = a->neural;
  cmd->add_option("--tokenizer", n.tokenizerDir, "[neural] folder with tokenizer.model (default: the model folder)");
  cmd->add_option("--vision-tower", n.visionTowerDir, "[neural] CLIP tower folder of an original-layout checkpoint");
  cmd->add_option("--device", n.device, "[neural] auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", n.dtype, "[neural] auto (fp32 on CPU, bf16 on CUDA), fp32, fp16 or bf16")->capture_default_str();
  cmd->add_option("--steps", n.steps, "[neural] optimiser steps")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--batch-size", n.batchSize, "[neural] examples per micro-batch")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--grad-accum", n.gradientAccumulation, "[neural] micro-batches per step")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--lr", n.learningRate, "[neural] peak AdamW learning rate")->capture_default_str();
  cmd->add_option("--warmup", n.warmupSteps, "[neural] linear warm-up steps before the cosine decay")->capture_default_str();
  cmd->add_option("--lora-r", n.lora.rank, "[neural] LoRA rank")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--lora-alpha", n.lora.alpha, "[neural] LoRA alpha")->capture_default_str();
  cmd->add_option("--lora-dropout", n.lora.dropout, "[neural] LoRA dropout")->capture_default_str();
  cmd->add_option("--pair-side", n.pairSide, "[neural] each creative's side in the pair image")->capture_default_str()->check(CLI::Range(8, 4096));
  cmd->add_option("--name", n.name, "[neural] output folder under <project>/models (default: <model>-ft)");
  cmd->add_option("--checkpoint-every", n.checkpointEvery, "[neural] checkpoint every N steps (0: end / Ctrl+C only)")->capture_default_str();
  cmd->add_flag("--resume", n.resume, "[neural] continue from the latest checkpoint of --name");
  cmd->add_option("--eval-every", n.evalEvery, "[neural] held-out metrics every N steps")->capture_default_str();
  cmd->add_flag("--merge", n.merge, "[neural] also write a standalone merged reward-model folder");
  cmd->add_option("--base-fingerprint", n.expectedBaseFingerprint,
                  "[neural] refuse a --model whose files differ from this fingerprint (training bundles)");
  cmd->add_flag("--new-head", n.newHead, "[neural] start a score head on a LLaVA folder that has none");
  cmd->add_flag("--point-head", n.pointHead, "[neural] with --new-head: also a CTR point head");
  cmd->add_flag("--gradient-checkpointing", n.gradientCheckpointing, "[neural] recompute layers in backward (less memory)");
  cmd->add_option("--nproc", a->nproc,
                  "[neural] data-parallel workers on this machine (or start one per GPU/machine with torchrun's "
                  "MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK)")
      ->check(CLI::Range(1, 1024));
  cmd->callback([a] {
    if (a->model != "builtin") {
      try {
        launchWorkersIfAsked(a->nproc);
        auto project = caig::Project::open(a->project);
        auto& o = a->neural;
        const auto parallel = joinDataParallel(o.device);
        o.parallel = parallel.get();
        const bool quiet = isWorkerRank();  // rank 0 speaks for the group
        o.modelDir = a->model;
        o.rules = a->options.rules;
        o.validationFraction = a->options.validationFraction;
        o.seed = a->options.seed;
        o.logFile = a->options.logFile;
        catchInterrupt();
        o.cancel = &gCancel;
        Progress bar("pair images");
        o.progress = [&](const caig::RmProgress& p) {
          if (quiet) return;
          if (p.phase == "features") {
            bar.update(p.step, p.maxSteps);
            return;
          }
          bar.finish();
          if (a->printEvery > 0 && (p.step % a->printEvery == 0 || p.step == 1 || p.step == p.maxSteps)) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "step %d/%d: loss %.4f", p.step, p.maxSteps, p.trainLoss);
            std::string s = buf;
            if (p.valLoss) {
              std::snprintf(buf, sizeof buf, "; held out loss %.4f accuracy %.1f%%", *p.valLoss, 100 * *p.valAccuracy);
              s += buf;
            }
            std::snprintf(buf, sizeof buf, " (%.1f s)", p.elapsed);
            bar.line(s + buf);
          }
        };
        const auto r = caig::trainNeuralRewardModel(project, o);
        bar.finish();
        if (quiet) std::exit(r.cancelled ? 130 : 0);
        if (a->json) {
          std::printf("%s\n", nlohmann::json::parse(r.metricsJson()).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        } else {
          std::printf("%slog: %s\n", r.summary().c_str(), r.logFile.string().c_str());
        }
        std::exit(r.cancelled ? 130 : 0);
      } catch (const std::exception& e) {
        fail("train-rm", e);
      }
    }
    try {
      if (a->nproc > 1)
        throw std::invalid_argument(
            "--nproc is for neural training (--model <reward-model folder>); the built-in ranker "
            "trains in well under a second");
      auto project = caig::Project::open(a->project);
      Progress bar("features");
      a->options.progress = [&](const caig::RmProgress& p) {
        if (p.phase == "features") {
          bar.update(p.step, p.maxSteps);
          return;
        }
        if (p.step == 1) bar.finish();
        if (a->printEvery > 0 && (p.step % a->printEvery == 0 || p.step == 1)) {
          char buf[200];
          std::snprintf(buf, sizeof buf, "step %d: loss %.4f accuracy %.1f%%", p.step, p.trainLoss, 100 * p.trainAccuracy);
          std::string s = buf;
          if (p.valLoss) {
            std::snprintf(buf, sizeof buf, "; held out loss %.4f accuracy %.1f%%", *p.valLoss, 100 * *p.valAccuracy);
            s += buf;
          }
          std::snprintf(buf, sizeof buf, " (%.2f s)", p.elapsed);
          bar.line(s + buf);
        }
      };
      const auto r = caig::trainBuiltinRewardModel(project, a->options);
      bar.finish();
      if (a->json) {
        std::printf("%s\n", nlohmann::json::parse(r.metricsJson()).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::printf("%slog: %s\n", r.summary().c_str(), r.logFile.string().c_str());
      }
      std::exit(0);
    } catch (const std::exception& e) {
      fail("train-rm", e);
    }
  });
}

void addPcpo(CLI::App& app) {
  struct Args {
    fs::path project = "caig-project";
    std::string engine = "builtin";
    caig::StylePreferenceOptions options;
    caig::NeuralPcpoOptions neural;
    int rounds = 0;                                          // 0: the engine's default
    double lr = std::numeric_limits<double>::quiet_NaN();    // NaN: the engine's default
    fs::path model, rm, rmTokenizer;
    int rmPairSide = 512;
    fs::path sdModel, sdControlnet;  // renders by SD1.5 + ControlNet instead of the built-in backdrops
    int sdSteps = 20;
    int sdWorkingSize = 512;
    int nproc = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("pcpo", "Run PCPO rounds: the prompt planner learns from the reward model's preferences");
  cmd->add_option("--project", a->project, "Project folder")->capture_default_str();
  cmd->add_option("--engine", a->engine, "builtin (template planner style weights) or llava")->capture_default_str();
  cmd->add_option("--rounds", a->rounds, "Rounds (default: builtin 3, llava 5)")->check(CLI::Range(1, 1000));
  cmd->add_option("--products", a->options.productsPerRound, "Products sampled per round")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", a->options.seed, "Seed")->capture_default_str();
  cmd->add_option("--lr", a->lr, "Step size (builtin: on the style logits, default 0.5; llava: AdamW, default 2e-5)");
  cmd->add_option("--log", a->options.logFile, "JSON-lines log (default: <project>/logs/pcpo-<run>.jsonl)");
  // --engine llava: the LLaVA prompt model's DPO + PCPO rounds.
  auto& n = a->neural;
  cmd->add_option("--model", a->model, "[llava] the prompt model folder (LLaVA)");
  cmd->add_option("--tokenizer", n.tokenizerDir, "[llava] folder with tokenizer.model (default: the model folder)");
  cmd->add_option("--vision-tower", n.visionTowerDir, "[llava] CLIP tower folder of an original-layout checkpoint");
  cmd->add_option("--device", n.device, "[llava] auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", n.dtype, "[llava] auto (fp32 on CPU, bf16 on CUDA), fp32, fp16 or bf16")->capture_default_str();
  cmd->add_option("--rm", a->rm, "[llava] reward-model folder that picks chosen/rejected (default: the project's built-in ranker)");
  cmd->add_option("--rm-tokenizer", a->rmTokenizer, "[llava] tokenizer of --rm (default: its folder, else --tokenizer)");
  cmd->add_option("--rm-pair-side", a->rmPairSide, "[llava] each creative's side in the RM's pair image")->capture_default_str();
  cmd->add_option("--temperature", n.temperature, "[llava] sampling temperature")->capture_default_str();
  cmd->add_option("--top-p", n.topP, "[llava] nucleus sampling")->capture_default_str();
  cmd->add_option("--max-new-tokens", n.maxNewTokens, "[llava] answer length limit")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--beta", n.beta, "[llava] DPO beta")->capture_default_str();
  cmd->add_option("--beta-pc", n.betaPc, "[llava] PCPO beta")->capture_default_str();
  cmd->add_option("--pcpo-weight", n.pcpoWeight, "[llava] weight of the PCPO term")->capture_default_str();
  cmd->add_option("--lora-r", n.lora.rank, "[llava] LoRA rank")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--lora-alpha", n.lora.alpha, "[llava] LoRA alpha")->capture_default_str();
  cmd->add_option("--lora-dropout", n.lora.dropout, "[llava] LoRA dropout")->capture_default_str();
  cmd->add_option("--batch-size", n.batchSize, "[llava] records per micro-batch")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--preset", n.preset, "[llava] ad size of the renders")->capture_default_str();
  cmd->add_option("--name", n.name, "[llava] output folder under <project>/models (default: <model>-pcpo-<run>)");
  cmd->add_flag("--gradient-checkpointing", n.gradientCheckpointing, "[llava] recompute layers in backward (less memory)");
  cmd->add_option("--sd-model", a->sdModel,
                  "[llava] render each prompt with this SD1.5 ControlNet-inpaint folder (default: built-in backdrops)");
  cmd->add_option("--sd-controlnet", a->sdControlnet, "[llava] ControlNet folder for --sd-model (default: its controlnet/)");
  cmd->add_option("--sd-steps", a->sdSteps, "[llava] denoising steps of the SD renders")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--sd-working-size", a->sdWorkingSize, "[llava] long side the SD renders are generated at")
      ->capture_default_str();
  cmd->add_option("--nproc", a->nproc,
                  "[llava] data-parallel workers on this machine (or start one per GPU/machine with torchrun's "
                  "MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK)")
      ->check(CLI::Range(1, 1024));
  cmd->callback([a] {
    if (a->engine == "llava") {
      try {
        launchWorkersIfAsked(a->nproc);
        auto project = caig::Project::open(a->project);
        auto& o = a->neural;
        if (a->model.empty()) throw std::invalid_argument("--engine llava needs --model <LLaVA folder>");
        const auto parallel = joinDataParallel(o.device);
        o.parallel = parallel.get();
        const bool quiet = isWorkerRank();
        o.modelDir = a->model;
        if (a->rounds > 0) o.rounds = a->rounds;
        if (!std::isnan(a->lr)) o.learningRate = a->lr;
        o.productsPerRound = a->options.productsPerRound;
        o.seed = a->options.seed;
        o.logFile = a->options.logFile;
        std::unique_ptr<caig::CtrRanker> ranker;
        if (!a->rm.empty()) {
          if (!caig::isRewardModelFolder(a->rm))
            throw std::invalid_argument(a->rm.string() +
                                        ": not a reward-model folder (no config.json with a checkpoint holding score.weight)");
          caig::NeuralRankerOptions ro;
          ro.engine.modelDir = a->rm;
          ro.engine.tokenizerDir = !a->rmTokenizer.empty() ? a->rmTokenizer
                                   : fs::exists(a->rm / "tokenizer.model") ? fs::path() : o.tokenizerDir;
          ro.engine.device = o.device;
          ro.pairSide = a->rmPairSide;
          ranker = std::make_unique<caig::NeuralRanker>(ro);
        } else {
          auto builtin = std::make_unique<caig::BuiltinRanker>();
          if (const auto w = caig::activeBuiltinRankerWeights(project)) builtin->load(*w);
          ranker = std::move(builtin);
        }
        if (!quiet) std::fprintf(stderr, "ranker %s (%s)\n", ranker->id().c_str(), ranker->status().c_str());
        // CAIG renders every sampled prompt with the real generator; the built-in backdrops are the
        // fallback that needs no weights. One render per prompt, seeded from the run's seed.
        caig::GeneratorCache renderCache;
        if (!a->sdModel.empty()) {
          caig::SdSettings sd;
          sd.modelDir = a->sdModel;
          sd.controlnetDir = a->sdControlnet;
          sd.steps = a->sdSteps;
          sd.workingLongSide = a->sdWorkingSize;
          sd.device = o.device;
          o.renderEngine = "sd15";
          const auto& kind = caig::generatorKind(o.renderEngine);
          o.renderSettings = caig::completeSettings(kind, caig::toGeneratorSettings(sd));
          const auto& g = renderCache.get(kind, o.renderSettings);
          if (!quiet)
            std::fprintf(stderr, "renders by %s on %s (%s), %s\n", g.modelId().c_str(), g.device().c_str(),
                         g.precision().c_str(), g.describe(o.renderSettings).c_str());
        }
        o.renderCache = &renderCache;
        catchInterrupt();
        o.cancel = &gCancel;
        Progress bar("pcpo");
        o.progress = [&](int done, int total) {
          if (!quiet) bar.update(done, total);
        };
        o.note = [&](const std::string& line) {
          if (!quiet) bar.line(line);
        };
        const auto r = caig::runNeuralPcpo(project, *ranker, o);
        bar.finish();
        if (quiet) std::exit(r.cancelled ? 130 : 0);
        std::printf("%slog: %s\n", r.summary().c_str(), r.logFile.string().c_str());
        std::exit(r.cancelled ? 130 : 0);
      } catch (const std::exception& e) {
        fail("pcpo", e);
      }
    }
    if (a->nproc > 1) {
      std::fprintf(stderr, "caig pcpo: --nproc is for --engine llava (the built-in loop runs in one process)\n");
      std::exit(1);
    }
    if (a->rounds > 0) a->options.rounds = a->rounds;
    if (!std::isnan(a->lr)) a->options.learningRate = a->lr;
    if (a->engine != "builtin") {
      std::fprintf(stderr, "caig pcpo: the %s engine is not available in this build (use --engine builtin or llava)\n",
                   a->engine.c_str());
      std::exit(kNotAvailable);
    }
    try {
      auto project = caig::Project::open(a->project);
      caig::BuiltinRanker ranker;
      if (const auto w = caig::activeBuiltinRankerWeights(project)) ranker.load(*w);
      std::fprintf(stderr, "ranker %s (%s)\n", ranker.id().c_str(), ranker.status().c_str());
      Progress bar("pcpo");
      a->options.progress = [&](int done, int total) { bar.update(done, total); };
      const auto r = caig::runStylePreferenceLoop(project, ranker, a->options);
      bar.finish();
      std::printf("%zu comparisons on %s in %.1f s; style weights (before -> after):\n", r.comparisons.size(),
                  r.productSource.c_str(), r.seconds);
      for (const auto& [id, w] : r.after) std::printf("  %-20s %6.3f -> %6.3f\n", id.c_str(), r.before.at(id), w);
      std::printf("saved %s\nlog: %s\n", r.weightsFile.string().c_str(), r.logFile.string().c_str());
      std::exit(0);
    } catch (const std::exception& e) {
      fail("pcpo", e);
    }
  });
}

void addDemoClicks(CLI::App& app) {
  struct Args {
    fs::path out;
    caig::SyntheticClickOptions options;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("demo-clicks", "Write synthetic click data with a known click model (tests, demos)");
  cmd->add_option("out", a->out, "Output folder")->required();
  cmd->add_option("--products", a->options.products, "Products")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--variants", a->options.variantsPerProduct, "Variants per product")
      ->capture_default_str()
      ->check(CLI::Range(2, 100));
  cmd->add_option("--seed", a->options.seed, "Seed")->capture_default_str();
  cmd->add_option("--preset", a->options.preset, "Ad size of the variants")->capture_default_str();
  cmd->callback([a] {
    try {
      Progress bar("demo-clicks");
      const auto d = caig::writeSyntheticClicks(a->out, a->options, [&](int done, int total) { bar.update(done, total); });
      bar.finish();
      std::printf("wrote %zu creatives of %d products to %s: %s, %s (images by hash), %s (the hidden model)\n",
                  d.creatives.size(), a->options.products, a->out.string().c_str(), d.csvFile.filename().string().c_str(),
                  d.jsonFile.filename().string().c_str(), d.truthFile.filename().string().c_str());
      std::exit(0);
    } catch (const std::exception& e) {
      fail("demo-clicks", e);
    }
  });
}

}  // namespace

// Registered from cli_main.cpp, in workflow order.
void addTrainingCommands(CLI::App& app, const std::vector<std::string>& arguments) {
  gArguments = arguments;
  addImportClicks(app);
  addTrainRm(app);
  addPcpo(app);
  addDemoClicks(app);
}
