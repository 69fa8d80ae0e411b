// AutoencoderKL and the ControlNet-inpaint pipeline against diffusers 0.27.2 (fp32 CPU): the VAE
// posterior and decoder, tiled decoding against whole decoding, the whole
// StableDiffusionControlNetInpaintPipeline run (prompt embeds, latents after every step, output),
// cancellation and bad input.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "models/autoencoder_kl.h"
#include "models/clip_text.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/sd_inpaint_pipeline.h"
#include "test_util.h"

namespace {

using caig::AutoencoderKL;
using caig::SdInpaintPipeline;
namespace fs = std::filesystem;

const fs::path kData = CAIG_TEST_DATA;
const fs::path kPipe = kData / "tiny-sd-controlnet-inpaint";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}
at::Tensor fixture(const caig::io::Checkpoint& io, const std::string& name) {
  return io.tensor(name).clone();
}
// uint8 HWC (or HW) -> float [1, C, H, W] in [0, 1].
at::Tensor fromU8(const at::Tensor& u8) {
  const at::Tensor hwc = u8.dim() == 2 ? u8.unsqueeze(-1) : u8;
  return hwc.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0;
}

TEST(AutoencoderKL, MatchesDiffusers) {
  const auto io = caig::io::Checkpoint::open(kData / "vae" / "io.safetensors");
  const AutoencoderKL vae = AutoencoderKL::load(kPipe / "vae");
  EXPECT_DOUBLE_EQ(vae.scalingFactor(), 0.18215);
  EXPECT_EQ(vae.config().downFactor(), 8);
  const auto moments = vae.encodeMoments(fixture(io, "image"));
  const double meanErr = maxAbsErr(moments.mean, fixture(io, "posterior_mean"));
  const double logvarErr = maxAbsErr(moments.logvar, fixture(io, "posterior_logvar"));
  const double decodeErr = maxAbsErr(vae.decode(fixture(io, "latent")), fixture(io, "decoded"));
  std::cout << "vae max abs err: mean " << meanErr << " logvar " << logvarErr << " decoded " << decodeErr << "\n";
  EXPECT_LE(meanErr, 1e-4);
  EXPECT_LE(logvarErr, 1e-4);
  EXPECT_LE(decodeErr, 1e-4);
  EXPECT_LE(maxAbsErr(vae.encodeMode(fixture(io, "image")), fixture(io, "posterior_mean")), 1e-4);
  EXPECT_THROW(vae.decode(at::zeros({1, 3, 4, 4})), std::invalid_argument);
  EXPECT_THROW(vae.encodeMode(at::zeros({1, 3, 12, 16})), std::invalid_argument);
}

TEST(AutoencoderKL, TiledDecodeStaysCloseToWholeDecode) {
  const auto io = caig::io::Checkpoint::open(kData / "vae" / "io.safetensors");
  const AutoencoderKL vae = AutoencoderKL::load(kPipe / "vae");
  const at::Tensor latent = fixture(io, "latent");  // [1, 4, 16, 16]
  const at::Tensor whole = vae.decode(latent);
  // One tile covering everything is exactly decode().
  EXPECT_EQ(maxAbsErr(vae.decodeTiled(latent, 16, 4), whole), 0.0);
  // 2x2 tiles of 12 with 8 shared: each tile's mid-block attention (global over the latent) and
  // GroupNorm statistics see only the tile, so this cannot be exact, least of all on this tiny
  // random-weight VAE decoding a noise latent; the bound is relative to the decoded magnitude.
  const at::Tensor tiled = vae.decodeTiled(latent, 12, 8);
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  const double maxErr = maxAbsErr(tiled, whole);
  const double meanErr = (tiled - whole).abs().mean().item<double>();
  const double scale = whole.abs().mean().item<double>();
  std::cout << "tiled decode vs decode: max abs " << maxErr << ", mean abs " << meanErr << ", mean |decode| " << scale
            << "\n";
  EXPECT_LT(meanErr, 0.5 * scale);
  EXPECT_TRUE(at::isfinite(tiled).all().item<bool>());
  // Non-square latents and a last tile shifted back to the border.
  const at::Tensor wide = latent.narrow(3, 0, 12);
  EXPECT_EQ(vae.decodeTiled(wide, 8, 2).sizes(), vae.decode(wide).sizes());
  EXPECT_THROW(vae.decodeTiled(latent, 8, 8), std::invalid_argument);
}

