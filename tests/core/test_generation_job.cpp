// The generation job itself (core/generation/generation_job.h): which prompts it takes, the engine
// registry and its settings checks, ranking inside the job, "same seed again", the plain
// inpainting job, and the seam: a third engine, known only to this test, runs through it all.

#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <nlohmann/json.hpp>

#include "../flat_colour_generator.h"
#include "../models/test_util.h"
#include "core_test_util.h"
#include "core/generation/generation_job.h"
#include "core/generation/generator_registry.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/ranking/builtin_ranker.h"

namespace caig {
namespace {

using test::demoAlpha;
using test::errorOf;

namespace fs = std::filesystem;
const fs::path kDemo = fs::path(CAIG_SOURCE_DIR) / "resources/demo";

// A project with the demo mug, cut out with its exact mask.
struct MugProject {
  test::TempDir dir;
  Project project = Project::create(dir / "p");
  Product product = project.importProductShot(kDemo / "mug.png", "Teal Stoneware Coffee Mug", "kitchen");
  MugProject() { project.setCutout(product.id, demoAlpha("mug"), "alpha-file"); }

  std::vector<Variant> generate(const GenerationRequest& request, GenerationEngines engines = {}) {
    const GenerationInput input = prepareGeneration(project, product.id, request);
    return saveGeneration(project, input, runGeneration(engines, input));
  }
};

GenerationRequest request(const std::string& engine, int prompts, const std::string& preset = "1:1-512") {
  GenerationRequest r;
  r.engine = engine;
  r.prompts = prompts;
  r.presetId = preset;
  return r;
}

// ---- Prompts ------------------------------------------------------------------------------

TEST(GenerationJob, PromptsComeGivenPinnedThenNewThenFromThePlanner) {
  const std::vector<PromptRecord> records = {
      {1, 9, "old pinned", "builtin", true},            // pinned: always, though used
      {2, 9, "old used", "builtin", false},             // used and not pinned: not again
      {3, 9, "written, never used", "llava: m", false},  // new
      {4, 9, "typed by the user", "user", false},       // new, newest
  };
  const std::vector<std::int64_t> used = {1, 2};
  const std::vector<JobPrompt> given = {{"typed by the user", "user", 0, nullptr}, {"given", "user", 0, nullptr}};
  const auto chosen = choosePrompts(given, records, used, 4, true);
  ASSERT_EQ(chosen.size(), 4u);
  EXPECT_EQ(chosen[0].text, "typed by the user");
  EXPECT_EQ(chosen[0].promptId, 4);  // matched to its record by text
  EXPECT_EQ(chosen[1].text, "given");
  EXPECT_EQ(chosen[1].promptId, 0);
  EXPECT_EQ(chosen[2].text, "old pinned");
  EXPECT_EQ(chosen[3].text, "written, never used");
  EXPECT_EQ(chosen[3].source, "llava: m");
  EXPECT_EQ(choosePrompts({}, records, used, 1, true).at(0).text, "old pinned");
  EXPECT_TRUE(choosePrompts({}, records, used, 4, false).empty());
}

// A pinned prompt of the user's is what the built-in engine draws too (it used to write its own),
// its style read from the prompt's words; the planner writes the rest.
TEST(GenerationJob, ThePinnedUserPromptIsUsedByTheBuiltinEngine) {
  MugProject m;
  PromptRecord pinned{0, m.product.id, "the mug on a white marble podium, soft light", "user", true};
  pinned.id = m.project.store().addPrompt(pinned);
  const auto saved = m.generate(request("builtin", 2));
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_EQ(saved[0].promptId, pinned.id);
  const auto params = nlohmann::json::parse(saved[0].paramsJson);
  EXPECT_EQ(params.at("prompt"), pinned.text);
  EXPECT_NE(params.at("style").get<std::string>().find("marble"), std::string::npos) << params.at("style");
  EXPECT_NE(saved[1].promptId, pinned.id);
  EXPECT_EQ(m.project.store().prompts(m.product.id).size(), 2u);  // the pinned one and the planner's
  // Generating again: the pinned prompt again, the planner's used prompt not.
  const auto again = m.generate(request("builtin", 2));
  EXPECT_EQ(again[0].promptId, pinned.id);
  EXPECT_NE(again[1].promptId, saved[1].promptId);
}

// ---- Registry -----------------------------------------------------------------------------

TEST(GenerationJob, RegistryChecksEnginesAndSettings) {
  test::registerFlatColourGenerator();
  EXPECT_EQ(generatorKinds().front().name, "builtin");
  const GeneratorKind& flat = generatorKind("flat");
  EXPECT_EQ(completeSettings(flat, {}).at("grey"), 128);  // the default
  EXPECT_EQ(completeSettings(flat, {{"grey", 7}}).at("grey"), 7);
  EXPECT_NE(errorOf([&] { completeSettings(flat, {{"grey", 256}}); }).find("between 0 and 255"), std::string::npos);
  EXPECT_NE(errorOf([&] { completeSettings(flat, {{"grey", "dark"}}); }).find("whole number"), std::string::npos);
  EXPECT_NE(errorOf([&] { completeSettings(flat, {{"steps", 3}}); }).find("no option 'steps'"), std::string::npos);
  EXPECT_NE(errorOf([] { generatorKind("dall-e"); }).find("unknown engine 'dall-e'"), std::string::npos);
  EXPECT_NE(errorOf([] { registerGenerator(test::flatColourKind()); }).find("registered already"), std::string::npos);
  GeneratorKind clash = test::flatColourKind();
  clash.name = "clash";
  clash.options[0].type = OptionType::Text;  // --grey would mean two things
  EXPECT_NE(errorOf([&] { registerGenerator(clash); }).find("--grey"), std::string::npos);
  EXPECT_FALSE(hasGenerator("clash"));
}

// ---- The seam: a third engine through the job ---------------------------------------------

TEST(GenerationJob, AThirdEngineRunsThroughTheSameJob) {
  test::registerFlatColourGenerator();
  MugProject m;
  GenerationRequest r = request("flat", 2);
  r.settings = {{"grey", 90}};
  r.variantsPerPrompt = 2;
  std::vector<std::string> seen;
  GenerationEngines engines;
  const GenerationInput input = prepareGeneration(m.project, m.product.id, r);
  const GenerationOutcome result = runGeneration(engines, input, [&](const GenerationEvent& e) {
    if (e.stage == GenerationEvent::Stage::Generating && e.steps > 0) {
      seen.push_back(cv::format("%d:%d/%d %dx%d", e.variant, e.step, e.steps, e.preview.cols, e.preview.rows));
    }
  });
  ASSERT_EQ(result.variants.size(), 4u);
  EXPECT_EQ(seen.front(), "0:1/2 256x256");  // previews at the working size
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(result.modelId, "flat-colour");
  EXPECT_EQ(result.description, "grey 90");
  const Layout ad = layoutProduct(prepareProduct(loadImage(m.project.absolute(m.product.imagePath)), demoAlpha("mug")),
                                  {512, 512});
  for (const auto& v : result.variants) {
    EXPECT_EQ(v.workingSize, cv::Size(256, 256));
    cv::Mat offGrey;
    cv::absdiff(v.image, cv::Scalar::all(90), offGrey);
    EXPECT_EQ(cv::norm(offGrey, cv::NORM_INF, ad.alpha == 0), 0.0);  // the engine's background
    const cv::Mat opaque = pasteWeights(ad.alpha, 1.5) == 1.0f;
    EXPECT_EQ(cv::norm(v.image, ad.product, cv::NORM_INF, opaque), 0.0);  // the product's own pixels
    EXPECT_EQ(v.params.at("engine"), "flat");
    EXPECT_EQ(v.params.at("settings").at("grey"), 90);
  }
  EXPECT_EQ(result.variants[1].seed, result.variants[0].seed + 1);
  const auto saved = saveGeneration(m.project, input, result);
  ASSERT_EQ(saved.size(), 4u);

  // Same seed again: the recorded engine and settings make the same pixels.
  const GenerationRequest again = repeatRequest(saved[3], std::nullopt);
  EXPECT_EQ(again.engine, "flat");
  EXPECT_EQ(again.settings.at("grey"), 90);
  const auto redone = m.generate(again);
  ASSERT_EQ(redone.size(), 1u);
  EXPECT_EQ(redone[0].imagePath, saved[3].imagePath);  // content-addressed: identical pixels
  EXPECT_EQ(redone[0].promptId, saved[3].promptId);    // and the same prompt record
}

// ---- Ranking, same seed again, the plain job ----------------------------------------------

TEST(GenerationJob, RanksTheNewVariantsWithTheStoredOnes) {
  MugProject m;
  m.generate(request("builtin", 2));
  BuiltinRanker ranker;
  GenerationEngines engines;
  engines.ranker = &ranker;
  const auto saved = m.generate(request("builtin", 2), engines);
  ASSERT_EQ(saved.size(), 2u);
  std::vector<int> ranks;
  for (const auto& v : m.project.store().variants(m.product.id)) {
    ASSERT_TRUE(v.rank.has_value()) << v.id;
    EXPECT_EQ(v.rankerId, ranker.id());
    ranks.push_back(*v.rank);
  }
  std::sort(ranks.begin(), ranks.end());
  EXPECT_EQ(ranks, (std::vector<int>{1, 2, 3, 4}));  // one ranking over the product's variants
  EXPECT_TRUE(saved[0].rank.has_value() && saved[0].winProbability.has_value());
}

TEST(GenerationJob, SameSeedAgainGivesTheSamePixelsAlsoForOlderRecords) {
  MugProject m;
  GenerationRequest r = request("builtin", 3);
  r.seed = 11;
  const auto saved = m.generate(r);
  ASSERT_EQ(saved.size(), 3u);
  const auto prompts = m.project.store().prompts(m.product.id);
  auto promptOf = [&](const Variant& v) {
    for (const auto& p : prompts) {
      if (v.promptId && p.id == *v.promptId) return std::optional<PromptRecord>(p);
    }
    return std::optional<PromptRecord>();
  };
  const auto again = m.generate(repeatRequest(saved[2], promptOf(saved[2])));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].imagePath, saved[2].imagePath);
  EXPECT_EQ(again[0].seed, saved[2].seed);
  EXPECT_EQ(m.project.store().prompts(m.product.id).size(), 3u);

