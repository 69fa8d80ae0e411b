// The command line's `caig generate` runs an engine it was never written for: the test-only flat
// colour generator, registered here before caig::cli::run, gets its --grey flag, its settings
// checked and its variants stored, ranked and written like the built-in engine's.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "../flat_colour_generator.h"
#include "../models/test_util.h"
#include "app/cli_app.h"
#include "core/image/image_io.h"
#include "core/project/project.h"

namespace caig {
namespace {

namespace fs = std::filesystem;
const fs::path kJar = fs::path(CAIG_SOURCE_DIR) / "resources/demo/jar.png";

int runCli(std::vector<std::string> args) {
  args.insert(args.begin(), "caig");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return cli::run(static_cast<int>(argv.size()), argv.data());
}

TEST(CliSeam, GenerateRunsAnEngineOnlyTheTestKnows) {
  test::registerFlatColourGenerator();
  test::TempDir dir;
  const fs::path project = dir / "p";
  testing::internal::CaptureStdout();
  ASSERT_EQ(runCli({"generate", "--engine", "flat", "--grey", "77", "-n", "2", "--preset", "1:1-512", "--project",
                    project.string(), kJar.string()}),
            0);
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("2 variants at 1:1-512"), std::string::npos) << out;
  EXPECT_NE(out.find("with flat-colour, grey 77"), std::string::npos) << out;
  EXPECT_NE(out.find("ranked by builtin@"), std::string::npos) << out;

  auto p = Project::open(project);
  const auto products = p.store().products();
  ASSERT_EQ(products.size(), 1u);
  EXPECT_EQ(products[0].cutoutEngine, "alpha-file");  // jar.alpha.png beside the shot
  const auto variants = p.store().variants(products[0].id);
  ASSERT_EQ(variants.size(), 2u);
  const cv::Mat alpha = p.cutout(products[0].id);
  const Layout ad = layoutProduct(prepareProduct(loadImage(p.absolute(products[0].imagePath)), alpha), {512, 512});
  for (const auto& v : variants) {
    const auto params = nlohmann::json::parse(v.paramsJson);
    EXPECT_EQ(params.at("engine"), "flat");
    EXPECT_EQ(params.at("settings").at("grey"), 77);
    EXPECT_TRUE(v.rank.has_value());
    const cv::Mat image = loadImage(p.absolute(v.imagePath));
    cv::Mat offGrey;
    cv::absdiff(image, cv::Scalar::all(77), offGrey);
    EXPECT_EQ(cv::norm(offGrey, cv::NORM_INF, ad.alpha == 0), 0.0);
  }

  // --out without a project: the files, named after the engine.
  const fs::path files = dir / "out";
  testing::internal::CaptureStdout();
  ASSERT_EQ(runCli({"generate", "--engine", "flat", "--grey", "20", "--prompt", "anything", "-n", "1", "--seed", "5",
                    "--preset", "1:1-512", "--out", files.string(), kJar.string()}),
            0);
  testing::internal::GetCapturedStdout();
  EXPECT_TRUE(fs::exists(files / "flat-01-seed5.png"));
  EXPECT_TRUE(fs::exists(files / "variants.json"));
  EXPECT_FALSE(fs::exists(dir / "caig-project"));

  // Another engine's flag, and a value out of the option's range, are refused before any work.
  testing::internal::CaptureStderr();
  EXPECT_EQ(runCli({"generate", "--engine", "flat", "--steps", "3", "--project", (dir / "q").string(), kJar.string()}), 1);
  EXPECT_EQ(runCli({"generate", "--engine", "flat", "--grey", "300", "--project", (dir / "q").string(), kJar.string()}), 1);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("--steps is not an option of the flat engine"), std::string::npos) << err;
  EXPECT_NE(err.find("flat option 'grey' must be between 0 and 255"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir / "q"));
}

}  // namespace
}  // namespace caig
