#include "core/training/training_bundle.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/base/csv.h"
#include "core/base/version.h"
#include "core/clicks/click_data.h"
#include "core/clicks/click_pairs.h"
#include "core/model_files/hf_cache.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/training/distributed.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;

namespace caig {

namespace {

constexpr const char* kBundleFormat = "caig-training-bundle";

// The shortest decimal that reads back as exactly `v` ("2e-05", not "2.0000000000000002e-05").
std::string number(double v) {
  char buf[40];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// POSIX shell single quotes: the word exactly as given.
std::string shellWord(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:+,") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Copies a folder's tree (symlinks followed) into `to`, which must not exist. Throws io::FileError
// naming what failed (a full disk included).
void copyTree(const fs::path& from, const fs::path& to) {
  try {
    fs::copy(from, to, fs::copy_options::recursive);
  } catch (const fs::filesystem_error& e) {
    throw io::FileError("cannot copy '" + from.string() + "' to '" + to.string() + "': " + e.what());
  }
}

// Moves `partial` to `target`: when `target` exists (and replacing was allowed), it is set aside
// first and removed only after the new one is in place.
void putInPlace(const fs::path& partial, const fs::path& target) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(target)) {
    old = target;
    old += ".old";
    fs::remove_all(old, ec);
    fs::rename(target, old, ec);
    if (ec) throw io::FileError("cannot move '" + target.string() + "' aside: " + ec.message());
  }
  fs::rename(partial, target, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, target);
    throw io::FileError("cannot move '" + partial.string() + "' to '" + target.string() + "': " + ec.message());
  }
  if (!old.empty()) fs::remove_all(old, ec);
}

// Removes the partial folder when the work did not finish.
struct PartialDir {
  fs::path dir;
  bool keep = false;
  ~PartialDir() {
    std::error_code ec;
    if (!keep) fs::remove_all(dir, ec);
  }
};

fs::path siblingWithSuffix(fs::path p, const char* suffix) {
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  p += suffix;
  return p;
}

std::string utcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string runScript(const std::string& modelName, const std::string& fingerprint,
                      const std::vector<std::string>& arguments) {
  std::string args;
  for (const auto& a : arguments) args += " " + shellWord(a);
  return "#!/bin/sh\n"
         "# CAIG Studio training bundle: fine-tunes the reward model '" +
         modelName +
         "' on the click pairs in project/.\n"
         "# See README.txt. One process (CPU, or one GPU with --device cuda):\n"
         "#   MODEL=/path/to/" +
         modelName +
         " sh run.sh\n"
         "# N local workers (one per GPU with --device cuda):\n"
         "#   MODEL=/path/to/" +
         modelName +
         " sh run.sh --nproc N\n"
         "# Several machines: start it on each with MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and\n"
         "# LOCAL_RANK set (torchrun's variables); rank 0's copy of project/ gets the result.\n"
         "# Further `caig train-rm` flags are appended (e.g. --resume after a stop).\n"
         "set -eu\n"
         "here=$(CDPATH= cd -- \"$(dirname -- \"$0\")\" && pwd)\n"
         "caig=\"${CAIG:-caig}\"\n"
         "if [ -z \"${MODEL:-}\" ]; then\n"
         "  echo \"run.sh: set MODEL to this machine's copy of the reward model '" +
         modelName + "' (MODEL=/path/to/" + modelName +
         " sh run.sh)\" >&2\n"
         "  exit 2\n"
         "fi\n"
         "exec \"$caig\" train-rm --project \"$here/project\" --model \"$MODEL\" --base-fingerprint " +
         fingerprint + args + " \"$@\"\n";
}

std::string readme(const std::string& modelName, const std::string& fingerprint, const std::string& name, int records,
                   int products, int pairs) {
  return "CAIG Studio training bundle\n"
         "===========================\n\n"
         "Fine-tunes the reward model '" +
         modelName + "' (LoRA) on " + std::to_string(pairs) + " click pairs (" + std::to_string(records) +
         " creatives of " + std::to_string(products) +
         " products), with the options the studio's Training dock had (bundle.json).\n\n"
         "On the server (caig installed, and a copy of the model folder '" +
         modelName +
         "'):\n\n"
         "  MODEL=/path/to/" +
         modelName +
         " sh run.sh                # one process: the CPU, or one GPU with --device cuda\n"
         "  MODEL=/path/to/" +
         modelName +
         " sh run.sh --nproc 4      # 4 workers on this machine\n\n"
         "On several machines, run it on each with the torchrun variables set: MASTER_ADDR (rank 0's\n"
         "address), MASTER_PORT, WORLD_SIZE (all workers), RANK (this worker), LOCAL_RANK (its GPU\n"
         "on this machine). CAIG_DIST_TIMEOUT (seconds, default 300) bounds the wait for the others;\n"
         "GLOO_SOCKET_IFNAME picks the network interface on CPU machines. The batch size is global:\n"
         "the steps are the ones one process would take.\n\n"
         "The model's files must be the ones the studio has (fingerprint " +
         fingerprint +
         "); another copy\nis refused before training. A stopped run continues with: sh run.sh --resume\n\n"
         "The result lands in project/models/" +
         name +
         "/ (the adapter; merged/ is the standalone reward\n"
         "model when \"Standalone\" was on). Bring the whole bundle folder back (or just that folder) and\n"
         "import it: in the studio, Training > Import result..., or\n\n"
         "  caig bundle import --project <your project> <this folder>\n";
}

}  // namespace