  // A variant recorded before the job kept its settings and prompt text (the first built-in
  // records): the spec and the prompt record are enough.
  Variant old = saved[1];
  auto params = nlohmann::json::parse(old.paramsJson);
  params.erase("settings");
  params.erase("prompt");
  old.paramsJson = params.dump();
  const auto fromOld = m.generate(repeatRequest(old, promptOf(old)));
  EXPECT_EQ(fromOld.at(0).imagePath, saved[1].imagePath);

  Variant broken = saved[0];
  broken.paramsJson = R"({"engine": "dall-e", "preset": "1:1-512"})";
  EXPECT_NE(errorOf([&] { repeatRequest(broken, std::nullopt); }).find("dall-e engine, which this build does not have"),
            std::string::npos);
}

TEST(GenerationJob, ThePlainJobKeepsTheGivenImageWhereTheMaskIsBlack) {
  const cv::Mat image = loadImage(kDemo / "jar.png");
  cv::Mat mask(image.size(), CV_8UC1, cv::Scalar(255));
  mask(cv::Rect(image.cols / 4, image.rows / 4, image.cols / 2, image.rows / 2)).setTo(0);
  GenerationRequest r = request("builtin", 1);
  r.givenPrompts = {{"a marble podium", "user", 0, nullptr}};
  GenerationEngines engines;
  const auto result = runGeneration(engines, prepareGivenCanvas(image, mask, {}, r));
  ASSERT_EQ(result.variants.size(), 1u);
  const auto& v = result.variants[0];
  cv::Mat bgr = image;
  if (image.channels() == 4) cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  EXPECT_EQ(v.image.size(), image.size());
  EXPECT_EQ(cv::norm(v.image, bgr, cv::NORM_INF, mask == 0), 0.0);
  EXPECT_GT(cv::norm(v.image, bgr, cv::NORM_L1, mask != 0), 0.0);
  EXPECT_EQ(v.params.at("preset"), cv::format("%dx%d", image.cols, image.rows));

  EXPECT_NE(errorOf([&] { prepareGivenCanvas(image, cv::Mat(8, 8, CV_8UC1), {}, r); }).find("the mask is 8x8"),
            std::string::npos);
  r.givenPrompts.clear();
  EXPECT_NE(errorOf([&] { prepareGivenCanvas(image, mask, {}, r); }).find("needs at least one prompt"),
            std::string::npos);
}

}  // namespace
}  // namespace caig
