// The neural main job (core/sd/sd_generation.h) on tests/data/tiny-sd-e2e: a complete diffusers
// ControlNet-inpaint folder with the real CLIP vocabulary and tiny random weights. The images
// are noise, but sizes, paste-back, seeds, progress, cancellation and storage are real.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "../models/test_util.h"
#include "core_test_util.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/generation/generation_job.h"
#include "core/sd/sd_generation.h"

namespace caig {
namespace {

using test::demoAlpha;
using test::errorOf;

namespace fs = std::filesystem;

const fs::path kDemo = fs::path(CAIG_SOURCE_DIR) / "resources/demo";
const fs::path kModel = fs::path(CAIG_TEST_DATA) / "tiny-sd-e2e";

// Small and fast: 2 steps at a 128 px working size on the CPU, the ad at 512 px.
SdSettings tinySettings() {
  SdSettings r;
  r.modelDir = kModel;
  r.steps = 2;
  r.workingLongSide = 128;
  r.device = "cpu";
  r.precision = "fp32";
  r.sampler = "euler_a";
  return r;
}

GenerationRequest tinyRequest() {
  GenerationRequest r;
  r.engine = "sd15";
  r.settings = toGeneratorSettings(tinySettings());
  r.presetId = "1:1-512";
  r.seed = 7;
  return r;
}

// ---- Without weights -----------------------------------------------------------------------

TEST(SdGeneration, SeedModes) {
  EXPECT_EQ(variantSeed(SeedMode::Fixed, 41, 0), 41u);
  EXPECT_EQ(variantSeed(SeedMode::Fixed, 41, 5), 41u);
  EXPECT_EQ(variantSeed(SeedMode::Increment, 41, 0), 41u);
  EXPECT_EQ(variantSeed(SeedMode::Increment, 41, 3), 44u);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 16; ++i) {
    const auto s = variantSeed(SeedMode::Random, 41, i);
    EXPECT_LE(s, 0xffffffffULL);
    seen.insert(s);
  }
  EXPECT_GT(seen.size(), 14u);  // 16 draws of 32 bits: a repeat is a bug, not luck
  for (auto m : {SeedMode::Fixed, SeedMode::Increment, SeedMode::Random}) EXPECT_EQ(parseSeedMode(toString(m)), m);
  EXPECT_THROW(parseSeedMode("sometimes"), std::invalid_argument);
}

TEST(SdGeneration, RequestValidation) {
  registerSdGenerator();
  const GeneratorKind& kind = sdGeneratorKind();
  const GeneratorSettings defaults = completeSettings(kind, {{"model", kModel.string()}});
  EXPECT_EQ(defaults.at("steps"), 30);
  EXPECT_DOUBLE_EQ(defaults.at("cfg").get<double>(), 7.5);
  EXPECT_DOUBLE_EQ(defaults.at("controlnetScale").get<double>(), 1.0);
  EXPECT_EQ(defaults.at("workingSize"), 512);
  EXPECT_EQ(defaults.at("negativePrompt"), kDefaultSdNegativePrompt);
  auto bad = [&](const char* key, const nlohmann::json& value) {
    GeneratorSettings s{{"model", kModel.string()}};
    s[key] = value;
    return errorOf([&] { completeSettings(kind, s); });
  };
  EXPECT_NE(bad("sampler", "heun").find("unknown sampler 'heun'"), std::string::npos);
  EXPECT_NE(bad("steps", 0).find("steps"), std::string::npos);
  EXPECT_NE(bad("workingSize", 500).find("multiple of 8"), std::string::npos);
  EXPECT_NE(bad("model", nullptr).find("needs a model"), std::string::npos);
  auto badRequest = [](auto change) {
    GenerationRequest r = tinyRequest();
    change(r);
    return errorOf([&] { prepareGeneration(cv::Mat(), cv::Mat(), "", "", r); });
  };
  EXPECT_NE(badRequest([](GenerationRequest& r) { r.variantsPerPrompt = 0; }).find("variants per prompt"),
            std::string::npos);
  EXPECT_NE(badRequest([](GenerationRequest& r) { r.presetId = "3:2"; }).find("unknown ad size preset '3:2'"),
            std::string::npos);
  for (const auto& s : sdSamplerNames()) {
    GeneratorSettings settings{{"model", kModel.string()}, {"sampler", s}};
    EXPECT_NO_THROW(completeSettings(kind, settings)) << s;
  }
}

TEST(SdGeneration, MissingModelFoldersAreNamed) {
  SdSettings r = tinySettings();
  r.modelDir = fs::path(CAIG_TEST_DATA) / "no-such-sd-model";
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("no-such-sd-model: no such Stable Diffusion model folder"),
            std::string::npos);
  r.modelDir = fs::path(CAIG_TEST_DATA) / "tiny-llava-hf";  // a model folder, but not a pipeline
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("no model_index.json"), std::string::npos);

  // A copy of the fixture with one component missing at a time.
  test::TempDir tmp;
  const fs::path copy = tmp / "half-downloaded";
  fs::copy(kModel, copy, fs::copy_options::recursive);
  r.modelDir = copy;
  fs::remove_all(copy / "vae");
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("half-downloaded: the vae/ component is missing"), std::string::npos);
  fs::copy(kModel / "vae", copy / "vae", fs::copy_options::recursive);
  fs::remove(copy / "tokenizer/merges.txt");
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("tokenizer/merges.txt is missing"), std::string::npos);
  fs::copy(kModel / "tokenizer/merges.txt", copy / "tokenizer/merges.txt");
  fs::remove(copy / "unet/diffusion_pytorch_model.safetensors");
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("unet/ has no safetensors weights"), std::string::npos);
  fs::copy(kModel / "unet", copy / "unet", fs::copy_options::recursive | fs::copy_options::skip_existing);
  fs::remove_all(copy / "controlnet");
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("the controlnet/ component is missing"), std::string::npos);
  // ... which a separate ControlNet folder supplies.
  r.controlnetDir = tmp / "no-such-controlnet";
  EXPECT_NE(errorOf([&] { SdEngine e(r); }).find("no-such-controlnet: no such ControlNet folder"), std::string::npos);
}