std::vector<std::string> trainRmArguments(const NeuralRmJobOptions& o) {
  const std::string name = o.name.empty() ? modelFolderName(o.modelDir) + "-ft" : o.name;
  std::vector<std::string> a = {"--steps",
                                std::to_string(o.steps),
                                "--lr",
                                number(o.learningRate),
                                "--lora-r",
                                std::to_string(o.loraRank),
                                "--lora-alpha",
                                std::to_string(2 * o.loraRank),
                                "--batch-size",
                                std::to_string(o.batchSize),
                                "--min-impressions",
                                std::to_string(o.rules.minImpressions),
                                "--ratio-min",
                                number(o.rules.ratioMin),
                                "--ratio-max",
                                number(o.rules.ratioMax),
                                "--max-pairs-per-product",
                                std::to_string(o.rules.maxPairsPerProduct),
                                "--val-fraction",
                                number(o.validationFraction),
                                "--seed",
                                std::to_string(o.seed),
                                "--pair-side",
                                std::to_string(o.pairSide),
                                "--name",
                                name};
  if (o.evalEvery > 0) a.insert(a.end(), {"--eval-every", std::to_string(o.evalEvery)});
  if (o.checkpointEvery > 0) a.insert(a.end(), {"--checkpoint-every", std::to_string(o.checkpointEvery)});
  if (o.merge) a.push_back("--merge");
  return a;
}