struct PipelineFixture : ::testing::Test {
  static void SetUpTestSuite() { pipe = new SdInpaintPipeline(SdInpaintPipeline::load(kPipe)); }
  static void TearDownTestSuite() {
    delete pipe;
    pipe = nullptr;
  }
  static SdInpaintPipeline* pipe;

  caig::SdInpaintJob job(const caig::io::Checkpoint& io) const {
    caig::SdInpaintJob j;
    j.image = fromU8(fixture(io, "image_u8"));
    j.mask = fromU8(fixture(io, "mask_u8"));
    j.control = fromU8(fixture(io, "control_u8"));
    j.promptEmbeds = pipe->encodePrompt(fixture(io, "prompt_ids"));
    j.negativeEmbeds = pipe->encodePrompt(fixture(io, "negative_prompt_ids"));
    j.steps = 4;
    j.guidance = 7.5;
    j.controlnetScale = 1.0;
    j.initialLatents = fixture(io, "latents");
    return j;
  }
};
SdInpaintPipeline* PipelineFixture::pipe = nullptr;

// diffusers' encode_prompt with clip_skip=1: hidden_states[-2] through the final LayerNorm,
// computed here from the text encoder's own penultimate state and LayerNorm weights.
TEST_F(PipelineFixture, ClipSkipUsesThePenultimateLayerThroughTheFinalNorm) {
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_controlnet_inpaint" / "io.safetensors");
  const at::Tensor ids = fixture(io, "prompt_ids");
  const caig::ClipTextModel encoder = caig::ClipTextModel::load(kPipe / "text_encoder");
  const at::Tensor penultimate = encoder.forward(ids).penultimateHiddenState;
  const auto weights = caig::io::Checkpoint::open(kPipe / "text_encoder");
  const at::Tensor expected =
      at::layer_norm(penultimate, {penultimate.size(-1)}, weights.tensor("text_model.final_layer_norm.weight"),
                     weights.tensor("text_model.final_layer_norm.bias"), encoder.config().layerNormEps);
  const at::Tensor skipped = pipe->encodePrompt(ids, 1);
  EXPECT_LE((skipped - expected).abs().max().item<double>(), 1e-5);
  EXPECT_GT((skipped - pipe->encodePrompt(ids, 0)).abs().max().item<double>(), 1e-3);
  EXPECT_THROW(pipe->encodePrompt(ids, 2), std::invalid_argument);
}