// ---- On the tiny model ---------------------------------------------------------------------

class SdTinyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registerSdGenerator();
    cache_ = std::make_unique<GeneratorCache>();
    engine_ = &cache_->get(generatorKind("sd15"), completeSettings(generatorKind("sd15"), tinyRequest().settings));
  }
  static void TearDownTestSuite() {
    engine_ = nullptr;
    cache_.reset();
  }
  static std::unique_ptr<GeneratorCache> cache_;
  static BackgroundGenerator* engine_;

  // The job on the shot outside any project, with these prompts (-n variants each as request says).
  static GenerationOutcome render(const cv::Mat& shot, const cv::Mat& alpha, const std::vector<std::string>& prompts,
                                 GenerationRequest r, const GenerationObserver& observe = {},
                                 const std::atomic<bool>* cancel = nullptr) {
    r.givenPrompts.clear();
    for (const auto& p : prompts) r.givenPrompts.push_back({p, "user", 0, nullptr});
    r.prompts = static_cast<int>(prompts.size());
    GenerationEngines engines;
    engines.generators = cache_.get();
    return runGeneration(engines, prepareGeneration(shot, alpha, "Glass Jar", "", r), observe, cancel);
  }
  // Each denoising step (the job's Generating events with a step).
  static GenerationObserver onSteps(std::function<void(const GenerationEvent&)> f) {
    return [f](const GenerationEvent& e) {
      if (e.stage == GenerationEvent::Stage::Generating && e.steps > 0) f(e);
    };
  }

  const cv::Mat shot_ = loadImage(kDemo / "jar.png");
  const cv::Mat alpha_ = demoAlpha("jar");
  const std::vector<std::string> prompts_ = {"a glass jar on a marble podium, soft morning light"};
};
std::unique_ptr<GeneratorCache> SdTinyModel::cache_;
BackgroundGenerator* SdTinyModel::engine_ = nullptr;

TEST_F(SdTinyModel, EngineDescribesItself) {
  EXPECT_EQ(engine_->modelId(), "tiny-sd-e2e+controlnet");
  EXPECT_EQ(engine_->device(), "cpu");
  EXPECT_EQ(engine_->precision(), "fp32");
  EXPECT_TRUE(engine_->reusableFor(tinyRequest().settings));
  GeneratorSettings other = tinyRequest().settings;
  other["precision"] = "auto";
  EXPECT_FALSE(engine_->reusableFor(other));
}

