// diffusers' UNet2DConditionModel and ControlNetModel against the reference fixtures of diffusers
// 0.27.2 (fp32 CPU): the tiny SD ControlNet-inpaint UNet with and without ControlNet residuals,
// the ControlNet residuals themselves (conditioning scale 0.8), and a 9-channel inpainting UNet.
// Bad folders: missing or mis-shaped keys, a wrong _class_name, an unsupported block type; an
// fp16-variant-only folder loads into fp32.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/controlnet.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/safetensors.h"
#include "models/unet2d.h"
#include "test_util.h"

namespace {

using caig::ControlNetModel;
using caig::UNet2DConditionModel;
namespace fs = std::filesystem;

const fs::path kData = CAIG_TEST_DATA;
const fs::path kUNet = kData / "tiny-sd-controlnet-inpaint" / "unet";
const fs::path kControlNet = kData / "tiny-sd-controlnet-inpaint" / "controlnet";
const fs::path kInpaintUNet = kData / "tiny-unet-inpaint";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

at::Tensor fixture(const caig::io::Checkpoint& io, const std::string& name) {
  return io.tensor(name).clone();
}

// A copy of a model folder whose config.json is edited and/or whose tensors are replaced.
fs::path editedCopy(const caig::test::TempDir& tmp, const fs::path& src,
                    const std::function<void(nlohmann::json&)>& editConfig,
                    const std::function<void(caig::io::NamedTensors&)>& editTensors,
                    const std::string& weightsName = "diffusion_pytorch_model.safetensors") {
  const fs::path dir = tmp.path() / "model";
  fs::create_directories(dir);
  nlohmann::json config = caig::io::readJsonFile(src / "config.json");
  if (editConfig) editConfig(config);
  std::ofstream(dir / "config.json") << config.dump(2);
  if (editTensors) {
    const auto ckpt = caig::io::Checkpoint::open(src / "diffusion_pytorch_model.safetensors");
    caig::io::NamedTensors tensors;
    for (const auto& name : ckpt.names()) tensors.emplace_back(name, ckpt.tensor(name));
    editTensors(tensors);
    caig::io::saveSafetensors(dir / weightsName, tensors);
  } else {
    fs::copy_file(src / "diffusion_pytorch_model.safetensors", dir / weightsName);
  }
  return dir;
}

std::string loadError(const std::function<void()>& load) {
  try {
    load();
  } catch (const caig::io::FormatError& e) {
    return e.what();
  }
  return "(no FormatError)";
}

TEST(UNet2DConfig, SD15QuirksFromTheFixture) {
  const caig::UNet2DConfig c = caig::readUNet2DConfig(kUNet);
  EXPECT_EQ(c.inChannels, 4);
  EXPECT_EQ(c.blockOutChannels, (std::vector<int64_t>{32, 64, 64}));
  // attention_head_dim 8 with num_attention_heads null: 8 heads, not heads of size 8.
  EXPECT_EQ(c.numAttentionHeads, (std::vector<int64_t>{8, 8, 8}));
  EXPECT_EQ(c.transformerLayersPerBlock, (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(c.crossAttentionDim, 32);
  EXPECT_EQ(c.timeEmbedDim(), 128);
  EXPECT_EQ(caig::readUNet2DConfig(kInpaintUNet).inChannels, 9);
  const caig::ControlNetConfig cn = caig::readControlNetConfig(kControlNet);
  EXPECT_EQ(cn.conditioningEmbeddingOutChannels, (std::vector<int64_t>{16, 32, 48, 64}));
  EXPECT_FALSE(cn.bgrConditioning);
}

TEST(UNet2DConditionModel, MatchesDiffusersWithAndWithoutControlNet) {
  const auto io = caig::io::Checkpoint::open(kData / "unet_controlnet" / "io.safetensors");
  const at::Tensor sample = fixture(io, "sample"), t = fixture(io, "timesteps");
  const at::Tensor context = fixture(io, "encoder_hidden_states");
  const UNet2DConditionModel unet = UNet2DConditionModel::load(kUNet);
  const ControlNetModel controlnet = ControlNetModel::load(kControlNet);

  EXPECT_LE(maxAbsErr(unet.forward(sample, t, context), fixture(io, "unet_out")), 1e-4);

  const caig::ControlNetResiduals r = controlnet.forward(sample, t, context, fixture(io, "controlnet_cond"), 0.8);
  ASSERT_EQ(r.down.size(), 9u);
  for (std::size_t i = 0; i < r.down.size(); ++i) {
    SCOPED_TRACE("down_residual_" + std::to_string(i));
    EXPECT_LE(maxAbsErr(r.down[i], fixture(io, "down_residual_" + std::to_string(i))), 1e-4);
  }
  EXPECT_LE(maxAbsErr(r.mid, fixture(io, "mid_residual")), 1e-4);

  // The UNet fed the reference residuals, then our own.
  std::vector<at::Tensor> refDown;
  for (int i = 0; i < 9; ++i) refDown.push_back(fixture(io, "down_residual_" + std::to_string(i)));
  const at::Tensor refMid = fixture(io, "mid_residual");
  const at::Tensor expected = fixture(io, "unet_out_controlled");
  EXPECT_LE(maxAbsErr(unet.forward(sample, t, context, &refDown, &refMid), expected), 1e-4);
  EXPECT_LE(maxAbsErr(unet.forward(sample, t, context, &r.down, &r.mid), expected), 1e-4);
  EXPECT_GT(maxAbsErr(expected, fixture(io, "unet_out")), 1e-3);  // the residuals do change the output
}

TEST(UNet2DConditionModel, TimestepFormsAgree) {
  const auto io = caig::io::Checkpoint::open(kData / "unet_controlnet" / "io.safetensors");
  const UNet2DConditionModel unet = UNet2DConditionModel::load(kUNet);
  const at::Tensor sample = fixture(io, "sample"), context = fixture(io, "encoder_hidden_states");
  const at::Tensor t = fixture(io, "timesteps");
  // float timesteps equal to the integer ones give the same output; a 0-dim timestep broadcasts.
  EXPECT_LE(maxAbsErr(unet.forward(sample, t.to(at::kFloat), context), unet.forward(sample, t, context)), 1e-6);
  const at::Tensor one = t[0];
  const at::Tensor both = unet.forward(sample, one, context);
  EXPECT_LE(maxAbsErr(both, unet.forward(sample, at::stack({one, one}), context)), 1e-6);
  // Fractional timesteps (Euler) move the output continuously.
  const at::Tensor frac = unet.forward(sample, t.to(at::kFloat) + 0.5, context);
  EXPECT_GT(maxAbsErr(frac, unet.forward(sample, t, context)), 0.0);
  EXPECT_THROW(unet.forward(sample, at::zeros({3}), context), std::invalid_argument);
  EXPECT_THROW(unet.forward(sample.narrow(1, 0, 3), t, context), std::invalid_argument);
  std::vector<at::Tensor> tooFew(3, at::zeros({2, 32, 16, 16}));
  EXPECT_THROW(unet.forward(sample, t, context, &tooFew), std::invalid_argument);
}

TEST(UNet2DConditionModel, NineChannelInpaintingUNet) {
  const auto io = caig::io::Checkpoint::open(kData / "unet_inpaint" / "io.safetensors");
  const UNet2DConditionModel unet = UNet2DConditionModel::load(kInpaintUNet);
  const at::Tensor out =
      unet.forward(fixture(io, "sample"), fixture(io, "timesteps"), fixture(io, "encoder_hidden_states"));
  EXPECT_LE(maxAbsErr(out, fixture(io, "out")), 1e-4);
}

TEST(UNet2DConditionModel, Fp16WeightsVariantLoadsIntoFp32) {
  caig::test::TempDir tmp;
  const fs::path dir = editedCopy(
      tmp, kUNet, nullptr,
      [](caig::io::NamedTensors& tensors) {
        for (auto& [name, t] : tensors) t = t.to(at::kHalf);
      },
      "diffusion_pytorch_model.fp16.safetensors");
  ASSERT_FALSE(fs::exists(dir / "diffusion_pytorch_model.safetensors"));
  const UNet2DConditionModel half = UNet2DConditionModel::load(dir);
  EXPECT_EQ(half.dtype(), at::kFloat);
  const auto io = caig::io::Checkpoint::open(kData / "unet_controlnet" / "io.safetensors");
  const at::Tensor out =
      half.forward(fixture(io, "sample"), fixture(io, "timesteps"), fixture(io, "encoder_hidden_states"));
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  // fp16-rounded weights: close to the reference, not bit-equal.
  EXPECT_LE(maxAbsErr(out, fixture(io, "unet_out")), 5e-2);
}

TEST(UNet2DConditionModel, RejectsMissingAndMisshapedKeys) {
  {
    caig::test::TempDir tmp;
    const fs::path dir = editedCopy(tmp, kUNet, nullptr, [](caig::io::NamedTensors& tensors) {
      tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                   [](const auto& p) { return p.first == "mid_block.attentions.0.proj_in.weight"; }),
                    tensors.end());
    });
    const std::string msg = loadError([&] { UNet2DConditionModel::load(dir); });
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mid_block.attentions.0.proj_in.weight"), std::string::npos) << msg;
  }
  {
    caig::test::TempDir tmp;
    const fs::path dir = editedCopy(tmp, kUNet, nullptr, [](caig::io::NamedTensors& tensors) {
      for (auto& [name, t] : tensors)
        if (name == "conv_in.weight") t = at::zeros({32, 5, 3, 3});
      tensors.emplace_back("extra.weight", at::zeros({2}));
    });
    const std::string msg = loadError([&] { UNet2DConditionModel::load(dir); });
    EXPECT_NE(msg.find("conv_in.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("wrong shape"), std::string::npos) << msg;
    EXPECT_NE(msg.find("extra.weight"), std::string::npos) << msg;
  }
  {
    // Right shape, wrong dtype: integer weights are named, not silently converted.
    caig::test::TempDir tmp;
    const fs::path dir = editedCopy(tmp, kUNet, nullptr, [](caig::io::NamedTensors& tensors) {
      for (auto& [name, t] : tensors)
        if (name == "conv_out.bias") t = t.to(at::kInt);
    });
    const std::string msg = loadError([&] { UNet2DConditionModel::load(dir); });
    EXPECT_NE(msg.find("wrong shape or dtype"), std::string::npos) << msg;
    EXPECT_NE(msg.find("conv_out.bias: checkpoint I32"), std::string::npos) << msg;
  }
}

TEST(UNet2DConditionModel, RejectsWrongClassAndUnsupportedConfigs) {
  std::string msg = loadError([] { UNet2DConditionModel::load(kControlNet); });
  EXPECT_NE(msg.find("ControlNetModel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("UNet2DConditionModel"), std::string::npos) << msg;
  msg = loadError([] { ControlNetModel::load(kUNet); });
  EXPECT_NE(msg.find("not a ControlNetModel"), std::string::npos) << msg;

  const auto rejects = [](const std::function<void(nlohmann::json&)>& edit, const std::string& expected) {
    caig::test::TempDir tmp;
    const fs::path dir = editedCopy(tmp, kUNet, edit, nullptr);
    const std::string m = loadError([&] { UNet2DConditionModel::load(dir); });
    EXPECT_NE(m.find(expected), std::string::npos) << m;
  };
  rejects([](nlohmann::json& c) { c["down_block_types"][2] = "AttnDownBlock2D"; }, "\"AttnDownBlock2D\"");
  rejects([](nlohmann::json& c) { c["up_block_types"][0] = "SimpleCrossAttnUpBlock2D"; },
          "\"SimpleCrossAttnUpBlock2D\"");
  rejects([](nlohmann::json& c) { c["resnet_time_scale_shift"] = "scale_shift"; }, "resnet_time_scale_shift");
  rejects([](nlohmann::json& c) { c["class_embed_type"] = "timestep"; }, "class_embed_type");
  rejects([](nlohmann::json& c) { c["addition_embed_type"] = "text_time"; }, "addition_embed_type");
  rejects([](nlohmann::json& c) { c["mid_block_type"] = "UNetMidBlock2DSimpleCrossAttn"; }, "mid_block_type");
}

TEST(ControlNetModel, RejectsBadControlImages) {
  const ControlNetModel controlnet = ControlNetModel::load(kControlNet);
  const at::Tensor sample = at::zeros({1, 4, 16, 16}), t = at::full({1}, 10), ctx = at::zeros({1, 7, 32});
  EXPECT_THROW(controlnet.forward(sample, t, ctx, at::zeros({1, 3, 64, 64})), std::invalid_argument);
  EXPECT_THROW(controlnet.forward(sample, t, ctx, at::zeros({1, 1, 128, 128})), std::invalid_argument);
  const auto r = controlnet.forward(sample, t, ctx, at::zeros({1, 3, 128, 128}), 0.0);
  ASSERT_EQ(r.down.size(), 9u);
  EXPECT_EQ(r.mid.abs().max().item<double>(), 0.0);  // scale 0: no control
}

}  // namespace