TEST_F(PipelineFixture, MatchesDiffusersControlNetInpaint) {
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_controlnet_inpaint" / "io.safetensors");
  caig::SdInpaintJob j = job(io);
  EXPECT_LE(maxAbsErr(j.promptEmbeds, fixture(io, "prompt_embeds")), 1e-4);
  EXPECT_LE(maxAbsErr(j.negativeEmbeds, fixture(io, "negative_prompt_embeds")), 1e-4);
  EXPECT_EQ(maxAbsErr(fromU8(fixture(io, "control_u8")), fixture(io, "control_image_tensor")), 0.0);
  EXPECT_LE(maxAbsErr(pipe->vae().encodeMode(j.image * 2 - 1) * 0.18215, fixture(io, "image_latents")), 1e-4);
  j.keepStepLatents = true;
  int calls = 0;
  const caig::SdInpaintResult r = pipe->run(j, [&](int step, int total, const at::Tensor&) {
    EXPECT_EQ(step, ++calls);
    EXPECT_EQ(total, 4);
    return true;
  });
  ASSERT_FALSE(r.cancelled);
  ASSERT_EQ(r.stepLatents.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const at::Tensor ref = fixture(io, "latents_after_step_" + std::to_string(i));
    const double bound = 1e-5 * ref.abs().max().item<double>();
    const double err = maxAbsErr(r.stepLatents[i], ref);
    std::cout << "latents_after_step_" << i << ": max abs err " << err << " (bound " << bound << ")\n";
    EXPECT_LE(err, bound);
  }
  const double outErr = maxAbsErr(r.image, fixture(io, "output"));
  std::cout << "pipeline output max abs err " << outErr << "\n";
  EXPECT_LE(outErr, 1e-4);

  const at::Tensor preview = SdInpaintPipeline::latentPreview(r.stepLatents.back());
  EXPECT_EQ(preview.sizes(), (std::vector<int64_t>{1, 3, 16, 16}));
  EXPECT_GE(preview.min().item<float>(), 0.f);
  EXPECT_LE(preview.max().item<float>(), 1.f);
}

TEST_F(PipelineFixture, ProgressCanCancel) {
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_controlnet_inpaint" / "io.safetensors");
  caig::SdInpaintJob j = job(io);
  int calls = 0;
  const caig::SdInpaintResult r = pipe->run(j, [&](int, int, const at::Tensor&) { return ++calls < 2; });
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.image.defined());
  EXPECT_EQ(calls, 2);
  std::atomic<bool> cancel{true};
  const caig::SdInpaintResult r2 = pipe->run(j, {}, &cancel);
  EXPECT_TRUE(r2.cancelled);
  EXPECT_FALSE(r2.image.defined());
}

TEST_F(PipelineFixture, SeedReproducesTheRun) {
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_controlnet_inpaint" / "io.safetensors");
  caig::SdInpaintJob j = job(io);
  j.initialLatents = at::Tensor();
  j.steps = 2;
  j.seed = 7;
  const at::Tensor a = pipe->run(j).image, b = pipe->run(j).image;
  EXPECT_EQ(maxAbsErr(a, b), 0.0);
  j.seed = 8;
  EXPECT_GT(maxAbsErr(a, pipe->run(j).image), 1e-3);
}

TEST_F(PipelineFixture, RejectsBadInput) {
  const auto io = caig::io::Checkpoint::open(kData / "pipeline_controlnet_inpaint" / "io.safetensors");
  caig::SdInpaintJob j = job(io);
  caig::SdInpaintJob odd = j;
  odd.image = j.image.narrow(2, 0, 124);
  odd.mask = j.mask.narrow(2, 0, 124);
  odd.control = j.control.narrow(2, 0, 124);
  EXPECT_THROW(pipe->run(odd), std::invalid_argument);
  caig::SdInpaintJob badMask = j;
  badMask.mask = j.mask.narrow(3, 0, 64);
  EXPECT_THROW(pipe->run(badMask), std::invalid_argument);
  caig::SdInpaintJob badControl = j;
  badControl.control = j.control.narrow(2, 0, 64);
  EXPECT_THROW(pipe->run(badControl), std::invalid_argument);
}

TEST(SdInpaintPipeline, MissingComponentIsAFileError) {
  const caig::test::TempDir tmp;
  const fs::path dir = tmp.path() / "pipe";
  fs::create_directories(dir);
  fs::copy(kPipe / "model_index.json", dir / "model_index.json");
  for (const char* part : {"text_encoder", "unet", "controlnet", "scheduler"})
    fs::copy(kPipe / part, dir / part, fs::copy_options::recursive);
  try {
    SdInpaintPipeline::load(dir);
    FAIL() << "loaded without a vae folder";
  } catch (const caig::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("vae"), std::string::npos) << e.what();
  }
}

}  // namespace
