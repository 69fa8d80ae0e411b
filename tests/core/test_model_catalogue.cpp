// The install catalogue shipped in resources/models/catalogue.json and the reader's errors.

#include "core/model_files/model_catalogue.h"

#include <gtest/gtest.h>

#include "core/model_files/hf_hub.h"
#include "models/io/errors.h"
#include "tests/models/test_util.h"

namespace fs = std::filesystem;
using caig::ModelCatalogue;

TEST(ModelCatalogue, TheShippedCatalogueOffersWhatTheStudioRuns) {
  const ModelCatalogue c = ModelCatalogue::load(fs::path(CAIG_SOURCE_DIR) / "resources/models/catalogue.json");
  for (const char* id : {"sd15", "majicmix-v7", "controlnet-canny", "taesd", "lcm-lora-sd15", "sd15-inpainting",
                         "caig-prompt", "clip-vit-l-336", "caig-reward", "isnet"}) {
    const auto* m = c.find(id);
    ASSERT_NE(m, nullptr) << id;
    EXPECT_GT(m->approxBytes, 0u) << id;
    EXPECT_FALSE(m->licence.empty()) << id;
    if (m->source != "hf") continue;
    // Every entry fetches safetensors weights and no pattern could pull a pickle file.
    bool weights = false;
    for (const auto& p : m->include) {
      weights = weights || p.find(".safetensors") != std::string::npos;
      for (const char* pickle : {"x.bin", "x.ckpt", "x.pt", "x.pth"}) {
        EXPECT_FALSE(caig::hf::globMatch(p, pickle) && !caig::hf::isPickleWeights(pickle)) << id << " " << p;
      }
    }
    EXPECT_TRUE(weights) << id;
  }
  EXPECT_EQ(c.find("controlnet-canny")->repo, "lllyasviel/control_v11p_sd15_canny");
  EXPECT_EQ(c.find("caig-reward")->repo, "Chenguoz/CAIG-Reward-Model-PublicData-Trained");
  const auto pack = c.resolve("sd15-studio");
  ASSERT_EQ(pack.size(), 4u);
  EXPECT_EQ(pack[0].id, "sd15");
  EXPECT_EQ(c.resolve("madebyollin/taesd")[0].id, "taesd");  // a catalogue repo keeps its file list
  const auto plain = c.resolve("someone/some-model");
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_TRUE(plain[0].include.empty());
  try {
    c.resolve("stable diffusion");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sd15, majicmix-v7"), std::string::npos) << e.what();
  }
}

TEST(ModelCatalogue, MalformedEntriesAreNamed) {
  caig::test::TempDir tmp;
  const auto expectError = [&](const std::string& text, const std::string& needle) {
    caig::test::writeFile(tmp / "c.json", text);
    try {
      ModelCatalogue::load(tmp / "c.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const caig::io::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string model = R"({"id": "a", "title": "A", "role": "generator", "repo": "o/a", "licence": "MIT"})";
  expectError(R"({"models": 3})", "no \"models\" list");
  expectError(R"({"models": [{"id": "a", "title": "A", "role": "x", "repo": "not a repo", "licence": "MIT"}]})",
              "'not a repo' is not org/name");
  expectError(R"({"models": [)" + model + R"(], "packs": [{"id": "p", "title": "P", "models": ["b"]}]})",
              "pack \"p\" names \"b\"");
  expectError(R"({"models": [)" + model + "," + model + "]}", "listed twice");
  expectError(R"({"models": [{"id": "a", "title": "A", "role": "x", "repo": "o/a", "licence": 3}]})",
              "\"licence\" is not a string");
}
