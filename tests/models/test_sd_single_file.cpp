// Single-file SD1.5 checkpoints (models/sd_single_file.h) against diffusers 0.27.2's
// from_single_file on the tiny fixtures (tests/data/single_file_sd15, copied from
// ../shared/fixtures: tiny-sd15 written by diffusers' convert_diffusers_to_original script): the
// UNet, the 9-channel inpainting UNet (an fp16 file), the VAE and the CLIP text encoder give
// diffusers' outputs; a file with EMA copies, DDPM buffers and metadata loads its non-EMA weights.
// What a file is not (SDXL, SD2, a LoRA, a ControlNet) and what is missing are named.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/diffusion_schedulers.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/sd_inpaint_pipeline.h"
#include "models/sd_single_file.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
const fs::path kDir = fs::path(CAIG_TEST_DATA) / "single_file_sd15";
const fs::path kFile = kDir / "tiny-sd15.safetensors";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

const caig::io::Checkpoint& golden() {
  static const caig::io::Checkpoint io = caig::io::Checkpoint::open(kDir / "io.safetensors");
  return io;
}

// The tiny text encoder's 2 heads: what neither the file nor its yaml says (SD1.5: hidden / 64).
caig::SdSingleFileHints tinyHints() {
  caig::SdSingleFileHints h = caig::readLdmYamlHints(kDir / "tiny-sd15.yaml");
  h.clipHeads = 2;
  return h;
}

using caig::test::errorOf;

TEST(SdSingleFile, TheYamlBesideTheFileGivesWhatShapesCannot) {
  const auto hints = caig::ldmHintsBeside(kFile);
  ASSERT_TRUE(hints.normNumGroups && hints.unetHeads && hints.scalingFactor);
  EXPECT_EQ(*hints.normNumGroups, 2);
  EXPECT_EQ(*hints.unetHeads, 2);
  EXPECT_DOUBLE_EQ(*hints.scalingFactor, 0.18215);
  EXPECT_FALSE(caig::ldmHintsBeside(kDir / "tiny-sd15-with-ema.safetensors").unetHeads);  // no yaml of that name
}

TEST(SdSingleFile, TheUNetMatchesDiffusersFromSingleFile) {
  const auto& io = golden();
  const auto checkpoint = caig::io::Checkpoint::open(kFile);
  const auto layout = caig::inspectSdSingleFile(checkpoint, kFile.string());
  EXPECT_EQ(layout.unetPrefix, "model.diffusion_model.");
  EXPECT_EQ(layout.vaePrefix, "first_stage_model.");
  EXPECT_EQ(layout.clipPrefix, "cond_stage_model.transformer.text_model.");
  EXPECT_EQ(layout.unetInChannels, 4);
  EXPECT_EQ(layout.tensors, 986);
  const caig::UNet2DConfig c = caig::ldmUnetConfig(checkpoint, layout, tinyHints());
  EXPECT_EQ(c.blockOutChannels, (std::vector<int64_t>{4, 8, 16, 16}));
  EXPECT_EQ(c.downBlockTypes.back(), "DownBlock2D");
  EXPECT_EQ(c.upBlockTypes.front(), "UpBlock2D");
  EXPECT_EQ(c.crossAttentionDim, 4);
  EXPECT_EQ(c.layersPerBlock, 2);
  EXPECT_FALSE(c.useLinearProjection);

  const auto unet = caig::loadSingleFileUnet(kFile);  // hints from the yaml beside it
  const at::Tensor eps = unet.forward(io.tensor("sample"), io.tensor("timesteps"), io.tensor("encoder_hidden_states"));
  EXPECT_LE(maxAbsErr(eps, io.tensor("unet_out")), 1e-4);

  // The full checkpoint: EMA copies (fp16, mixed dtypes), DDPM buffers, position_ids and string
  // metadata beside the same weights. The non-EMA weights are the model, as in diffusers.
  const auto full = caig::io::Checkpoint::open(kDir / "tiny-sd15-with-ema.safetensors");
  EXPECT_EQ(caig::inspectSdSingleFile(full, "ema").emaTensors, 688);  // 686 + decay + num_updates
  const auto fromFull =
      caig::loadSingleFileUnet(kDir / "tiny-sd15-with-ema.safetensors", c10::Device("cpu"), c10::kFloat, tinyHints());
  EXPECT_LE(maxAbsErr(fromFull.forward(io.tensor("sample"), io.tensor("timesteps"), io.tensor("encoder_hidden_states")),
                      io.tensor("unet_out")),
            1e-4);
}