TrainingBundleExport exportTrainingBundle(Project& project, const NeuralRmJobOptions& options, const fs::path& out,
                                          bool replace, const std::function<void(int, int)>& progress) {
  if (out.empty()) throw TrainingBundleError("no folder given for the training bundle");
  if (!fs::is_directory(options.modelDir))
    throw TrainingBundleError("the reward model folder '" + options.modelDir.string() + "' does not exist");
  if (fs::exists(out) && !replace)
    throw TrainingBundleError("'" + out.string() + "' already exists: choose another folder or replace it");

  // The records and the pairs they give, as the server's run will form them.
  const std::vector<ClickRecord> records = project.store().clickRecords();
  const PairSet pairs = buildPairs(loadClickCreatives(project), options.rules);
  if (pairs.stats.pairs == 0)
    throw TrainingBundleError("the project's clicks give no training pairs with these rules (" +
                              std::to_string(records.size()) +
                              " creatives imported): import more click data or loosen the pair rules");
  std::map<std::string, ClickProduct> products;
  for (const auto& p : project.store().clickProducts()) products[p.key] = p;

  // Room for the images twice (the staged CSV's and the bundle project's copies).
  uint64_t imageBytes = 0;
  std::error_code ec;
  for (const auto& r : records) {
    const fs::path image = project.absolute(r.imagePath);
    if (!fs::is_regular_file(image))
      throw TrainingBundleError("the image of creative '" + r.creativeId +
                                "' is missing from the project: " + image.string());
    imageBytes += fs::file_size(image, ec);
    if (!r.alphaPath.empty()) imageBytes += fs::file_size(project.absolute(r.alphaPath), ec);
  }
  const fs::path parent = fs::absolute(out).parent_path();
  const uint64_t needed = 2 * imageBytes + (8u << 20), available = hf::freeBytes(parent);
  if (available < needed)
    throw TrainingBundleError("not enough free space in '" + parent.string() +
                              "' for the training bundle: it needs about " + hf::formatBytes(needed) + ", " +
                              hf::formatBytes(available) + " are free");

  PartialDir partial{siblingWithSuffix(fs::absolute(out), ".partial")};
  fs::remove_all(partial.dir, ec);
  const fs::path staging = partial.dir / "staging";
  fs::create_directories(staging / "images");

  // The records as a click CSV with their images beside it (masks as <stem>.alpha.png, which
  // the import picks up), imported into the bundle's own project with the studio's importer.
  std::string csv = "creative_id,product_id,product_title,category,image,impressions,clicks\n";
  std::set<std::string> names;
  for (const auto& r : records) {
    const fs::path image = project.absolute(r.imagePath);
    std::string stem = image.stem().string();
    for (int k = 2; names.count(stem); ++k) stem = image.stem().string() + "-" + std::to_string(k);
    names.insert(stem);
    const std::string file = "images/" + stem + image.extension().string();
    fs::copy_file(image, staging / file, ec);
    if (ec) throw io::FileError("cannot copy '" + image.string() + "' into the bundle: " + ec.message());
    if (!r.alphaPath.empty()) {
      fs::copy_file(project.absolute(r.alphaPath), staging / "images" / (stem + ".alpha.png"), ec);
      if (ec) throw io::FileError("cannot copy the mask of '" + r.creativeId + "' into the bundle: " + ec.message());
    }
    const auto product = products.find(r.productKey);
    const std::string title = product != products.end() ? product->second.title : "";
    const std::string category = product != products.end() ? product->second.category : "";
    csv += csvField(r.creativeId) + "," + csvField(r.productKey) + "," + csvField(title) + "," + csvField(category) +
           "," + csvField(file) + "," + std::to_string(r.impressions) + "," + std::to_string(r.clicks) + "\n";
  }
  io::writeFileAtomically(staging / "clicks.csv", csv);
  TrainingBundleExport result;
  {
    Project bundleProject = Project::create(partial.dir / "project");
    ImportOptions io;
    io.progress = progress;
    const ImportReport report = importClicks(bundleProject, staging / "clicks.csv", io);
    if (report.rowsImported != static_cast<int>(records.size()))
      throw TrainingBundleError("the bundle's click import took " + std::to_string(report.rowsImported) + " of " +
                                std::to_string(records.size()) + " records" +
                                (report.rejected.empty() ? std::string()
                                                         : " (" + report.rejected.front().creativeId + ": " +
                                                               report.rejected.front().reason + ")"));
    const PairSet again = buildPairs(loadClickCreatives(bundleProject), options.rules);
    if (again.stats.pairs != pairs.stats.pairs)
      throw TrainingBundleError("the bundle's project gives " + std::to_string(again.stats.pairs) +
                                " pairs, the studio's " + std::to_string(pairs.stats.pairs));
  }
  fs::remove_all(staging);

  result.records = static_cast<int>(records.size());
  result.products = static_cast<int>(products.size());
  result.pairs = pairs.stats.pairs;
  result.modelFingerprint = modelFolderFingerprint(options.modelDir);
  result.trainArguments = trainRmArguments(options);
  const std::string modelName = modelFolderName(options.modelDir);
  const std::string name = options.name.empty() ? modelName + "-ft" : options.name;
  const nlohmann::json info{{"format", kBundleFormat},
                            {"version", 1},
                            {"created", utcNow()},
                            {"studioVersion", studioVersion()},
                            {"model",
                             {{"name", modelName},
                              {"path", fs::absolute(options.modelDir).string()},
                              {"fingerprint", result.modelFingerprint}}},
                            {"name", name},
                            {"records", result.records},
                            {"products", result.products},
                            {"pairs", result.pairs},
                            {"options",
                             {{"steps", options.steps},
                              {"learningRate", options.learningRate},
                              {"loraRank", options.loraRank},
                              {"loraAlpha", 2 * options.loraRank},
                              {"batchSize", options.batchSize},
                              {"rules",
                               {{"minImpressions", options.rules.minImpressions},
                                {"ratioMin", options.rules.ratioMin},
                                {"ratioMax", options.rules.ratioMax},
                                {"maxPairsPerProduct", options.rules.maxPairsPerProduct}}},
                              {"validationFraction", options.validationFraction},
                              {"seed", options.seed},
                              {"pairSide", options.pairSide},
                              {"merge", options.merge}}},
                            {"trainArguments", result.trainArguments}};
  io::writeFileAtomically(partial.dir / "bundle.json", info.dump(2) + "\n");
  io::writeFileAtomically(partial.dir / "run.sh", runScript(modelName, result.modelFingerprint, result.trainArguments));
  ::chmod((partial.dir / "run.sh").c_str(), 0755);
  io::writeFileAtomically(partial.dir / "README.txt", readme(modelName, result.modelFingerprint, name, result.records,
                                                             result.products, result.pairs));
  putInPlace(partial.dir, out);
  partial.keep = true;

  result.dir = out;
  result.bytes = folderBytes(out);
  // Run from the folder above the bundle's copy on the server (the copy keeps its name).
  result.command = "MODEL=/path/to/" + modelName + " sh " + siblingWithSuffix(out, "").filename().string() + "/run.sh";
  result.summary = "Training bundle written to " + out.string() + " (" + hf::formatBytes(result.bytes) +
                   "): " + std::to_string(result.pairs) + " pairs from " + std::to_string(result.records) +
                   " creatives of " + std::to_string(result.products) + " products.\nOn the server: MODEL=/path/to/" +
                   modelName + " sh run.sh [--nproc N]\nThen bring the folder back and import the result.";
  return result;
}

