// Training bundles end to end, as a team uses them: the studio's project exports its clicks and
// Training-dock options (core/training/training_bundle.h), the bundle's run.sh trains on a
// "server" (another folder with its own copy of the tiny LLaVA reward model, the caig binary
// under test), and the result comes back into the project. The server's adapter equals the one
// the studio's own job trains with the same options; what cannot be used is refused with a
// reason and changes nothing.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clicks/click_data.h"
#include "core/clicks/synthetic_clicks.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/training/distributed.h"
#include "core/training/neural_training_jobs.h"
#include "core/training/training_bundle.h"
#include "models/io/safetensors.h"
#include "tests/tiny_models.h"

namespace fs = std::filesystem;

namespace {

const std::string kCli = CAIG_CLI;
const fs::path kData = CAIG_TEST_DATA;

fs::path tempDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("caig_bundle_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the bundle's script as the README says, with the caig under test; returns the exit status.
int runScript(const fs::path& bundle, const fs::path& model, const std::string& extra, const fs::path& log) {
  const std::string command = "MODEL='" + model.string() + "' CAIG='" + kCli + "' sh '" + (bundle / "run.sh").string() +
                              "' " + extra + " >'" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double maxAbsDiff(const fs::path& a, const fs::path& b) {
  const auto fa = caig::io::SafetensorsFile::open(a), fb = caig::io::SafetensorsFile::open(b);
  EXPECT_EQ(fa.tensors().size(), fb.tensors().size());
  double worst = 0;
  for (const auto& t : fa.tensors()) {
    if (!fb.contains(t.name)) return 1e9;
    worst = std::max(worst, (fa.tensor(t.name) - fb.tensor(t.name)).abs().max().item<double>());
  }
  return worst;
}

struct Desk {
  fs::path dir, model;
  caig::Project project;
};

// A project with synthetic clicks (6 products x 4 creatives) and an installed tiny reward model.
Desk makeDesk(const fs::path& dir) {
  const fs::path model = caig::test::assembleTinyRewardModel(kData, dir / "models" / "rm", /*withTokenizer=*/true);
  caig::SyntheticClickOptions synth;
  synth.products = 6;
  synth.variantsPerProduct = 4;
  synth.shotSize = 96;
  const auto data = caig::writeSyntheticClicks(dir / "synth", synth);
  caig::Project project = caig::Project::create(dir / "project");
  caig::importClicks(project, data.csvFile);
  return {dir, model, std::move(project)};
}

caig::NeuralRmJobOptions dockOptions(const fs::path& model) {
  caig::NeuralRmJobOptions o;  // what the Training dock sets, small
  o.modelDir = model;
  o.steps = 4;
  o.loraRank = 4;
  o.batchSize = 4;
  o.pairSide = 32;
  o.device = "cpu";
  o.merge = true;
  return o;
}

}  // namespace

TEST(TrainingBundle, TrainsOnAServerLikeTheStudioAndComesBack) {
  const fs::path dir = tempDir("roundtrip");
  Desk desk = makeDesk(dir / "desk");
  const caig::NeuralRmJobOptions options = dockOptions(desk.model);

  const caig::TrainingBundleExport bundle = caig::exportTrainingBundle(desk.project, options, dir / "bundle");
  EXPECT_EQ(bundle.records, 24);
  EXPECT_EQ(bundle.products, 6);
  EXPECT_GT(bundle.pairs, 0);
  for (const char* f : {"bundle.json", "run.sh", "README.txt", "project/project.caig"})
    EXPECT_TRUE(fs::is_regular_file(dir / "bundle" / f)) << f;
  EXPECT_FALSE(fs::exists(dir / "bundle.partial"));
  EXPECT_FALSE(fs::exists(dir / "bundle" / "staging"));
  const auto info = nlohmann::json::parse(readFile(dir / "bundle" / "bundle.json"));
  EXPECT_EQ(info["format"], "caig-training-bundle");
  EXPECT_EQ(info["model"]["name"], "rm");
  EXPECT_EQ(info["model"]["fingerprint"], caig::modelFolderFingerprint(desk.model));
  EXPECT_EQ(info["pairs"], bundle.pairs);
  EXPECT_EQ(info["name"], "rm-ft");
  const std::string script = readFile(dir / "bundle" / "run.sh");
  EXPECT_NE(script.find("--lr 2e-05 --lora-r 4 --lora-alpha 8 --batch-size 4"), std::string::npos) << script;
  EXPECT_NE(script.find("--merge"), std::string::npos);

  // The studio's own job with the same options, for reference (named apart so both fit).
  caig::NeuralRmJobOptions local = options;
  local.name = "studio-run";
  const caig::NeuralRmJobResult studio = caig::runNeuralRewardModelTraining(desk.project, local);
  EXPECT_EQ(studio.pairs, bundle.pairs);

  // The server: the bundle and a copy of the model somewhere else, one process.
  const fs::path server = dir / "server";
  fs::create_directories(server);
  fs::copy(dir / "bundle", server / "bundle", fs::copy_options::recursive);
  fs::copy(desk.model, server / "rm", fs::copy_options::recursive);
  fs::create_directories(server / "rm" / ".cache");
  std::ofstream(server / "rm" / "README.md") << "a model card the studio's copy does not have\n";  // not the model
  ASSERT_EQ(runScript(server / "bundle", server / "rm", "", server / "run.log"), 0) << readFile(server / "run.log");
  const fs::path trained = server / "bundle" / "project" / "models" / "rm-ft";
  ASSERT_TRUE(fs::is_regular_file(trained / "adapter_model.safetensors")) << readFile(server / "run.log");
  // The same pairs and options give the studio's weights (one process, same seed: the same steps).
  EXPECT_LE(maxAbsDiff(trained / "adapter_model.safetensors", studio.adapterDir / "adapter_model.safetensors"), 1e-6);
  EXPECT_LE(maxAbsDiff(trained / "reward_heads.safetensors", studio.adapterDir / "reward_heads.safetensors"), 1e-6);
  {  // ... and the steps moved the adapter well past that tolerance (lora_B starts at zero)
    const auto f = caig::io::SafetensorsFile::open(trained / "adapter_model.safetensors");
    double largestB = 0;
    for (const auto& t : f.tensors())
      if (t.name.find("lora_B") != std::string::npos)
        largestB = std::max(largestB, f.tensor(t.name).abs().max().item<double>());
    EXPECT_GT(largestB, 1e-5);
  }

  // Back in the studio.
  const caig::TrainingResultImport imported = caig::importTrainingResult(desk.project, server / "bundle");
  EXPECT_EQ(imported.name, "rm-ft");
  EXPECT_EQ(imported.adapterDir, desk.project.absolute("models/rm-ft"));
  EXPECT_EQ(imported.mergedDir, desk.project.absolute("models/rm-ft/merged"));
  EXPECT_TRUE(fs::is_regular_file(imported.logFile)) << imported.summary;
  EXPECT_NE(imported.summary.find("Held-out accuracy"), std::string::npos) << imported.summary;
  const auto adapterInfo = nlohmann::json::parse(readFile(imported.adapterDir / "reward_model.json"));
  EXPECT_EQ(adapterInfo["baseModel"], fs::absolute(desk.model).string());  // this machine's copy
  EXPECT_EQ(adapterInfo["baseFingerprint"], info["model"]["fingerprint"]);
  EXPECT_EQ(desk.project.store().setting("ranker.neural.active").value_or(""), "models/rm-ft/merged");
  bool adapterListed = false;
  for (const auto& m : desk.project.store().models()) adapterListed |= m.kind == "adapter" && m.name == "rm-ft";
  EXPECT_TRUE(adapterListed);
  bool mergedUsable = false;
  for (const auto& m : caig::ModelRegistry::projectModels(desk.project.dir()))
    mergedUsable |= m.path == imported.mergedDir && m.status == caig::ModelStatus::Ok;
  EXPECT_TRUE(mergedUsable);

  // The same name again: refused unless replacing; replacing leaves one complete copy.
  try {
    caig::importTrainingResult(desk.project, server / "bundle");
    ADD_FAILURE() << "a second import under the same name was taken";
  } catch (const caig::TrainingBundleError& e) {
    EXPECT_NE(std::string(e.what()).find("already has a model named 'rm-ft'"), std::string::npos) << e.what();
  }
  caig::TrainingResultImportOptions replace;
  replace.replace = true;
  caig::importTrainingResult(desk.project, server / "bundle", replace);
  EXPECT_TRUE(fs::is_regular_file(imported.adapterDir / "adapter_model.safetensors"));
  EXPECT_FALSE(fs::exists(desk.project.absolute("models/rm-ft.old")));
  EXPECT_FALSE(fs::exists(desk.project.absolute("models/rm-ft.partial")));

  // The merged folder alone (what a team may copy back) imports as a standalone ranker.
  fs::copy(trained / "merged", dir / "team-merged", fs::copy_options::recursive);
  const auto alone = caig::importTrainingResult(desk.project, dir / "team-merged");
  EXPECT_TRUE(alone.adapterDir.empty());
  EXPECT_EQ(alone.mergedDir, desk.project.absolute("models/team-merged"));
  EXPECT_EQ(desk.project.store().setting("ranker.neural.active").value_or(""), "models/team-merged");
  fs::remove_all(dir);
}

TEST(TrainingBundle, RefusesWhatItCannotUseAndChangesNothing) {
  const fs::path dir = tempDir("refusals");
  Desk desk = makeDesk(dir / "desk");
  const caig::NeuralRmJobOptions options = dockOptions(desk.model);
  auto expectError = [](const auto& work, const std::string& part) {
    try {
      work();
      ADD_FAILURE() << "no error; expected one saying: " << part;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };

  // A project without clicks has nothing to train on; nothing is written.
  caig::Project empty = caig::Project::create(dir / "empty");
  expectError([&] { caig::exportTrainingBundle(empty, options, dir / "b0"); }, "give no training pairs");
  EXPECT_FALSE(fs::exists(dir / "b0"));
  EXPECT_FALSE(fs::exists(dir / "b0.partial"));
  // An existing folder is not overwritten unless asked.
  fs::create_directories(dir / "taken");
  expectError([&] { caig::exportTrainingBundle(desk.project, options, dir / "taken"); }, "already exists");
  // A creative whose image went missing: named, and no half bundle left behind.
  const auto records = desk.project.store().clickRecords();
  const fs::path image = desk.project.absolute(records.at(3).imagePath);
  fs::rename(image, dir / "aside.png");
  expectError([&] { caig::exportTrainingBundle(desk.project, options, dir / "b1"); }, records.at(3).creativeId);
  EXPECT_FALSE(fs::exists(dir / "b1"));
  EXPECT_FALSE(fs::exists(dir / "b1.partial"));
  fs::rename(dir / "aside.png", image);

  caig::exportTrainingBundle(desk.project, options, dir / "bundle");
  // Nothing to import before the server ran it.
  expectError([&] { caig::importTrainingResult(desk.project, dir / "bundle"); }, "holds no result yet");
  // No MODEL: the script says what to set.
  EXPECT_EQ(runScript(dir / "bundle", "", "", dir / "nomodel.log"), 2);
  EXPECT_NE(readFile(dir / "nomodel.log").find("set MODEL to this machine's copy of the reward model 'rm'"),
            std::string::npos)
      << readFile(dir / "nomodel.log");
  // A different model on the server is refused before training.
  fs::copy(desk.model, dir / "other-rm", fs::copy_options::recursive);
  caig::io::saveSafetensors(dir / "other-rm" / "extra.safetensors", {{"x", at::zeros({2})}});
  EXPECT_EQ(runScript(dir / "bundle", dir / "other-rm", "", dir / "other.log"), 1);
  EXPECT_NE(readFile(dir / "other.log").find("is not the base model these options were made for"), std::string::npos)
      << readFile(dir / "other.log");
  EXPECT_FALSE(fs::exists(dir / "bundle" / "project" / "models" / "rm-ft"));

  // Two local workers through the script's --nproc (the extra flags pass through).
  ASSERT_EQ(runScript(dir / "bundle", desk.model, "--nproc 2", dir / "two.log"), 0) << readFile(dir / "two.log");
  EXPECT_NE(readFile(dir / "two.log").find("data parallel: 2 processes"), std::string::npos)
      << readFile(dir / "two.log");
  const fs::path adapter = dir / "bundle" / "project" / "models" / "rm-ft";
  ASSERT_TRUE(fs::is_regular_file(adapter / "adapter_model.safetensors"));

  const auto modelsBefore = desk.project.store().models().size();
  // The adapter with another base model than the one it was trained on.
  caig::TrainingResultImportOptions otherBase;
  otherBase.baseModelDir = dir / "other-rm";
  expectError([&] { caig::importTrainingResult(desk.project, dir / "bundle", otherBase); },
              "was trained on another copy of its base model");
  // Not a result at all.
  expectError([&] { caig::importTrainingResult(desk.project, dir / "taken"); },
              "is not a training bundle, a reward adapter or a reward model");
  // A damaged adapter (truncated weights).
  fs::copy(adapter, dir / "damaged", fs::copy_options::recursive);
  fs::resize_file(dir / "damaged" / "adapter_model.safetensors", 40);
  expectError([&] { caig::importTrainingResult(desk.project, dir / "damaged"); }, "not a usable LoRA adapter");
  EXPECT_EQ(desk.project.store().models().size(), modelsBefore);
  EXPECT_FALSE(fs::exists(desk.project.absolute("models/rm-ft")));
  EXPECT_FALSE(fs::exists(desk.project.absolute("models/damaged")));
  EXPECT_FALSE(fs::exists(desk.project.absolute("models/damaged.partial")));
  fs::remove_all(dir);
}