TEST(SdSingleFile, AnInpaintingCheckpointHasANineChannelUNet) {
  const auto& io = golden();
  const fs::path file = kDir / "tiny-sd15-inpainting.safetensors";  // fp16, like most inpainting files
  const auto unet = caig::loadSingleFileUnet(file);
  EXPECT_EQ(unet.config().inChannels, 9);
  const at::Tensor eps = unet.forward(io.tensor("sample9"), io.tensor("timesteps"), io.tensor("encoder_hidden_states"));
  EXPECT_LE(maxAbsErr(eps, io.tensor("unet_inpainting_out")), 1e-4);
}

TEST(SdSingleFile, TheVaeMatchesDiffusers) {
  const auto& io = golden();
  const auto vae = caig::loadSingleFileVae(kFile);
  EXPECT_EQ(vae.config().blockOutChannels, (std::vector<int64_t>{4, 8, 16, 16}));
  EXPECT_DOUBLE_EQ(vae.scalingFactor(), 0.18215);
  const auto moments = vae.encodeMoments(io.tensor("image"));
  EXPECT_LE(maxAbsErr(moments.mean, io.tensor("vae_posterior_mean")), 1e-4);
  EXPECT_LE(maxAbsErr(moments.logvar, io.tensor("vae_posterior_logvar")), 1e-4);
  EXPECT_LE(maxAbsErr(vae.decode(io.tensor("latent")), io.tensor("vae_decoded")), 1e-4);

  // A VAE file on its own (LDM names at the top, as vae-ft-mse-840000-ema-pruned.safetensors).
  caig::test::TempDir tmp;
  const auto checkpoint = caig::io::Checkpoint::open(kFile);
  caig::io::NamedTensors vaeOnly;
  for (const auto& name : checkpoint.names()) {
    if (name.rfind("first_stage_model.", 0) == 0) vaeOnly.emplace_back(name.substr(18), checkpoint.tensor(name));
  }
  caig::io::saveSafetensors(tmp.path() / "vae.safetensors", vaeOnly);
  caig::SdSingleFileHints groups;
  groups.normNumGroups = 2;
  const auto alone = caig::loadSingleFileVae(tmp.path() / "vae.safetensors", c10::Device("cpu"), c10::kFloat, groups);
  EXPECT_LE(maxAbsErr(alone.decode(io.tensor("latent")), io.tensor("vae_decoded")), 1e-4);
}

TEST(SdSingleFile, TheTextEncoderMatchesTransformers) {
  const auto& io = golden();
  const auto clip = caig::loadSingleFileClip(kFile, c10::Device("cpu"), tinyHints());
  EXPECT_EQ(clip.config().hiddenSize, 4);
  EXPECT_EQ(clip.config().numHiddenLayers, 3);
  EXPECT_EQ(clip.config().intermediateSize, 16);
  const auto out = clip.forward(io.tensor("input_ids"));
  EXPECT_LE(maxAbsErr(out.lastHiddenState, io.tensor("te_last_hidden_state")), 1e-4);
  EXPECT_LE(maxAbsErr(out.penultimateHiddenState, io.tensor("te_penultimate_hidden_state")), 1e-4);
  // Without the hint, a hidden size that does not split into heads of 64 is named, not guessed.
  EXPECT_NE(errorOf([] { caig::loadSingleFileClip(kFile); }).find("heads of 64"), std::string::npos);
}