TEST_F(SdTinyModel, VariantsHaveThePresetSizeAndTheOriginalProductPixels) {
  GenerationRequest r = tinyRequest();
  r.variantsPerPrompt = 2;
  std::vector<std::pair<int, int>> calls;  // (variant, step)
  cv::Size previewSize;
  const auto result = render(shot_, alpha_, prompts_, r, onSteps([&](const GenerationEvent& e) {
                               EXPECT_EQ(e.steps, 2);
                               calls.emplace_back(e.variant, e.step);
                               previewSize = e.preview.size();
                               EXPECT_EQ(e.preview.type(), CV_8UC3);
                             }));
  ASSERT_FALSE(result.cancelled);
  ASSERT_EQ(result.variants.size(), 2u);
  EXPECT_EQ(calls, (std::vector<std::pair<int, int>>{{0, 1}, {0, 2}, {1, 1}, {1, 2}}));
  EXPECT_EQ(previewSize, cv::Size(128, 128));

  const Layout ad = layoutProduct(prepareProduct(shot_, alpha_), {512, 512});
  const cv::Mat opaque = pasteWeights(ad.alpha, r.composition.featherPx) == 1.0f;
  // The feathered rim aside, the product's opaque pixels are all in the exact region.
  cv::Mat core;
  cv::erode(ad.alpha == 255, core, cv::Mat::ones(5, 5, CV_8U));
  ASSERT_GT(cv::countNonZero(core), 1000);
  EXPECT_EQ(cv::countNonZero(core & ~opaque), 0);
  for (const auto& v : result.variants) {
    ASSERT_EQ(v.image.size(), cv::Size(512, 512));
    ASSERT_EQ(v.image.type(), CV_8UC3);
    EXPECT_EQ(v.background.size(), cv::Size(128, 128));
    EXPECT_EQ(v.workingSize, cv::Size(128, 128));
    EXPECT_EQ(cv::norm(v.image, ad.product, cv::NORM_INF, opaque), 0.0);
    EXPECT_EQ(cv::norm(v.canvasAlpha, ad.alpha, cv::NORM_INF), 0.0);
    // The background is the generator's, not the layout's white fill.
    EXPECT_GT(cv::norm(v.image, ad.product, cv::NORM_L1, ad.alpha == 0), 0.0);
    EXPECT_EQ(v.prompt.text, prompts_[0]);
    EXPECT_EQ(v.params.at("negativePrompt"), kDefaultSdNegativePrompt);
    EXPECT_EQ(v.params.at("sampler"), "euler_a");
    EXPECT_EQ(v.params.at("steps"), 2);
    EXPECT_DOUBLE_EQ(v.params.at("cfg").get<double>(), 7.5);
    EXPECT_EQ(v.params.at("model"), "tiny-sd-e2e+controlnet");
    EXPECT_GT(v.seconds, 0.0);
  }
  // Increment mode (the default): seeds 7 and 8, and different backgrounds.
  EXPECT_EQ(result.variants[0].seed, 7u);
  EXPECT_EQ(result.variants[1].seed, 8u);
  EXPECT_GT(cv::norm(result.variants[0].background, result.variants[1].background, cv::NORM_L1), 0.0);
  EXPECT_GT(cv::norm(result.variants[0].image, result.variants[1].image, cv::NORM_L1, ad.alpha == 0), 0.0);

  // The same seed on the same engine reproduces bit for bit.
  r.variantsPerPrompt = 1;
  r.seed = 8;
  const auto again = render(shot_, alpha_, prompts_, r);
  ASSERT_EQ(again.variants.size(), 1u);
  EXPECT_EQ(cv::norm(again.variants[0].image, result.variants[1].image, cv::NORM_INF), 0.0);
}