namespace {

bool isAdapterFolder(const fs::path& dir) {
  return fs::is_regular_file(dir / "reward_model.json");
}

// The adapter folder's files, each checked (headers only).
void checkAdapter(const fs::path& dir) {
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "reward_heads.safetensors"})
    if (!fs::is_regular_file(dir / f))
      throw TrainingBundleError(dir.string() + " is not a complete reward adapter: " + f + " is missing");
  const auto info = io::readJsonFile(dir / "reward_model.json");
  if (info.value("format", "") != "caig-reward-adapter")
    throw TrainingBundleError((dir / "reward_model.json").string() + " is not a CAIG reward adapter's description");
  const InstalledModel m = ModelRegistry::inspect(dir);
  if (m.kind != ModelKind::LoraAdapter || m.status != ModelStatus::Ok)
    throw TrainingBundleError(dir.string() + " is not a usable LoRA adapter" +
                              (m.reason.empty() ? "" : ": " + m.reason));
  const auto heads = safetensorsTensorNames(dir / "reward_heads.safetensors");
  if (std::find(heads.begin(), heads.end(), "score.weight") == heads.end())
    throw TrainingBundleError((dir / "reward_heads.safetensors").string() + " has no score.weight");
}

fs::path newestLog(const fs::path& logs) {
  fs::path best;
  fs::file_time_type bestTime{};
  std::error_code ec;
  for (auto it = fs::directory_iterator(logs, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.rfind("train-rm-", 0) != 0 || it->path().extension() != ".jsonl") continue;
    const auto t = it->last_write_time(ec);
    if (best.empty() || t > bestTime) best = it->path(), bestTime = t;
  }
  return best;
}

}  // namespace

std::string trainingResultName(const fs::path& fromIn) {
  fs::path from = fromIn;
  while (!from.empty() && from.filename().empty()) from = from.parent_path();
  try {
    if (fs::is_regular_file(from / "bundle.json")) return io::readJsonFile(from / "bundle.json").value("name", "");
  } catch (const std::exception&) {
    return "";
  }
  if (isAdapterFolder(from)) return from.filename().string();
  if (fs::is_regular_file(from / "config.json"))
    return from.filename() == "merged" ? from.parent_path().filename().string() : from.filename().string();
  return "";
}

