// LoRA files (models/sd_lora.h) against diffusers 0.27.2 + PEFT's merge on the tiny SD1.5
// (tests/data/lora, copied from ../shared/fixtures/lora; the base model is tiny-sd15, here as
// its single file): a kohya / A1111 file with LoCon 3x3 convs and per-module alphas, the
// LCM-LoRA layout (kohya keys, diffusers module names) and the diffusers training-script format
// (no alpha) each give diffusers' merged weights, UNet outputs and text encoder outputs at weight
// 0.8 and 1.0. The pipeline swaps sets of LoRAs and undoes them bit for bit; files it cannot
// merge are named.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/clip_text.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/sd_inpaint_pipeline.h"
#include "models/sd_lora.h"
#include "models/sd_single_file.h"
#include "models/unet2d.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using caig::test::errorOf;
const fs::path kData = fs::path(CAIG_TEST_DATA);
const fs::path kModel = kData / "single_file_sd15" / "tiny-sd15.safetensors";
const fs::path kLoras = kData / "lora";

const fs::path& loraFile(const std::string& kind) {
  static const std::map<std::string, fs::path> files = {
      {"kohya", kLoras / "lora-kohya-locon.safetensors"},
      {"lcm", kLoras / "lcm-lora-style.safetensors"},
      {"diffusers", kLoras / "lora-diffusers" / "pytorch_lora_weights.safetensors"}};
  return files.at(kind);
}

const caig::io::Checkpoint& golden() {
  static const caig::io::Checkpoint io = caig::io::Checkpoint::open(kLoras / "io.safetensors");
  return io;
}

caig::SdSingleFileHints tinyHints() {  // the tiny text encoder's 2 heads: what neither file nor yaml says
  caig::SdSingleFileHints h = caig::readLdmYamlHints(kModel.parent_path() / "tiny-sd15.yaml");
  h.clipHeads = 2;
  return h;
}

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

at::Tensor param(const std::vector<std::pair<std::string, at::Tensor>>& params, const std::string& name) {
  for (const auto& [n, t] : params)
    if (n == name) return t;
  ADD_FAILURE() << "no parameter " << name;
  return at::zeros({1});
}

struct Models {
  caig::UNet2DConditionModel unet = caig::loadSingleFileUnet(kModel);
  caig::ClipTextModel text = caig::loadSingleFileClip(kModel, c10::Device("cpu"), tinyHints());
};

std::string scaleName(double s) {
  return s == 0.8 ? "s0p8" : "s1p0";
}

// Every merged parameter the fixture recorded (merged_<kind>_s0p8__<param>, "te." for the text
// encoder's) and the networks' outputs at both weights.
void expectDiffusersMerge(const std::string& kind, bool hasText) {
  const auto& io = golden();
  for (const double weight : {0.8, 1.0}) {
    Models m;
    EXPECT_LE(maxAbsErr(m.unet.forward(io.tensor("sample"), io.tensor("timesteps"), io.tensor("encoder_hidden_states")),
                        io.tensor("unet_out_base")),
              1e-4);
    const caig::SdLoraFile lora = caig::readSdLora(loraFile(kind), m.unet, &m.text);
    EXPECT_TRUE(lora.unmatched.empty()) << lora.unmatched.front();
    caig::mergeSdLora(lora, weight, m.unet, &m.text);
    if (weight == 0.8) {
      int checked = 0;
      for (const auto& name : io.names()) {
        const std::string prefix = "merged_" + kind + "_s0p8__";
        if (name.rfind(prefix, 0) != 0) continue;
        std::string p = name.substr(prefix.size());
        const bool te = p.rfind("te.", 0) == 0;
        const at::Tensor merged = te ? param(m.text.parameters(), p.substr(3)) : param(m.unet.parameters(), p);
        EXPECT_LE(maxAbsErr(merged, io.tensor(name)), 1e-6) << name;
        ++checked;
      }
      EXPECT_GE(checked, 2) << kind;
    }
    const at::Tensor eps =
        m.unet.forward(io.tensor("sample"), io.tensor("timesteps"), io.tensor("encoder_hidden_states"));
    EXPECT_LE(maxAbsErr(eps, io.tensor("unet_out_" + kind + "_" + scaleName(weight))), 1e-4) << kind << weight;
    EXPECT_GT(maxAbsErr(eps, io.tensor("unet_out_base")), 1e-2);  // it did change the UNet (diffusers: >= 0.02)
    const at::Tensor hidden = m.text.forward(io.tensor("input_ids")).lastHiddenState;
    if (hasText) {
      EXPECT_LE(maxAbsErr(hidden, io.tensor("te_last_hidden_state_" + kind + "_" + scaleName(weight))), 1e-4);
    } else {
      EXPECT_LE(maxAbsErr(hidden, io.tensor("te_last_hidden_state_base")), 1e-4);
    }
  }
}