TEST_F(SdTinyModel, SeedModesAcrossPromptsAndOtherSizes) {
  GenerationRequest r = tinyRequest();
  r.settings["steps"] = 1;
  r.presetId = "1.91:1";  // 1200x628; working 128x64
  r.seedMode = SeedMode::Fixed;
  const std::vector<std::string> two = {prompts_[0], "a glass jar on a wooden table in a sunny kitchen"};
  const auto fixed = render(shot_, alpha_, two, r);
  ASSERT_EQ(fixed.variants.size(), 2u);
  EXPECT_EQ(fixed.variants[0].seed, 7u);
  EXPECT_EQ(fixed.variants[1].seed, 7u);
  EXPECT_EQ(fixed.variants[1].promptIndex, 1);
  EXPECT_EQ(fixed.variants[1].prompt.text, two[1]);
  EXPECT_EQ(fixed.variants[0].image.size(), cv::Size(1200, 628));
  EXPECT_EQ(fixed.variants[0].background.size(), workingSize({1200, 628}, 128));
  // Same seed, other prompt: the text conditions the image.
  EXPECT_GT(cv::norm(fixed.variants[0].background, fixed.variants[1].background, cv::NORM_L1), 0.0);

  r.seedMode = SeedMode::Random;
  r.variantsPerPrompt = 2;
  const auto random = render(shot_, alpha_, {prompts_[0]}, r);
  ASSERT_EQ(random.variants.size(), 2u);
  EXPECT_NE(random.variants[0].seed, random.variants[1].seed);
  // A random seed is recorded, so the variant can be made again with it.
  r.seedMode = SeedMode::Fixed;
  r.variantsPerPrompt = 1;
  r.seed = random.variants[1].seed;
  const auto redo = render(shot_, alpha_, {prompts_[0]}, r);
  EXPECT_EQ(cv::norm(redo.variants[0].image, random.variants[1].image, cv::NORM_INF), 0.0);
}

// A1111 emphasis and prompts past CLIP's 77 positions reach the model: a weighted word changes
// the background, a 3-chunk prompt renders (the negative prompt padded to as many chunks), and an
// unweighted prompt renders as before (the weighting is exactly 1 there).
TEST_F(SdTinyModel, EmphasisAndLongPromptsReachTheModel) {
  GenerationRequest r = tinyRequest();
  r.settings["steps"] = 1;
  const std::string plain = "a glass jar on a marble podium, soft morning light";
  const auto a = render(shot_, alpha_, {plain}, r);
  const auto b = render(shot_, alpha_, {"a glass jar on a (marble podium:1.6), soft morning light"}, r);
  const auto c = render(shot_, alpha_, {"a glass jar on a marble podium, soft morning light"}, r);
  ASSERT_EQ(a.variants.size(), 1u);
  EXPECT_GT(cv::norm(a.variants[0].background, b.variants[0].background, cv::NORM_L1), 0.0);
  EXPECT_EQ(cv::norm(a.variants[0].background, c.variants[0].background, cv::NORM_INF), 0.0);
  std::string longPrompt;
  for (int i = 0; i < 20; ++i) longPrompt += "a glass jar on a marble podium, ";  // ~180 tokens
  const auto d = render(shot_, alpha_, {longPrompt}, r);
  ASSERT_EQ(d.variants.size(), 1u);
  EXPECT_EQ(d.variants[0].image.size(), cv::Size(512, 512));
  // Past the first 75 tokens the prompt still counts (CLIP's 77 would cut it): another ending
  // after 19 of the 20 repeats, the same first 150 tokens, gives another background.
  std::string otherEnd;
  for (int i = 0; i < 19; ++i) otherEnd += "a glass jar on a marble podium, ";
  otherEnd += "a wooden table in a sunny kitchen";
  const auto e = render(shot_, alpha_, {otherEnd}, r);
  EXPECT_GT(cv::norm(d.variants[0].background, e.variants[0].background, cv::NORM_L1), 0.0);
}

