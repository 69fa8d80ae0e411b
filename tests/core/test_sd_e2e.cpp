// Prompt string to image on tests/data/tiny-sd-e2e (real CLIP vocabulary): the core CLIP
// tokenizer's ids equal transformers', then the ControlNet-inpaint pipeline (3 Euler steps,
// guidance 5, the fixture's latents) reproduces diffusers 0.27.2's output.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/text/clip_tokenizer.h"
#include "models/io/checkpoint.h"
#include "models/sd_inpaint_pipeline.h"

namespace {

namespace fs = std::filesystem;
const fs::path kData = CAIG_TEST_DATA;

at::Tensor fromU8(const at::Tensor& u8) {
  const at::Tensor hwc = u8.dim() == 2 ? u8.unsqueeze(-1) : u8;
  return hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0;
}
at::Tensor ids(const std::vector<int64_t>& v) {
  return at::tensor(v, at::kLong).unsqueeze(0);
}

TEST(SdEndToEnd, PromptStringToImageMatchesDiffusers) {
  const fs::path model = kData / "tiny-sd-e2e";
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_e2e" / "io.safetensors");
  const caig::ClipTokenizer tokenizer = caig::ClipTokenizer::load(model / "tokenizer");
  const at::Tensor promptIds = ids(tokenizer.encode("a blue perfume bottle on a marble podium, soft morning light"));
  const at::Tensor negativeIds = ids(tokenizer.encode("blurry, low quality"));
  ASSERT_TRUE(at::equal(promptIds, io.tensor("prompt_ids")));
  ASSERT_TRUE(at::equal(negativeIds, io.tensor("negative_prompt_ids")));

  const caig::SdInpaintPipeline pipe = caig::SdInpaintPipeline::load(model);
  caig::SdInpaintJob job;
  job.image = fromU8(io.tensor("image_u8").clone());
  job.mask = fromU8(io.tensor("mask_u8").clone());
  job.control = fromU8(io.tensor("control_u8").clone());
  job.promptEmbeds = pipe.encodePrompt(promptIds);
  job.negativeEmbeds = pipe.encodePrompt(negativeIds);
  job.steps = 3;
  job.guidance = 5.0;
  job.controlnetScale = 1.0;
  job.initialLatents = io.tensor("latents").clone();
  const caig::SdInpaintResult r = pipe.run(job);
  ASSERT_FALSE(r.cancelled);
  const at::Tensor ref = io.tensor("output").clone();
  ASSERT_EQ(r.image.sizes(), ref.sizes());
  const double err = (r.image.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>();
  std::cout << "e2e output max abs err " << err << "\n";
  EXPECT_LE(err, 1e-4);
}

}  // namespace