TEST(SdLora, KohyaLoConMatchesDiffusers) {
  Models m;
  const caig::SdLoraFile lora = caig::readSdLora(loraFile("kohya"), m.unet, &m.text);
  EXPECT_EQ(lora.unetModules, 278);  // 228 linear / 1x1 (r 2, alpha 1) + 50 LoCon 3x3 (r 3, alpha 0.75)
  EXPECT_EQ(lora.textModules, 18);
  int locon = 0;
  for (const auto& p : lora.patches) {
    if (p.down.dim() == 4 && p.down.size(2) == 3) {
      ++locon;
      EXPECT_DOUBLE_EQ(p.scale, 0.25);
    } else {
      EXPECT_DOUBLE_EQ(p.scale, 0.5);
    }
  }
  EXPECT_EQ(locon, 50);
  expectDiffusersMerge("kohya", true);
}

TEST(SdLora, LcmLoraLayoutMatchesDiffusers) {
  Models m;
  const caig::SdLoraFile lora = caig::readSdLora(loraFile("lcm"), m.unet, &m.text);
  EXPECT_EQ(lora.unetModules, 278);
  EXPECT_EQ(lora.textModules, 0);
  EXPECT_DOUBLE_EQ(lora.patches.front().scale, 2.0);  // alpha 4 / rank 2
  expectDiffusersMerge("lcm", false);
}

TEST(SdLora, DiffusersFormatWithoutAlphaMatchesDiffusers) {
  Models m;
  const caig::SdLoraFile lora = caig::readSdLora(loraFile("diffusers"), m.unet, &m.text);
  EXPECT_EQ(lora.unetModules, 128);
  EXPECT_EQ(lora.textModules, 12);
  EXPECT_DOUBLE_EQ(lora.patches.front().scale, 1.0);
  expectDiffusersMerge("diffusers", true);
}

// A LoRA of the model's own shapes, written in `layout`, for the keys of tests that need no golden.
void writeLora(const fs::path& file, const std::vector<std::pair<std::string, std::vector<int64_t>>>& modules,
               int64_t rank = 2, const std::string& extraKey = "") {
  caig::io::NamedTensors t;
  for (const auto& [key, shape] : modules) {
    std::vector<int64_t> down = {rank, shape[1]}, up = {shape[0], rank};
    if (shape.size() == 4) {
      down.insert(down.end(), {shape[2], shape[3]});
      up.insert(up.end(), {1, 1});
    }
    t.emplace_back(key + ".lora_down.weight", at::randn(down));
    t.emplace_back(key + ".lora_up.weight", at::randn(up));
    t.emplace_back(key + ".alpha", at::scalar_tensor(1.0));
  }
  if (!extraKey.empty()) t.emplace_back(extraKey, at::zeros({2, 2}));
  caig::io::saveSafetensors(file, t);
}

TEST(SdLora, ThePipelineSwapsLorasAndUndoesThemBitForBit) {
  caig::SdLoadOptions o;
  o.controlnetDir = kModel.parent_path() / "tiny-controlnet-ldm.safetensors";
  o.singleFileHints = tinyHints();
  auto pipe = caig::SdInpaintPipeline::load(kModel, o);
  const auto fresh = caig::SdInpaintPipeline::load(kModel, o);
  const auto same = [&](bool expectSame) {
    bool unetSame = true, textSame = true;
    const auto a = pipe.unet().parameters(), b = fresh.unet().parameters();
    for (std::size_t i = 0; i < a.size(); ++i) unetSame = unetSame && a[i].second.equal(b[i].second);
    const auto c = pipe.textEncoder().parameters(), d = fresh.textEncoder().parameters();
    for (std::size_t i = 0; i < c.size(); ++i) textSame = textSame && c[i].second.equal(d[i].second);
    EXPECT_EQ(unetSame, expectSame);
    EXPECT_EQ(textSame, expectSame);
  };
  const auto& io = golden();
  const auto eps = [&] {
    return pipe.unet().forward(io.tensor("sample"), io.tensor("timesteps"), io.tensor("encoder_hidden_states"));
  };
  pipe.setLoras({{loraFile("kohya"), 0.8}});
  same(false);
  EXPECT_LE(maxAbsErr(eps(), io.tensor("unet_out_kohya_s0p8")), 1e-4);
  // Two at once: their changes add up (kohya at 1.0 and the diffusers file at 0.8, in one set).
  const auto& applied = pipe.setLoras({{loraFile("kohya"), 1.0}, {loraFile("diffusers"), 0.8}});
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[1].unetModules, 128);
  const at::Tensor both = eps();
  EXPECT_GT(maxAbsErr(both, io.tensor("unet_out_kohya_s1p0")), 1e-3);
  // Switching to another set is a fresh load with it; no LoRA is the fresh model, bit for bit.
  pipe.setLoras({{loraFile("lcm"), 1.0}});
  EXPECT_LE(maxAbsErr(eps(), io.tensor("unet_out_lcm_s1p0")), 1e-4);
  pipe.setLoras({});
  same(true);
  EXPECT_TRUE(pipe.loras().empty());
  // A file that fails leaves the set as it was.
  pipe.setLoras({{loraFile("diffusers"), 1.0}});
  caig::test::TempDir tmp;
  writeLora(tmp / "bad.safetensors", {{"lora_unet_conv_in", {99, 4, 3, 3}}});
  EXPECT_NE(errorOf([&] {
              pipe.setLoras({{loraFile("kohya"), 1.0}, {tmp / "bad.safetensors", 1.0}});
            })
                .find("bad.safetensors: lora_unet_conv_in: the LoRA makes a [99, 4, 3, 3] change but the model's "
                      "conv_in.weight is [4, 4, 3, 3]"),
            std::string::npos);
  ASSERT_EQ(pipe.loras().size(), 1u);
  EXPECT_LE(maxAbsErr(eps(), io.tensor("unet_out_diffusers_s1p0")), 1e-4);
  pipe.setLoras({});
  same(true);
}

