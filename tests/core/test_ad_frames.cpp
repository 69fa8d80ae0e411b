// Every ad size composed for its own frame (core/generation/ad_frames.h): square built-in variants
// exported at 9:16, 4:5 and 1.91:1 are drawn again for each frame (no stretched strip, measured),
// the same pixels as generating at that size, room for copy kept free of the product, and the
// variants that cannot be drawn again fitted with a note.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "../flat_colour_generator.h"
#include "../models/test_util.h"
#include "core/generation/ad_frames.h"
#include "core/generation/generation_job.h"
#include "core/image/image_io.h"
#include "core/project/export.h"
#include "core/project/project.h"
#include "core_test_util.h"

namespace caig {
namespace {

namespace fs = std::filesystem;

struct MugWithVariants {
  test::TempDir dir;
  Project project = Project::create(dir / "p");
  Product product = project.importProductShot(test::kDemoDir / "mug.png", "Teal Stoneware Coffee Mug", "kitchen");
  std::vector<Variant> variants;
  explicit MugWithVariants(int count, const std::string& engine = "builtin", const std::string& preset = "1:1-512") {
    project.setCutout(product.id, test::demoAlpha("mug"), "alpha-file");
    GenerationRequest r;
    r.engine = engine;
    r.prompts = count;
    r.presetId = preset;
    r.seed = 5;
    const GenerationInput input = prepareGeneration(project, product.id, r);
    GenerationEngines engines;
    variants = saveGeneration(project, input, runGeneration(engines, input));
  }
  std::vector<ExportItem> items() const { return exportItemsFromProject(project, product.id); }
};

// The longest run of adjacent rows (or columns) that copy each other (every pixel within one
// level, i.e. up to rounding): what extending an image outwards leaves (measured: 136-553 rows
// here), and what a drawn backdrop with its grain does not have (0-3).
int longestCopiedRun(const cv::Mat& image, bool columns) {
  const cv::Mat m = columns ? image.t() : image;
  int longest = 0, run = 0;
  for (int y = 1; y < m.rows; ++y) {
    const bool same = cv::norm(m.row(y), m.row(y - 1), cv::NORM_INF) <= 1.0;
    run = same ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return longest;
}

ExportRequest requestFor(const MugWithVariants& m, const fs::path& folder) {
  ExportRequest request;
  request.items = m.items();
  request.presetIds = {"1:1-1080", "4:5", "9:16", "1.91:1"};
  request.folder = folder;
  return request;
}

TEST(AdFrames, EveryAdSizeIsComposedForItsFrameWithoutAStretchedStrip) {
  MugWithVariants m(3);
  ExportRequest request = requestFor(m, m.dir / "drawn");
  const AdFrames frames(m.project, request.items, request.presetIds);
  EXPECT_TRUE(frames.notes().empty());
  // The square sizes fit the square variants as they are; the other three are drawn.
  EXPECT_EQ(frames.framesToDraw(), 3 * 3);
  EXPECT_EQ(frames.engines(), std::vector<std::string>{"builtin"});
  GenerationEngines engines;
  request.drawFrame = [&](std::size_t i, const std::string& preset) { return frames.draw(engines, i, preset); };
  const ExportResult drawn = exportVariants(request);

  ExportRequest fitted = requestFor(m, m.dir / "fitted");
  const ExportResult fit = exportVariants(fitted);
  ASSERT_EQ(drawn.files.size(), fit.files.size());
  for (std::size_t f = 0; f < drawn.files.size(); ++f) {
    const cv::Mat ad = loadImage(drawn.files[f]);
    const auto meta = readExportMetadata(drawn.files[f]);
    const bool square = ad.cols == ad.rows;
    EXPECT_EQ(meta.at("caig:frame"), square ? "fitted" : "drawn") << drawn.files[f];
    if (square) continue;
    // Portrait frames were stretched vertically, the banner horizontally.
    const bool wide = ad.cols > ad.rows;
    const int drawnRun = longestCopiedRun(ad, wide);
    const int fittedRun = longestCopiedRun(loadImage(fit.files[f]), wide);
    EXPECT_LE(drawnRun, 3) << drawn.files[f];
    // The measure sees the stretch: the fitted file repeats its edge over a long strip.
    EXPECT_GT(fittedRun, 100) << fit.files[f];
  }
  std::ifstream csv(drawn.manifest);
  std::string header, row;
  std::getline(csv, header);
  EXPECT_NE(header.find(",frame,ctr_lift,"), std::string::npos) << header;
  int drawnRows = 0;
  while (std::getline(csv, row)) drawnRows += row.find(",drawn,") != std::string::npos;
  EXPECT_EQ(drawnRows, 9);
}

// A drawn frame is the variant made at that size: the same pixels as "same seed again" at 9:16,
// so the product sits by the placement rule of that frame with its own pixels pasted back.
TEST(AdFrames, ADrawnFrameIsTheVariantGeneratedAtThatSize) {
  MugWithVariants m(1);
  const auto items = m.items();
  const AdFrames frames(m.project, items, {"9:16"});
  GenerationEngines engines;
  const cv::Mat frame = frames.draw(engines, 0, "9:16").image;
  ASSERT_EQ(frame.size(), cv::Size(1080, 1920));

  std::optional<PromptRecord> prompt;
  for (const auto& p : m.project.store().prompts(m.product.id)) {
    if (p.id == m.variants[0].promptId) prompt = p;
  }
  GenerationRequest again = repeatRequest(m.variants[0], prompt);
  again.presetId = "9:16";
  const GenerationOutcome direct = runGeneration(engines, prepareGeneration(m.project, m.product.id, again));
  ASSERT_EQ(direct.variants.size(), 1u);
  EXPECT_EQ(cv::norm(frame, direct.variants[0].image, cv::NORM_INF), 0.0);
  // The product fills 0.78 of the frame's width (the mug is wider than tall), centred.
  const cv::Rect box = productBox(direct.variants[0].canvasAlpha);
  EXPECT_NEAR(box.width, 0.78 * 1080, 2);
  EXPECT_NEAR(box.y + box.height / 2.0, 960, 2);
}

TEST(AdFrames, RoomForCopyKeepsTheProductOutOfTheBandOnEverySize) {
  MugWithVariants m(1);
  const auto items = m.items();
  const std::vector<std::string> presets = {"1:1-1080", "9:16"};
  const AdFrames frames(m.project, items, presets, parseCopySpace("bottom"));
  EXPECT_EQ(frames.framesToDraw(), 2);  // the square too: its product moves up
  GenerationEngines engines;
  for (const auto& preset : presets) {
    const cv::Mat frame = frames.draw(engines, 0, preset).image;
    const cv::Size size = adPreset(preset).size;
    // The frame is the variant generated at that size with the room asked for; that generation's
    // canvas alpha says where the product went.
    std::optional<PromptRecord> prompt;
    for (const auto& p : m.project.store().prompts(m.product.id)) {
      if (p.id == m.variants[0].promptId) prompt = p;
    }
    GenerationRequest r = repeatRequest(m.variants[0], prompt);
    r.presetId = preset;
    r.composition.copyBottom = kCopySpace;
    const GenerationOutcome direct = runGeneration(engines, prepareGeneration(m.project, m.product.id, r));
    EXPECT_EQ(cv::norm(frame, direct.variants[0].image, cv::NORM_INF), 0.0) << preset;
    const cv::Rect box = productBox(direct.variants[0].canvasAlpha);
    EXPECT_LE(box.br().y, std::lround(0.8 * size.height)) << preset;
    EXPECT_GT(box.y, 0) << preset;
    // Recorded, so "same seed again" keeps the room.
    EXPECT_NEAR(direct.variants[0].params.at("copySpace").at("bottom").get<double>(), kCopySpace, 1e-12);
    EXPECT_NEAR(repeatRequest([&] {
                  Variant v = m.variants[0];
                  v.paramsJson = direct.variants[0].params.dump();
                  return v;
                }(),
                              prompt)
                    .composition.copyBottom,
                kCopySpace, 1e-12);
  }
  EXPECT_THROW(parseCopySpace("left"), std::invalid_argument);
}

TEST(AdFrames, AVariantThatCannotBeDrawnAgainIsFittedWithANote) {
  MugWithVariants m(1);
  // A record from an engine this build lacks, stored after the built-in one.
  Variant foreign = m.variants[0];
  foreign.id = 0;
  auto params = nlohmann::json::parse(foreign.paramsJson);
  params["engine"] = "dall-e";
  foreign.paramsJson = params.dump();
  m.project.store().addVariant(foreign);
  const auto items = m.items();
  ASSERT_EQ(items.size(), 2u);
  ASSERT_EQ(items[0].variantId, m.variants[0].id);
  const AdFrames frames(m.project, items, {"9:16"});
  EXPECT_EQ(frames.framesToDraw(), 1);
  ASSERT_EQ(frames.notes().size(), 1u);
  EXPECT_NE(frames.notes()[0].find("dall-e"), std::string::npos) << frames.notes()[0];
  GenerationEngines engines;
  EXPECT_TRUE(frames.draw(engines, 1, "9:16").image.empty());
  EXPECT_FALSE(frames.draw(engines, 0, "9:16").image.empty());
  EXPECT_EQ(parseFrameMode("draw"), FrameMode::Draw);
  EXPECT_EQ(parseFrameMode("outpaint"), FrameMode::Outpaint);
  EXPECT_EQ(toString(FrameMode::Outpaint), "outpaint");
  EXPECT_THROW(parseFrameMode("stretch"), std::invalid_argument);
}

// ---- Outpainting ----------------------------------------------------------------------------

// Square variants of the test's inpainting engine (tests/flat_colour_generator.h: seeded noise
// where the mask asks, the layout's pixels kept elsewhere), made at 1080 px so that a 9:16 frame
// holds the square at its own scale.
struct NoiseMug : MugWithVariants {
  NoiseMug() : MugWithVariants(1, (test::registerNoiseInpaintingGenerator(), "noise"), "1:1-1080") {}
  cv::Mat source() const { return loadImage(project.absolute(variants[0].imagePath)); }
};

TEST(AdFrames, OutpaintingKeepsTheRankedSquareAndPaintsOnlyTheNewFrame) {
  NoiseMug m;
  const auto items = m.items();
  const AdFrames frames(m.project, items, {"1:1-1080", "9:16"}, {}, FrameMode::Outpaint);
  EXPECT_TRUE(frames.notes().empty());
  EXPECT_EQ(frames.framesToDraw(), 1);  // the square size is the ranked image itself
  GenerationEngines engines;
  EXPECT_TRUE(frames.draw(engines, 0, "1:1-1080").image.empty());
  const ExportFrame frame = frames.draw(engines, 0, "9:16");
  EXPECT_EQ(frame.how, "outpainted");
  ASSERT_EQ(frame.image.size(), cv::Size(1080, 1920));

  // The square sits full width, centred: every pixel of it is the ranked image's, except a seam
  // band (16 working px = 32 ad px here) along the two edges that meet new frame.
  const cv::Rect kept = outpaintRect({1080, 1080}, {1080, 1920}, 0, 0);
  ASSERT_EQ(kept, cv::Rect(0, 420, 1080, 1080));
  const cv::Mat source = m.source();
  const cv::Rect inner(0, kept.y + 32, 1080, 1080 - 64);
  EXPECT_EQ(cv::norm(frame.image(inner), source(inner - kept.tl()), cv::NORM_INF), 0.0);
  // The new strips are painted (the engine's noise), not the square's edge carried outwards.
  const cv::Mat above = frame.image(cv::Rect(0, 0, 1080, kept.y)),
                below = frame.image(cv::Rect(0, kept.br().y, 1080, 420));
  EXPECT_LE(longestCopiedRun(above, false), 3);
  EXPECT_LE(longestCopiedRun(below, false), 3);
  cv::Scalar mean, sd;
  cv::meanStdDev(above, mean, sd);
  EXPECT_GT(sd[0], 30.0);  // noise, not a flat extension
  // Across the seam the frame moves from the painted strip to the square gradually: no row jumps
  // by more than the noise itself does from one row to the next.
  EXPECT_LT(cv::norm(frame.image.row(kept.y + 31), source.row(31), cv::NORM_L1) / (1080 * 3),
            cv::norm(frame.image.row(kept.y), source.row(0), cv::NORM_L1) / (1080 * 3));
}

TEST(AdFrames, AnOutpaintedFrameKeepsTheProductPixelsAndItsRoomForCopy) {
  NoiseMug m;
  const auto items = m.items();
  const AdFrames frames(m.project, items, {"9:16", "1.91:1"}, parseCopySpace("bottom"), FrameMode::Outpaint);
  GenerationEngines engines;
  const cv::Mat shot = loadImage(m.project.absolute(m.product.imagePath));
  const cv::Mat source = m.source();
  for (const std::string preset : {"9:16", "1.91:1"}) {
    const cv::Size size = adPreset(preset).size;
    const cv::Mat ad = frames.draw(engines, 0, preset).image;
    ASSERT_EQ(ad.size(), size);
    // The square fits into the rows above the band, so the product stays out of it too.
    const cv::Rect kept = outpaintRect(source.size(), size, 0.0, kCopySpace);
    EXPECT_LE(kept.br().y, std::lround(0.8 * size.height)) << preset;
    // The product's own pixels, laid out where the square had it: exactly those of the ad made
    // with the square's placement carried onto the kept rectangle (the job's paste-back).
    GenerationRequest r;
    r.engine = "noise";
    r.presetId = preset;
    r.prompts = 1;
    r.givenPrompts = {{"outpaint", "user", 0, nullptr}};
    r.composition.copyBottom = kCopySpace;
    GenerationInput input = prepareGeneration(shot, test::demoAlpha("mug"), "mug", "kitchen", r);
    input.outpaint = OutpaintSource{source, std::nullopt, 0.0, 0.0};
    const GenerationOutcome out = runGeneration(engines, input);
    ASSERT_EQ(out.variants.size(), 1u);
    const cv::Mat& alpha = out.variants[0].canvasAlpha;
    const cv::Rect box = productBox(alpha);
    EXPECT_TRUE((box & kept) == box) << preset;
    EXPECT_LE(box.br().y, kept.br().y) << preset;
    // Where the product is opaque, the outpainted frame and this run agree on every pixel (the
    // noise differs only by seed, and both ran with the recorded one for their frame).
    cv::Mat opaque;  // the opaque core, past paste-back's feathered ramp at the product's edge
    cv::erode(alpha == 255, opaque, cv::Mat::ones(7, 7, CV_8U));
    cv::Mat diff;
    cv::absdiff(ad, out.variants[0].image, diff);
    cv::Mat grey;
    cv::cvtColor(diff, grey, cv::COLOR_BGR2GRAY);
    EXPECT_EQ(cv::countNonZero(grey & opaque), 0) << preset;
    EXPECT_GT(cv::countNonZero(opaque), 1000) << preset;
    EXPECT_EQ(out.variants[0].params.at("outpaint").at("rect"),
              nlohmann::json({kept.x, kept.y, kept.width, kept.height}));
    // The engine was asked to keep the square (less its seam band) and to paint the rest: at the
    // working size, inside that band the background is the square as the engine was handed it
    // (the product's pixels laid over it from the shot), outside it the engine's noise.
    const cv::Mat& background = out.variants[0].background;
    const cv::Size work = background.size();
    ASSERT_EQ(work, cv::Size(size.width / 2, size.height / 2));
    const auto half = [](int v) { return static_cast<int>(std::lround(v * 0.5)); };
    const cv::Rect keptWork(half(kept.x), half(kept.y), half(kept.br().x) - half(kept.x),
                            half(kept.br().y) - half(kept.y));
    cv::Mat sourceWork;
    cv::resize(source, sourceWork, keptWork.size(), 0, 0, cv::INTER_AREA);
    const cv::Rect inner(16, 16, keptWork.width - 32, keptWork.height - 32);
    cv::Mat same;
    cv::cvtColor(background(keptWork)(inner) != sourceWork(inner), same, cv::COLOR_BGR2GRAY);
    EXPECT_GT(1.0 - cv::countNonZero(same) / double(inner.area()), 0.5) << preset;
    cv::Scalar mean, sd;
    cv::meanStdDev(background(cv::Rect(0, keptWork.br().y, work.width, work.height - keptWork.br().y)), mean, sd);
    EXPECT_GT(sd[0], 30.0) << preset;
  }
}

TEST(AdFrames, BuiltinVariantsAreDrawnWhenOutpaintingIsAsked) {
  MugWithVariants m(1);
  const auto items = m.items();
  const AdFrames frames(m.project, items, {"9:16"}, {}, FrameMode::Outpaint);
  ASSERT_EQ(frames.notes().size(), 1u);
  EXPECT_NE(frames.notes()[0].find("not outpainted"), std::string::npos) << frames.notes()[0];
  GenerationEngines engines;
  const ExportFrame frame = frames.draw(engines, 0, "9:16");
  EXPECT_EQ(frame.how, "drawn");
  EXPECT_EQ(frame.image.size(), cv::Size(1080, 1920));
  // And a job that asks the built-in engine to outpaint is refused with the reason.
  GenerationRequest r;
  r.presetId = "9:16";
  r.prompts = 1;
  r.givenPrompts = {{"a marble table", "user", 0, nullptr}};
  GenerationInput input = prepareGeneration(loadImage(m.project.absolute(m.product.imagePath)), test::demoAlpha("mug"),
                                            "mug", "kitchen", r);
  input.outpaint = OutpaintSource{loadImage(m.project.absolute(m.variants[0].imagePath)), std::nullopt, 0.0, 0.0};
  try {
    runGeneration(engines, input);
    ADD_FAILURE() << "the built-in engine outpainted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cannot outpaint"), std::string::npos) << e.what();
  }
  EXPECT_EQ(outpaintRect({1080, 1080}, {1200, 628}, 0, 0), cv::Rect(286, 0, 628, 628));
  EXPECT_EQ(outpaintRect({512, 512}, {1080, 1920}, kCopySpace, 0), cv::Rect(0, 612, 1080, 1080));
}

}  // namespace
}  // namespace caig