TEST(SdSingleFile, TheKeyMappingFollowsTheLdmLayout) {
  caig::UNet2DConfig c;  // SD1.5's
  EXPECT_EQ(caig::ldmUnetKey("conv_in.weight", c), "input_blocks.0.0.weight");
  EXPECT_EQ(caig::ldmUnetKey("time_embedding.linear_2.bias", c), "time_embed.2.bias");
  EXPECT_EQ(caig::ldmUnetKey("down_blocks.3.resnets.1.conv2.weight", c), "input_blocks.11.0.out_layers.3.weight");
  EXPECT_EQ(caig::ldmUnetKey("down_blocks.1.attentions.0.proj_in.weight", c), "input_blocks.4.1.proj_in.weight");
  EXPECT_EQ(caig::ldmUnetKey("down_blocks.2.downsamplers.0.conv.bias", c), "input_blocks.9.0.op.bias");
  EXPECT_EQ(caig::ldmUnetKey("mid_block.resnets.1.time_emb_proj.bias", c), "middle_block.2.emb_layers.1.bias");
  EXPECT_EQ(caig::ldmUnetKey("up_blocks.0.upsamplers.0.conv.weight", c), "output_blocks.2.1.conv.weight");
  EXPECT_EQ(caig::ldmUnetKey("up_blocks.1.upsamplers.0.conv.weight", c), "output_blocks.5.2.conv.weight");
  EXPECT_EQ(caig::ldmUnetKey("up_blocks.3.resnets.2.conv_shortcut.weight", c),
            "output_blocks.11.0.skip_connection.weight");
  EXPECT_EQ(caig::ldmUnetKey("conv_norm_out.weight", c), "out.0.weight");
  caig::AutoencoderKLConfig v;
  EXPECT_EQ(caig::ldmVaeKey("decoder.up_blocks.0.resnets.2.conv1.weight", v), "decoder.up.3.block.2.conv1.weight");
  EXPECT_EQ(caig::ldmVaeKey("encoder.down_blocks.1.resnets.0.conv_shortcut.bias", v),
            "encoder.down.1.block.0.nin_shortcut.bias");
  EXPECT_EQ(caig::ldmVaeKey("encoder.mid_block.attentions.0.to_out.0.weight", v), "encoder.mid.attn_1.proj_out.weight");
  EXPECT_EQ(caig::ldmVaeKey("decoder.mid_block.resnets.1.norm2.bias", v), "decoder.mid.block_2.norm2.bias");
  EXPECT_EQ(caig::ldmVaeKey("post_quant_conv.weight", v), "post_quant_conv.weight");
}