// Outpainting with the real engine: a square SD variant extended to a 1.91:1 banner (1200x628,
// working 128x64: not a multiple of 8 for the ad, the engine's sizes for its latents). The square
// is kept in the middle (rescaled to the banner's height), only the sides are painted.
TEST_F(SdTinyModel, OutpaintingExtendsASquareVariantToABanner) {
  GenerationRequest r = tinyRequest();
  r.settings["steps"] = 1;
  const auto square = render(shot_, alpha_, prompts_, r);
  ASSERT_EQ(square.variants.size(), 1u);
  const cv::Mat source = square.variants[0].image;  // 512x512

  r.presetId = "1.91:1";
  r.givenPrompts = {{prompts_[0], "user", 0, nullptr}};
  r.prompts = 1;
  GenerationInput input = prepareGeneration(shot_, alpha_, "Glass Jar", "", r);
  input.outpaint = OutpaintSource{source, std::nullopt, 0.0, 0.0};
  GenerationEngines engines;
  engines.generators = cache_.get();
  const auto out = runGeneration(engines, input);
  ASSERT_EQ(out.variants.size(), 1u);
  const auto& v = out.variants[0];
  ASSERT_EQ(v.image.size(), cv::Size(1200, 628));
  EXPECT_EQ(v.background.size(), workingSize({1200, 628}, 128));
  const cv::Rect kept = outpaintRect(source.size(), {1200, 628}, 0, 0);
  EXPECT_EQ(kept, cv::Rect(286, 0, 628, 628));
  EXPECT_EQ(v.params.at("outpaint").at("sourceSize"), nlohmann::json({512, 512}));

  // Inside the seam band, away from the product, the banner is the square rescaled.
  cv::Mat scaled;
  cv::resize(source, scaled, kept.size(), 0, 0, cv::INTER_CUBIC);
  const int seam = static_cast<int>(std::lround(16.0 * 628 / v.background.rows));
  cv::Mat away = v.canvasAlpha(kept) == 0;
  cv::erode(away, away, cv::Mat::ones(9, 9, CV_8U));
  away(cv::Rect(0, 0, seam, kept.height)).setTo(0);
  away(cv::Rect(kept.width - seam, 0, seam, kept.height)).setTo(0);
  ASSERT_GT(cv::countNonZero(away), 10000);
  EXPECT_EQ(cv::norm(v.image(kept), scaled, cv::NORM_INF, away), 0.0);
  // The product's opaque pixels are the shot's, laid out where the square had it, scaled.
  const Placement onSquare = defaultPlacement(productBox(alpha_), {512, 512});
  const double k = 628.0 / 512;
  const auto at = [&](int v0, int offset) { return offset + static_cast<int>(std::lround(v0 * k)); };
  const cv::Rect target(at(onSquare.target.x, kept.x), at(onSquare.target.y, 0),
                        at(onSquare.target.br().x, kept.x) - at(onSquare.target.x, kept.x),
                        at(onSquare.target.br().y, 0) - at(onSquare.target.y, 0));
  const Layout product = layoutProduct(prepareProduct(shot_, alpha_), {1200, 628}, Placement{onSquare.source, target});
  EXPECT_EQ(cv::norm(product.alpha, v.canvasAlpha, cv::NORM_INF), 0.0);
  const cv::Mat opaque = pasteWeights(v.canvasAlpha, r.composition.featherPx) == 1.0f;
  ASSERT_GT(cv::countNonZero(opaque), 1000);
  EXPECT_EQ(cv::norm(v.image, product.product, cv::NORM_INF, opaque), 0.0);
  // The sides are painted by the model, not the square's edge carried outwards.
  const cv::Mat left = v.image(cv::Rect(0, 0, kept.x, 628));
  cv::Mat edge;
  cv::repeat(v.image(cv::Rect(kept.x + seam, 0, 1, 628)), 1, kept.x, edge);
  EXPECT_GT(cv::norm(left, edge, cv::NORM_L1) / left.total(), 10.0);
}