TEST(SdLora, LdmStyleKohyaNamesReachTheSameWeights) {
  Models m;
  const auto& c = m.unet.config();
  const std::string diffusers = "down_blocks.1.attentions.0.proj_in.weight";
  const std::string ldm = caig::ldmUnetKey(diffusers, c);  // input_blocks.4.1.proj_in.weight
  EXPECT_EQ(ldm, "input_blocks.4.1.proj_in.weight");
  caig::test::TempDir tmp;
  writeLora(tmp / "ldm.safetensors", {{"lora_unet_input_blocks_4_1_proj_in", {8, 8, 1, 1}}});
  const auto lora = caig::readSdLora(tmp / "ldm.safetensors", m.unet, &m.text);
  ASSERT_EQ(lora.patches.size(), 1u);
  EXPECT_EQ(lora.patches[0].param, diffusers);
}

TEST(SdLora, WhatCannotBeMergedIsNamed) {
  Models m;
  caig::test::TempDir tmp;
  const auto read = [&](const fs::path& f) { return errorOf([&] { caig::readSdLora(f, m.unet, &m.text); }); };
  // Keys that match nothing: counted for a warning, the rest merged.
  writeLora(
      tmp / "extra.safetensors",
      {{"lora_unet_conv_in", {4, 4, 3, 3}}, {"lora_unet_no_such_block_proj", {4, 4}}, {"lora_te_nowhere", {4, 4}}});
  const auto partial = caig::readSdLora(tmp / "extra.safetensors", m.unet, &m.text);
  EXPECT_EQ(partial.unetModules, 1);
  EXPECT_EQ(partial.unmatched, (std::vector<std::string>{"lora_te_nowhere", "lora_unet_no_such_block_proj"}));
  // Nothing matches: another architecture's LoRA.
  writeLora(tmp / "other.safetensors", {{"lora_unet_no_such_block_proj", {4, 4}}});
  EXPECT_NE(read(tmp / "other.safetensors").find("other.safetensors: none of its 1 LoRA modules matches"),
            std::string::npos);
  // SD2's 1024-wide text encoder: a shape mismatch named with the key.
  writeLora(tmp / "sd2.safetensors", {{"lora_te_text_model_encoder_layers_0_self_attn_q_proj", {1024, 1024}}});
  EXPECT_NE(read(tmp / "sd2.safetensors")
                .find("lora_te_text_model_encoder_layers_0_self_attn_q_proj: the LoRA makes "
                      "a [1024, 1024] change but the model's "
                      "text_model.encoder.layers.0.self_attn.q_proj.weight is [4, 4]"),
            std::string::npos);
  writeLora(tmp / "sdxl.safetensors", {{"lora_te1_text_model_encoder_layers_0_self_attn_q_proj", {4, 4}}});
  EXPECT_NE(read(tmp / "sdxl.safetensors").find("an SDXL LoRA"), std::string::npos);
  writeLora(tmp / "loha.safetensors", {}, 2, "lora_unet_conv_in.hada_w1_a");
  EXPECT_NE(read(tmp / "loha.safetensors").find("a LoHa"), std::string::npos);
  writeLora(tmp / "lokr.safetensors", {}, 2, "lora_unet_conv_in.lokr_w1");
  EXPECT_NE(read(tmp / "lokr.safetensors").find("a LoKr"), std::string::npos);
  writeLora(tmp / "none.safetensors", {}, 2, "conv_in.weight");
  EXPECT_NE(read(tmp / "none.safetensors").find("not a LoRA file"), std::string::npos);
  // A half factor pair, and a truncated file.
  caig::io::saveSafetensors(tmp / "half.safetensors",
                            {{"lora_unet_conv_in.lora_down.weight", at::zeros({2, 4, 3, 3})}});
  EXPECT_NE(read(tmp / "half.safetensors").find("lora_unet_conv_in has a down factor but no up factor"),
            std::string::npos);
  const std::string bytes = caig::test::readFile(loraFile("kohya"));
  caig::test::writeFile(tmp / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(read(tmp / "cut.safetensors").find("cut.safetensors"), std::string::npos);
}

}  // namespace