TEST(SdSingleFile, WhatAFileIsNotAndWhatItLacksAreNamed) {
  caig::test::TempDir tmp;
  const auto checkpoint = caig::io::Checkpoint::open(kFile);
  const at::Tensor t = at::zeros({2, 2});
  const auto write = [&](const std::string& name, caig::io::NamedTensors tensors) {
    const fs::path p = tmp.path() / name;
    caig::io::saveSafetensors(p, tensors);
    return p;
  };
  const auto inspect = [](const fs::path& p) {
    return errorOf([&] { caig::inspectSdSingleFile(caig::io::Checkpoint::open(p), p.string()); });
  };
  EXPECT_NE(
      inspect(write("xl.safetensors", {{"conditioner.embedders.0.transformer.x", t},
                                       {"model.diffusion_model.input_blocks.0.0.weight", at::zeros({4, 4, 3, 3})}}))
          .find("SDXL"),
      std::string::npos);
  EXPECT_NE(
      inspect(write("sd2.safetensors", {{"cond_stage_model.model.token_embedding.weight", t},
                                        {"model.diffusion_model.input_blocks.0.0.weight", at::zeros({4, 4, 3, 3})}}))
          .find("SD2"),
      std::string::npos);
  EXPECT_NE(inspect(write("lora.safetensors", {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", t}}))
                .find("a LoRA file"),
            std::string::npos);
  EXPECT_NE(
      inspect(write("cn.safetensors", {{"control_model.input_hint_block.0.weight", t}})).find("a ControlNet file"),
      std::string::npos);
  EXPECT_NE(inspect(write("other.safetensors", {{"weight", t}})).find("no Stable Diffusion UNet"), std::string::npos);

  // One UNet tensor missing, one mis-shaped: both named, with the file.
  caig::io::NamedTensors edited;
  for (const auto& name : checkpoint.names()) {
    if (name == "model.diffusion_model.output_blocks.5.2.conv.weight") continue;
    at::Tensor v = checkpoint.tensor(name);
    if (name == "model.diffusion_model.out.2.bias") v = at::zeros({5});
    edited.emplace_back(name, v);
  }
  const fs::path broken = write("broken.safetensors", edited);
  const std::string error =
      errorOf([&] { caig::loadSingleFileUnet(broken, c10::Device("cpu"), c10::kFloat, tinyHints()); });
  EXPECT_NE(error.find(broken.string()), std::string::npos) << error;
  EXPECT_NE(error.find("output_blocks.5.2.conv.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("out.2.bias"), std::string::npos) << error;
  // A truncated file is refused by the reader, naming it.
  const std::string bytes = caig::test::readFile(kFile);
  caig::test::writeFile(tmp.path() / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(errorOf([&] { caig::loadSingleFileUnet(tmp.path() / "cut.safetensors"); }).find("cut.safetensors"),
            std::string::npos);
}

// lllyasviel's layout: the residuals of diffusers' ControlNetModel (from_single_file on the cldm
// file), at conditioning scale 0.8, and the mapping of its three extra parts.
TEST(SdSingleFile, AnOriginalLayoutControlNetMatchesDiffusers) {
  const auto io = caig::io::Checkpoint::open(kDir / "controlnet_ldm" / "io.safetensors");
  const fs::path file = kDir / "tiny-controlnet-ldm.safetensors";
  const auto controlnet = caig::loadSingleFileControlNet(file);  // the yaml beside it: 2 groups, 2 heads
  EXPECT_EQ(controlnet.config().conditioningEmbeddingOutChannels, (std::vector<int64_t>{8, 8, 16, 16}));
  EXPECT_EQ(controlnet.config().conditioningChannels, 3);
  const auto r = controlnet.forward(io.tensor("sample"), io.tensor("timesteps"), io.tensor("encoder_hidden_states"),
                                    io.tensor("controlnet_cond"), 0.8);
  ASSERT_EQ(r.down.size(), 12u);
  for (int i = 0; i < 12; ++i) {
    EXPECT_LE(maxAbsErr(r.down[static_cast<std::size_t>(i)], io.tensor("down_residual_" + std::to_string(i))), 1e-4)
        << i;
  }
  EXPECT_LE(maxAbsErr(r.mid, io.tensor("mid_residual")), 1e-4);
  EXPECT_EQ(caig::ldmControlNetKey("controlnet_cond_embedding.conv_out.weight", controlnet.config()),
            "input_hint_block.14.weight");
  EXPECT_EQ(caig::ldmControlNetKey("controlnet_cond_embedding.blocks.5.bias", controlnet.config()),
            "input_hint_block.12.bias");
  EXPECT_EQ(caig::ldmControlNetKey("controlnet_down_blocks.11.weight", controlnet.config()), "zero_convs.11.0.weight");
  EXPECT_EQ(caig::ldmControlNetKey("controlnet_mid_block.bias", controlnet.config()), "middle_block_out.0.bias");
  // A checkpoint is not a ControlNet.
  EXPECT_NE(errorOf([] { caig::loadSingleFileControlNet(kFile); }).find("not a ControlNet"), std::string::npos);
}

// The whole ControlNet-inpaint job on the single file + the tiny ControlNet folder, against
// diffusers' StableDiffusionControlNetInpaintPipeline on the tiny-sd15/ folder it was converted
// from (pipeline_sd15_controlnet_inpaint: Euler a, 4 steps, its noise recorded).
class RecordedNoise : public caig::NoiseSource {
 public:
  explicit RecordedNoise(const caig::io::Checkpoint& io) : io_(io) {}
  at::Tensor next(const at::Tensor& like) override {
    return io_.tensor("ea_noise_" + std::to_string(i_++)).to(like.device(), like.scalar_type());
  }

 private:
  const caig::io::Checkpoint& io_;
  int i_ = 0;
};

at::Tensor fromU8(const at::Tensor& hwc) {
  const at::Tensor f = hwc.to(at::kFloat) / 255.0;
  return hwc.dim() == 2 ? f.unsqueeze(0).unsqueeze(0) : f.permute({2, 0, 1}).unsqueeze(0).contiguous();
}

// A pipeline fixture's 4 steps: each step's latents within 1e-5 of their scale (the random tiny
// UNet does not denoise, so latents grow; see ../shared/fixtures/README.md).
void expectFixtureSteps(const caig::SdInpaintResult& r, const caig::io::Checkpoint& io) {
  ASSERT_EQ(r.stepLatents.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const at::Tensor ref = io.tensor("latents_after_step_" + std::to_string(i));
    EXPECT_LE(maxAbsErr(r.stepLatents[i], ref), 1e-5 * ref.abs().max().item<double>()) << "step " << i;
  }
}

// Without its .yaml the tiny ControlNet's 4-channel attention cannot take SD1.5's 8 heads: the
// file and the way out are named, before anything is built.
TEST(SdSingleFile, HeadsThatDoNotFitTheShapesAreNamed) {
  caig::test::TempDir tmp;
  fs::copy_file(kDir / "tiny-controlnet-ldm.safetensors", tmp / "canny.safetensors");
  const std::string e = errorOf([&] { caig::loadSingleFileControlNet(tmp / "canny.safetensors"); });
  EXPECT_NE(e.find("canny.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("attention of 4 channels does not split into 8 heads (SD1.5's count): give num_heads in an LDM "
                   ".yaml of the same name beside the file"),
            std::string::npos)
      << e;
}

TEST(SdSingleFile, TheControlNetInpaintJobMatchesDiffusersOnTheFolderItCameFrom) {
  const auto io = caig::io::Checkpoint::open(kDir / "pipeline_sd15_controlnet_inpaint" / "io.safetensors");
  caig::SdLoadOptions o;
  o.controlnetDir = kDir / "tiny-controlnet";
  o.singleFileHints = tinyHints();
  const auto pipe = caig::SdInpaintPipeline::load(kFile, o);
  EXPECT_EQ(pipe.schedulerName(), "euler_a");  // SD1.5's betas with Euler a when the file has none
  caig::SdInpaintJob j;
  j.image = fromU8(io.tensor("image_u8"));
  j.mask = fromU8(io.tensor("mask_u8"));
  j.control = fromU8(io.tensor("control_u8"));
  j.promptEmbeds = pipe.encodePrompt(io.tensor("prompt_ids"));
  j.negativeEmbeds = pipe.encodePrompt(io.tensor("negative_prompt_ids"));
  EXPECT_LE(maxAbsErr(j.promptEmbeds, io.tensor("prompt_embeds")), 1e-4);
  j.steps = 4;
  j.initialLatents = io.tensor("latents");
  RecordedNoise noise(io);
  j.noise = &noise;
  j.keepStepLatents = true;
  const caig::SdInpaintResult r = pipe.run(j);
  expectFixtureSteps(r, io);
  EXPECT_LE(maxAbsErr(r.image, io.tensor("output")), 1e-4);
  // Both as single files, the ControlNet in lllyasviel's layout: the same job, the same image.
  o.controlnetDir = kDir / "tiny-controlnet-ldm.safetensors";
  const auto files = caig::SdInpaintPipeline::load(kFile, o);
  RecordedNoise again(io);
  j.noise = &again;
  j.keepStepLatents = false;
  EXPECT_LE(maxAbsErr(files.run(j).image, io.tensor("output")), 1e-4);
  // No ControlNet given: the file has none, and says so.
  EXPECT_NE(errorOf([] { caig::SdInpaintPipeline::load(kFile); }).find("holds no ControlNet"), std::string::npos);
}

// diffusers' StableDiffusionPipeline (text to image) and StableDiffusionInpaintPipeline (the
// 9-channel inpainting checkpoint) through the ControlNet-inpaint pipeline on the single files:
// with the ControlNet's residuals scaled by 0 (adding exact zeros) and, for text to image, a mask
// that repaints everything (the blend then keeps the denoised latents exactly), the same job.
TEST(SdSingleFile, TheTextToImageAndInpaintingPipelinesMatchDiffusers) {
  struct Case {
    const char* fixture;
    const char* file;
    const char* sampler;
  };
  for (const Case& c : {Case{"pipeline_sd15_text2img", "tiny-sd15.safetensors", "euler_a"},
                        Case{"pipeline_sd15_inpaint9", "tiny-sd15-inpainting.safetensors", "euler"}}) {
    SCOPED_TRACE(c.fixture);
    const auto io = caig::io::Checkpoint::open(kDir / c.fixture / "io.safetensors");
    caig::SdLoadOptions o;
    o.controlnetDir = kDir / "tiny-controlnet";
    o.singleFileHints = caig::readLdmYamlHints(kDir / (fs::path(c.file).stem().string() + ".yaml"));
    o.singleFileHints->clipHeads = 2;
    const auto pipe = caig::SdInpaintPipeline::load(kDir / c.file, o);
    const bool inpaint = std::string(c.fixture) == "pipeline_sd15_inpaint9";
    EXPECT_EQ(pipe.unet().config().inChannels, inpaint ? 9 : 4);
    caig::SdInpaintJob j;
    j.image = inpaint ? fromU8(io.tensor("image_u8")) : at::zeros({1, 3, 64, 64});
    j.mask = inpaint ? fromU8(io.tensor("mask_u8")) : at::ones({1, 1, 64, 64});
    j.control = at::zeros({1, 3, 64, 64});
    j.controlnetScale = 0.0;
    j.promptEmbeds = pipe.encodePrompt(io.tensor("prompt_ids"));
    j.negativeEmbeds = pipe.encodePrompt(io.tensor("negative_prompt_ids"));
    if (!inpaint) {
      EXPECT_LE(maxAbsErr(j.promptEmbeds, io.tensor("prompt_embeds")), 1e-4);
    }
    j.steps = 4;
    j.sampler = c.sampler;
    j.initialLatents = io.tensor("latents");
    RecordedNoise noise(io);
    j.noise = &noise;
    j.keepStepLatents = true;
    const caig::SdInpaintResult r = pipe.run(j);
    expectFixtureSteps(r, io);
    const double err = maxAbsErr(r.image, io.tensor("output"));
    std::cout << c.fixture << " on " << c.file << ": output max abs err " << err << "\n";
    EXPECT_LE(err, 1e-4);
    if (inpaint) continue;
    // The fp16 file (every tensor F16, as --half writes it; the fixture's weights are fp16-exact):
    // the same image, bit for bit.
    caig::test::TempDir tmp;
    caig::io::NamedTensors half;
    const auto full = caig::io::Checkpoint::open(kDir / c.file);
    for (const auto& n : full.names()) half.emplace_back(n, full.tensor(n).to(at::kHalf));
    caig::io::saveSafetensors(tmp / "tiny-sd15-fp16.safetensors", half);
    const auto fp16 = caig::SdInpaintPipeline::load(tmp / "tiny-sd15-fp16.safetensors", o);
    RecordedNoise again(io);
    j.noise = &again;
    j.keepStepLatents = false;
    EXPECT_TRUE(at::equal(fp16.run(j).image, r.image));
  }
}

}  // namespace