TEST_F(SdTinyModel, CancellationStopsWithinAStepAndSavesNothing) {
  test::TempDir tmp;
  Project project = Project::create(tmp / "p");
  const Product product = project.importProductShot(kDemo / "jar.png", "Jar");
  GenerationRequest r = tinyRequest();
  r.variantsPerPrompt = 3;
  std::atomic<bool> cancel{false};
  int calls = 0;
  const auto result = render(shot_, alpha_, prompts_, r, onSteps([&](const GenerationEvent&) {
                               ++calls;
                               cancel = true;  // after the first step of the first variant
                             }),
                             &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_TRUE(result.variants.empty());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(project.store().variants(product.id).empty());
  EXPECT_TRUE(!fs::exists(tmp / "p/variants") || fs::is_empty(tmp / "p/variants"));

  // Cancelled during the second variant: the first one is kept.
  cancel = false;
  calls = 0;
  const auto partial = render(shot_, alpha_, prompts_, r, onSteps([&](const GenerationEvent& e) {
                                ++calls;
                                if (e.variant == 1) cancel = true;
                              }),
                              &cancel);
  EXPECT_TRUE(partial.cancelled);
  ASSERT_EQ(partial.variants.size(), 1u);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(partial.variants[0].seed, 7u);

  // Already cancelled before it starts.
  const auto none = render(shot_, alpha_, prompts_, r, {}, &cancel);
  EXPECT_TRUE(none.cancelled);
  EXPECT_TRUE(none.variants.empty());
}

TEST_F(SdTinyModel, BadInputIsRefused) {
  const GenerationRequest r = tinyRequest();
  const cv::Mat emptyAlpha = cv::Mat::zeros(shot_.size(), CV_8UC1);
  EXPECT_THROW(render(shot_, emptyAlpha, prompts_, r), CompositionError);
  const cv::Mat wrongSize = cv::Mat::zeros(10, 10, CV_8UC1);
  EXPECT_THROW(render(shot_, wrongSize, prompts_, r), CompositionError);
  EXPECT_THROW(render(shot_, alpha_, {}, r), std::invalid_argument);
  GenerationRequest badSampler = r;
  badSampler.settings["sampler"] = "plms";
  EXPECT_THROW(render(shot_, alpha_, prompts_, badSampler), std::invalid_argument);
}

TEST_F(SdTinyModel, SavedVariantsReloadWithTheirParameters) {
  test::TempDir tmp;
  GenerationRequest r = tinyRequest();
  r.variantsPerPrompt = 2;
  r.prompts = 1;
  r.givenPrompts = {{prompts_[0], "builtin", 0, nullptr}};
  r.productPrompts = false;
  std::int64_t productId = 0;
  GenerationInput input;
  GenerationOutcome result;
  {
    Project project = Project::create(tmp / "p");
    productId = project.importProductShot(kDemo / "jar.png", "Glass Jar").id;
    project.setCutout(productId, alpha_, "alpha-file");
    input = prepareGeneration(project, productId, r);
    GenerationEngines engines;
    engines.generators = cache_.get();
    result = runGeneration(engines, input);
    ASSERT_EQ(result.variants.size(), 2u);
    const auto saved = saveGeneration(project, input, result);
    ASSERT_EQ(saved.size(), 2u);
  }
  const auto& variants = result.variants;
  const Project reopened = Project::open(tmp / "p");
  const auto stored = reopened.store().variants(productId);
  ASSERT_EQ(stored.size(), 2u);
  const auto prompts = reopened.store().prompts(productId);
  ASSERT_EQ(prompts.size(), 1u);  // one record for the prompt both variants share
  EXPECT_EQ(prompts[0].text, prompts_[0]);
  EXPECT_EQ(prompts[0].source, "builtin");
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const auto& s = *std::find_if(stored.begin(), stored.end(), [&](const Variant& x) {
      return x.seed == static_cast<std::int64_t>(variants[i].seed);
    });
    EXPECT_EQ(s.promptId, prompts[0].id);
    const cv::Mat image = loadImage(reopened.absolute(s.imagePath));
    EXPECT_EQ(cv::norm(image, variants[i].image, cv::NORM_INF), 0.0);
    const auto p = nlohmann::json::parse(s.paramsJson);
    EXPECT_EQ(p.at("engine"), "sd15");
    EXPECT_EQ(p.at("model"), "tiny-sd-e2e+controlnet");
    EXPECT_EQ(p.at("preset"), "1:1-512");
    EXPECT_EQ(p.at("sampler"), "euler_a");
    EXPECT_EQ(p.at("steps"), 2);
    EXPECT_EQ(p.at("cfg"), 7.5);
    EXPECT_EQ(p.at("controlnetScale"), 1.0);
    EXPECT_EQ(p.at("seed"), variants[i].seed);
    EXPECT_EQ(p.at("seedMode"), "increment");
    EXPECT_EQ(p.at("prompt"), prompts_[0]);
    EXPECT_EQ(p.at("negativePrompt"), kDefaultSdNegativePrompt);
    EXPECT_EQ(p.at("workingSize"), nlohmann::json::array({128, 128}));
    EXPECT_EQ(p.at("clipSkip"), 1);
    EXPECT_EQ(p.at("modelDir"), fs::absolute(kModel).lexically_normal().string());  // for "same seed again"
    EXPECT_GT(p.at("timings").at("totalSeconds").get<double>(), 0.0);
  }
  // A second job on the same prompt (a pinned prompt, "same seed again") reuses its record.
  Project again = Project::open(tmp / "p");
  GenerationOutcome first = result;
  first.variants.resize(1);
  ASSERT_EQ(saveGeneration(again, input, first).size(), 1u);
  EXPECT_EQ(again.store().prompts(productId).size(), 1u);
  EXPECT_EQ(again.store().variants(productId).size(), 3u);
}