TrainingResultImport importTrainingResult(Project& project, const fs::path& fromIn,
                                          const TrainingResultImportOptions& options) {
  fs::path from = fromIn;
  while (!from.empty() && from.filename().empty()) from = from.parent_path();
  if (!fs::is_directory(from)) throw TrainingBundleError("'" + fromIn.string() + "' is not a folder");

  TrainingResultImport result;
  fs::path adapter, merged, log, base = options.baseModelDir;
  std::string expectedFingerprint;
  if (fs::is_regular_file(from / "bundle.json")) {
    const auto info = io::readJsonFile(from / "bundle.json");
    if (info.value("format", "") != kBundleFormat)
      throw TrainingBundleError((from / "bundle.json").string() + " is not a CAIG training bundle's description");
    result.name = info.value("name", "");
    adapter = from / "project" / "models" / result.name;
    if (result.name.empty() || !fs::is_directory(adapter))
      throw TrainingBundleError("the bundle " + from.string() + " holds no result yet (no " + adapter.string() +
                                "): run its run.sh on the server first, then bring the folder back");
    if (base.empty() && info.contains("model")) base = info["model"].value("path", "");
    expectedFingerprint = info.contains("model") ? info["model"].value("fingerprint", "") : "";
    log = newestLog(from / "project" / "logs");
  } else if (isAdapterFolder(from)) {
    adapter = from;
    result.name = from.filename().string();
  } else if (fs::is_regular_file(from / "config.json")) {
    merged = from;
    result.name = from.filename() == "merged" ? from.parent_path().filename().string() : from.filename().string();
  } else {
    throw TrainingBundleError("'" + from.string() +
                              "' is not a training bundle, a reward adapter or a reward model: it has no bundle.json, "
                              "reward_model.json or config.json");
  }

  nlohmann::json adapterInfo;
  if (!adapter.empty()) {
    checkAdapter(adapter);
    adapterInfo = io::readJsonFile(adapter / "reward_model.json");
    if (base.empty()) base = adapterInfo.value("baseModel", "");
    if (base.empty() || !fs::is_directory(base))
      throw TrainingBundleError("the adapter needs its base reward model, which is not at '" + base.string() +
                                "': give the folder of this machine's copy");
    const std::string trainedOn = adapterInfo.value("baseFingerprint", "");
    const std::string local = modelFolderFingerprint(base);
    if (!trainedOn.empty() && trainedOn != local)
      throw TrainingBundleError("the adapter was trained on another copy of its base model than " + base.string() +
                                " (fingerprint " + trainedOn + ", this one's is " + local +
                                "): give the folder whose files match");
    if (!expectedFingerprint.empty() && trainedOn.empty() && expectedFingerprint != local)
      throw TrainingBundleError("the bundle was made for another copy of the base model than " + base.string());
    if (fs::is_directory(adapter / "merged")) merged = adapter / "merged";
  }

  const std::string rel = "models/" + result.name;
  const fs::path target = project.absolute(rel);
  if (fs::exists(target) && !options.replace)
    throw TrainingBundleError("the project already has a model named '" + result.name + "' (" + target.string() +
                              "): replace it or import under another name");
  fs::create_directories(target.parent_path());
  PartialDir partial{siblingWithSuffix(target, ".partial")};
  std::error_code ec;
  fs::remove_all(partial.dir, ec);
  const fs::path stagedMerged = adapter.empty() ? partial.dir : partial.dir / "merged";
  if (!adapter.empty()) {
    copyTree(adapter, partial.dir);
    adapterInfo["baseModel"] = fs::absolute(base).string();  // this machine's copy
    adapterInfo["importedFrom"] = fs::absolute(from).string();
    io::writeFileAtomically(partial.dir / "reward_model.json", adapterInfo.dump(2) + "\n");
  } else {
    copyTree(merged, partial.dir);
  }
  if (!merged.empty()) {
    const InstalledModel m = ModelRegistry::inspect(stagedMerged);
    if (m.kind != ModelKind::RewardModel || m.status != ModelStatus::Ok)
      throw TrainingBundleError(merged.string() + " is not a usable reward model" +
                                (m.reason.empty() ? std::string() : ": " + m.reason));
  }
  putInPlace(partial.dir, target);
  partial.keep = true;

  if (!adapter.empty()) result.adapterDir = target;
  if (!merged.empty()) result.mergedDir = adapter.empty() ? target : target / "merged";
  const std::string mergedRel = adapter.empty() ? rel : rel + "/merged";
  project.store().transaction([&] {
    if (!adapter.empty()) project.store().registerModel({0, "adapter", result.name, rel, "fp32"});
    if (!merged.empty()) {
      project.store().registerModel({0, "reward", result.name + "-merged", mergedRel, "-"});
      project.store().setSetting("ranker.neural.active", mergedRel);
    }
  });
  if (!log.empty()) {
    fs::create_directories(project.absolute("logs"));
    const fs::path to = project.absolute("logs") / log.filename().string();
    fs::copy_file(log, to, fs::copy_options::overwrite_existing, ec);
    if (!ec) result.logFile = to;
  }

  result.summary = "Imported '" + result.name + "' into " + target.string() + ".";
  if (adapterInfo.contains("metrics") && adapterInfo["metrics"].is_object()) {
    const auto& m = adapterInfo["metrics"];
    auto accuracy = [&](const char* key) -> std::string {
      if (!m.contains(key) || !m[key].is_object() || !m[key].contains("accuracy")) return "";
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * m[key]["accuracy"].get<double>());
      return buf;
    };
    const std::string before = accuracy("validationUntrained"), after = accuracy("validation");
    if (!before.empty() && !after.empty())
      result.summary += "\nHeld-out accuracy: " + before + " before → " + after + " after.";
    if (m.contains("steps")) result.summary += "\nTrained " + m["steps"].dump() + " steps on the server.";
  }
  if (!result.mergedDir.empty())
    result.summary += "\nThe standalone reward model is the project's ranker now (" + result.mergedDir.string() + ").";
  else
    result.summary += "\nThe adapter runs on " + base.string() + ".";
  return result;
}

}  // namespace caig
