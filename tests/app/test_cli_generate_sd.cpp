// `caig generate --engine sd15 --mask ...` on tiny-sd-e2e with the pipeline_e2e inputs: the PNG
// the command writes is diffusers 0.27.2's image (prompt string -> tokenizer -> pipeline), up to
// the 8-bit rounding of the file. Also the plain-job option errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>

#include "models/io/checkpoint.h"

namespace {

namespace fs = std::filesystem;
const fs::path kData = CAIG_TEST_DATA;
const std::string kCli = CAIG_CLI;

// u8 [H, W, C] (or [H, W]) RGB tensor -> PNG file.
void writePng(const at::Tensor& u8, const fs::path& path) {
  at::Tensor t = u8.contiguous();
  const int h = static_cast<int>(t.size(0)), w = static_cast<int>(t.size(1));
  const int c = t.dim() == 2 ? 1 : static_cast<int>(t.size(2));
  cv::Mat m(h, w, CV_8UC(c), t.data_ptr());
  cv::Mat out;
  if (c == 3) {
    cv::cvtColor(m, out, cv::COLOR_RGB2BGR);
  } else {
    out = m.clone();
  }
  ASSERT_TRUE(cv::imwrite(path.string(), out));
}

struct Run {
  int status = 0;
  std::string output;
};

Run runCli(const std::string& args, const fs::path& log) {
  const std::string command = "\"" + kCli + "\" " + args + " > \"" + log.string() + "\" 2>&1";
  Run r;
  r.status = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  r.output = text.str();
  return r;
}

class CliGenerateSd : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: ctest runs them as parallel processes.
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("caig-cli-generate-sd-") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const auto io = caig::io::Checkpoint::open(kData / "pipeline_e2e" / "io.safetensors");
    writePng(io.tensor("image_u8"), dir_ / "image.png");
    writePng(io.tensor("mask_u8").squeeze(), dir_ / "mask.png");
    writePng(io.tensor("control_u8"), dir_ / "control.png");
  }
  std::string common() const {
    return "generate --engine sd15 --device cpu --model \"" + (kData / "tiny-sd-e2e").string() + "\" \"" +
           (dir_ / "image.png").string() + "\" --mask \"" + (dir_ / "mask.png").string() + "\"";
  }
  fs::path dir_;
};

TEST_F(CliGenerateSd, PlainInpaintJobWritesDiffusersImage) {
  const fs::path out = dir_ / "out";
  const auto r = runCli(common() + " --control \"" + (dir_ / "control.png").string() + "\" --latents \"" +
                            (kData / "pipeline_e2e" / "io.safetensors").string() +
                            "\" --prompt \"a blue perfume bottle on a marble podium, soft morning light\""
                            " --negative \"blurry, low quality\" --sampler euler --steps 3 --cfg 5 --control-scale 1"
                            " --seed 1 -n 1 --out \"" + out.string() + "\"",
                        dir_ / "run.log");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1 variants at 64x64"), std::string::npos) << r.output;

  const cv::Mat written = cv::imread((out / "sd-01-seed1.png").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(written.empty()) << r.output;
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_e2e" / "io.safetensors");
  const at::Tensor golden = io.tensor("output")[0];  // [H, W, 3] RGB float in [0, 1]
  ASSERT_EQ(written.rows, golden.size(0));
  ASSERT_EQ(written.cols, golden.size(1));
  cv::Mat rgb;
  cv::cvtColor(written, rgb, cv::COLOR_BGR2RGB);
  const at::Tensor file = at::from_blob(rgb.data, {rgb.rows, rgb.cols, 3}, at::kByte).to(at::kFloat);
  // The file holds round(255 * clamp(x)): within half a level of the float image, plus the
  // pipeline's own tolerance (1e-4 of the range).
  const double err = (file - golden.clamp(0, 1) * 255.0).abs().max().item<double>();
  std::cout << "written PNG vs diffusers output: max abs err " << err << " (8-bit levels)\n";
  EXPECT_LE(err, 0.5 + 255 * 1e-4);

  std::ifstream index(out / "variants.json");
  std::stringstream json;
  json << index.rdbuf();
  EXPECT_NE(json.str().find("\"sampler\": \"euler\""), std::string::npos);
}

TEST_F(CliGenerateSd, DefaultControlIsDrawnFromTheImage) {
  const fs::path out = dir_ / "canny";
  const auto r = runCli(common() + " --prompt \"a bottle\" --steps 1 -n 2 --out \"" + out.string() + "\"",
                        dir_ / "canny.log");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "sd-01-seed1.png"));
  EXPECT_TRUE(fs::exists(out / "sd-02-seed2.png"));
}

TEST_F(CliGenerateSd, PlainJobRefusesBadInput) {
  // A mask of another size.
  cv::imwrite((dir_ / "small-mask.png").string(), cv::Mat(32, 32, CV_8UC1, cv::Scalar(255)));
  auto r = runCli("generate --engine sd15 --device cpu --model \"" + (kData / "tiny-sd-e2e").string() + "\" \"" +
                      (dir_ / "image.png").string() + "\" --mask \"" + (dir_ / "small-mask.png").string() +
                      "\" --prompt x --steps 1 -n 1 --out \"" + (dir_ / "bad").string() + "\"",
                  dir_ / "bad.log");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("the mask is 32x32, the init image 64x64"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "bad" / "sd-01-seed1.png"));

  // A latents file without noise in it (the UNet's weights).
  r = runCli(common() + " --prompt x --steps 1 -n 1 --latents \"" +
                 (kData / "tiny-sd-e2e" / "unet" / "diffusion_pytorch_model.safetensors").string() + "\" --out \"" +
                 (dir_ / "nolatents").string() + "\"",
             dir_ / "nolatents.log");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("no tensor named \"latents\""), std::string::npos) << r.output;

  // --mask without --prompt, and --control without --mask.
  r = runCli(common() + " --out \"" + (dir_ / "x").string() + "\"", dir_ / "noprompt.log");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--mask needs at least one --prompt"), std::string::npos) << r.output;
  r = runCli("generate --engine sd15 --model \"" + (kData / "tiny-sd-e2e").string() + "\" \"" +
                 (dir_ / "image.png").string() + "\" --control \"" + (dir_ / "control.png").string() + "\"",
             dir_ / "nomask.log");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--control and --latents go with --mask"), std::string::npos) << r.output;
}

}  // namespace