// A1111's "Clip skip 2" changes the text conditioning, so the same seed gives another image;
// anything but 1 or 2 is refused.
TEST_F(SdTinyModel, ClipSkipTwoChangesTheImage) {
  GenerationRequest r = tinyRequest();
  const auto plain = render(shot_, alpha_, prompts_, r);
  r.settings["clipSkip"] = 2;
  const auto skipped = render(shot_, alpha_, prompts_, r);
  ASSERT_EQ(plain.variants.size(), 1u);
  ASSERT_EQ(skipped.variants.size(), 1u);
  EXPECT_EQ(skipped.variants[0].params.at("clipSkip"), 2);
  EXPECT_GT(cv::norm(plain.variants[0].background, skipped.variants[0].background, cv::NORM_INF), 0.0);
  r.settings["clipSkip"] = 3;
  EXPECT_THROW(completeSettings(generatorKind("sd15"), r.settings), std::invalid_argument);
}

// The user's placement moves the product in the ad (and, through the same productPlacement, for the
// generator at its working size); the params record it.
TEST_F(SdTinyModel, PlacementMovesTheProductInTheAd) {
  test::TempDir tmp;
  GenerationRequest r = tinyRequest();
  r.placementGiven = true;
  r.placement = PlacementOverride{0.6, -0.125, 0.0625};
  const auto result = render(shot_, alpha_, prompts_, r);
  ASSERT_EQ(result.variants.size(), 1u);
  const GeneratedVariant& v = result.variants[0];
  const ProductShot prepared = prepareProduct(shot_, alpha_);
  const Layout plain = layoutProduct(prepared, {512, 512});
  const Layout placed =
      layoutProduct(prepared, {512, 512}, productPlacement(productBox(prepared.alpha), {512, 512}, r.placement));
  EXPECT_EQ(cv::norm(v.canvasAlpha, placed.alpha, cv::NORM_INF), 0.0);
  const cv::Rect before = cv::boundingRect(plain.alpha), after = cv::boundingRect(v.canvasAlpha);
  EXPECT_NEAR((after.x + after.width / 2.0) - (before.x + before.width / 2.0), -0.125 * 512, 1.0);
  EXPECT_NEAR((after.y + after.height / 2.0) - (before.y + before.height / 2.0), 0.0625 * 512, 1.0);
  EXPECT_NEAR(after.width, 0.6 * before.width, 1.0);
  const cv::Mat opaque = pasteWeights(placed.alpha, r.composition.featherPx) == 1.0f;
  EXPECT_EQ(cv::norm(v.image, placed.product, cv::NORM_INF, opaque), 0.0);

  Project project = Project::create(tmp / "p");
  const std::int64_t productId = project.importProductShot(kDemo / "jar.png", "Glass Jar").id;
  GenerationInput input = prepareGeneration(shot_, alpha_, "Glass Jar", "", r);
  input.productId = productId;
  saveGeneration(project, input, result);
  const auto params = nlohmann::json::parse(project.store().variants(productId).at(0).paramsJson).at("placement");
  EXPECT_DOUBLE_EQ(params.at("scale").get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(params.at("dx").get<double>(), -0.125);
  EXPECT_DOUBLE_EQ(params.at("dy").get<double>(), 0.0625);
}

}  // namespace
}  // namespace caig
