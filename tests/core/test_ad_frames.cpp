// Every ad size composed for its own frame (core/generation/ad_frames.h): square built-in variants
// exported at 9:16, 4:5 and 1.91:1 are drawn again for each frame (no stretched strip, measured),
// the same pixels as generating at that size, room for copy kept free of the product, and the
// variants that cannot be drawn again fitted with a note.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

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
  explicit MugWithVariants(int count) {
    project.setCutout(product.id, test::demoAlpha("mug"), "alpha-file");
    GenerationRequest r;
    r.prompts = count;
    r.presetId = "1:1-512";
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
  const cv::Mat frame = frames.draw(engines, 0, "9:16");
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
    const cv::Mat frame = frames.draw(engines, 0, preset);
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
  EXPECT_TRUE(frames.draw(engines, 1, "9:16").empty());
  EXPECT_FALSE(frames.draw(engines, 0, "9:16").empty());
  EXPECT_EQ(parseFrameMode("draw"), FrameMode::Draw);
  EXPECT_THROW(parseFrameMode("stretch"), std::invalid_argument);
}

}  // namespace
}  // namespace caig
