// TAESD (models/autoencoder_tiny.h) against diffusers 0.27.2's AutoencoderTiny on the tiny
// fixture (tests/data/taesd, copied from ../shared/fixtures/tiny-taesd + taesd): decode, encode and
// the uint8 latent scaling; madebyollin's original single files (written here from the same
// weights under their Sequential indices) give the same numbers; the pipeline's TAESD previews and
// fast final decode, and a VAE file replacing a checkpoint's own; what is broken is named.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/autoencoder_kl.h"
#include "models/autoencoder_tiny.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/safetensors.h"
#include "models/io/sd_file_kind.h"
#include "models/sd_inpaint_pipeline.h"
#include "models/sd_single_file.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using caig::AutoencoderTiny;
using caig::test::errorOf;

const fs::path kData = CAIG_TEST_DATA;
const fs::path kTaesd = kData / "taesd" / "tiny-taesd";
const fs::path kSingle = kData / "single_file_sd15";

double maxAbsErr(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

const caig::io::Checkpoint& golden() {
  static const auto io = caig::io::Checkpoint::open(kData / "taesd" / "io.safetensors");
  return io;
}

std::vector<std::string> namesOf(const fs::path& file) {
  return caig::io::Checkpoint::open(file).names();
}

// madebyollin's taesd_decoder / taesd_encoder.safetensors from the diffusers weights: the
// Sequential's indices (the decoder's shifted by its leading clamp), no prefix.
void writeOriginalFiles(const fs::path& dir, bool withEncoder = true) {
  const auto ck = caig::io::Checkpoint::open(kTaesd / "diffusion_pytorch_model.safetensors");
  caig::io::NamedTensors enc, dec;
  for (const auto& name : ck.names()) {
    const bool decoder = name.rfind("decoder.layers.", 0) == 0;
    const std::string rest = name.substr(std::string(decoder ? "decoder.layers." : "encoder.layers.").size());
    const auto dot = rest.find('.');
    const std::string key = std::to_string(std::stoi(rest.substr(0, dot)) + (decoder ? 1 : 0)) + rest.substr(dot);
    (decoder ? dec : enc).emplace_back(key, ck.tensor(name));
  }
  caig::io::saveSafetensors(dir / "taesd_decoder.safetensors", dec);
  if (withEncoder) caig::io::saveSafetensors(dir / "taesd_encoder.safetensors", enc);
}

TEST(Taesd, TheDiffusersFolderMatchesAutoencoderTiny) {
  const auto& io = golden();
  const AutoencoderTiny taesd = AutoencoderTiny::load(kTaesd);
  ASSERT_TRUE(taesd.hasEncoder() && taesd.hasDecoder());
  EXPECT_DOUBLE_EQ(taesd.config().scalingFactor, 1.0);
  const double dec = maxAbsErr(taesd.decode(io.tensor("latent")), io.tensor("decoded"));
  const double enc = maxAbsErr(taesd.encode(io.tensor("image")), io.tensor("latents"));
  const double scaled = maxAbsErr(taesd.scaleLatents(io.tensor("latents")), io.tensor("scaled_latents"));
  const double unscaled = maxAbsErr(taesd.unscaleLatents(io.tensor("scaled_latents")), io.tensor("unscaled"));
  std::cout << "taesd max abs err: decode " << dec << " encode " << enc << " scale " << scaled << " unscale "
            << unscaled << "\n";
  EXPECT_LE(dec, 1e-4);
  EXPECT_LE(enc, 1e-4);
  EXPECT_LE(scaled, 1e-4);
  EXPECT_LE(unscaled, 1e-4);
  EXPECT_THROW(taesd.decode(at::zeros({1, 3, 8, 8})), std::invalid_argument);
  EXPECT_THROW(taesd.encode(at::zeros({1, 3, 12, 16})), std::invalid_argument);
}

TEST(Taesd, TheOriginalSingleFilesGiveTheSameNumbers) {
  caig::test::TempDir tmp;
  writeOriginalFiles(tmp.path());
  EXPECT_EQ(caig::io::taesdFileParts(namesOf(tmp / "taesd_decoder.safetensors")), caig::io::TaesdParts::Decoder);
  EXPECT_EQ(caig::io::taesdFileParts(namesOf(tmp / "taesd_encoder.safetensors")), caig::io::TaesdParts::Encoder);
  EXPECT_EQ(caig::io::taesdFileParts(namesOf(kTaesd / "diffusion_pytorch_model.safetensors")),
            caig::io::TaesdParts::Both);
  EXPECT_EQ(caig::io::classifySdFile(namesOf(tmp / "taesd_decoder.safetensors")), caig::io::SdFileKind::Taesd);
  const auto& io = golden();
  const AutoencoderTiny folder = AutoencoderTiny::load(kTaesd);
  for (const fs::path& path : {tmp.path(), tmp / "taesd_decoder.safetensors"}) {  // the folder, or the file
    const AutoencoderTiny file = AutoencoderTiny::load(path);
    ASSERT_TRUE(file.hasEncoder()) << path;  // found beside the decoder
    EXPECT_EQ(file.config().decoderBlockOutChannels, (std::vector<int64_t>{8, 8, 8, 8}));
    EXPECT_TRUE(at::equal(file.decode(io.tensor("latent")), folder.decode(io.tensor("latent"))));
    EXPECT_TRUE(at::equal(file.encode(io.tensor("image")), folder.encode(io.tensor("image"))));
  }
  // The decoder alone (ComfyUI's models/vae_approx keeps just that): previews work, encode is refused.
  caig::test::TempDir only;
  writeOriginalFiles(only.path(), false);
  const AutoencoderTiny decoder = AutoencoderTiny::load(only / "taesd_decoder.safetensors");
  EXPECT_FALSE(decoder.hasEncoder());
  EXPECT_LE(maxAbsErr(decoder.decode(io.tensor("latent")), io.tensor("decoded")), 1e-4);
  EXPECT_NE(errorOf([&] { decoder.encode(io.tensor("image")); }).find("without its encoder"), std::string::npos);
}

TEST(Taesd, BrokenFilesAreNamed) {
  caig::test::TempDir tmp;
  writeOriginalFiles(tmp.path(), false);
  const fs::path file = tmp / "taesd_decoder.safetensors";
  // Truncated half way: the file is named.
  caig::test::TempDir cut;
  fs::copy_file(file, cut / "taesd_decoder.safetensors");
  fs::resize_file(cut / "taesd_decoder.safetensors", fs::file_size(file) / 2);
  std::string e = errorOf([&] { AutoencoderTiny::load(cut / "taesd_decoder.safetensors"); });
  EXPECT_NE(e.find("taesd_decoder.safetensors"), std::string::npos) << e;
  // A layer missing: the file and the key.
  caig::io::NamedTensors tensors;
  const auto ck = caig::io::Checkpoint::open(file);
  for (const auto& n : ck.names())
    if (n != "8.conv.2.weight") tensors.emplace_back(n, ck.tensor(n));
  caig::test::TempDir gap;
  caig::io::saveSafetensors(gap / "taesd_decoder.safetensors", tensors);
  e = errorOf([&] { AutoencoderTiny::load(gap / "taesd_decoder.safetensors"); });
  EXPECT_NE(e.find("taesd_decoder.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("8.conv.2.weight"), std::string::npos) << e;
  // Not TAESD at all (a checkpoint), and no decoder in a folder.
  e = errorOf([&] { AutoencoderTiny::load(kSingle / "tiny-sd15.safetensors"); });
  EXPECT_NE(e.find("not a TAESD decoder"), std::string::npos) << e;
  caig::test::TempDir empty;
  EXPECT_NE(errorOf([&] { AutoencoderTiny::load(empty.path()); }).find("no TAESD decoder"), std::string::npos);
}

caig::SdSingleFileHints tinyHints() {
  caig::SdSingleFileHints h = caig::readLdmYamlHints(kSingle / "tiny-sd15.yaml");
  h.clipHeads = 2;
  return h;
}

caig::SdInpaintJob smallJob(const caig::SdInpaintPipeline& pipe) {
  caig::SdInpaintJob j;
  j.image = at::rand({1, 3, 64, 64}, at::TensorOptions().dtype(at::kFloat));
  j.mask = at::zeros({1, 1, 64, 64});
  j.mask.narrow(2, 0, 32).fill_(1.0);
  j.control = at::rand({1, 3, 64, 64});
  j.promptEmbeds = pipe.encodePrompt(at::full({1, 77}, 49407, at::kLong));
  j.negativeEmbeds = j.promptEmbeds.clone();
  j.steps = 2;
  j.seed = 7;
  j.keepStepLatents = true;
  return j;
}

TEST(Taesd, ThePipelinePreviewsAndFastDecodesWithIt) {
  caig::SdLoadOptions o;
  o.controlnetDir = kSingle / "tiny-controlnet";
  o.singleFileHints = tinyHints();
  o.taesdPath = kTaesd;
  const auto pipe = caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o);
  ASSERT_TRUE(pipe.hasTaesd());
  at::manual_seed(3);
  caig::SdInpaintJob j = smallJob(pipe);
  const caig::SdInpaintResult vae = pipe.run(j);
  j.fastDecode = true;
  const caig::SdInpaintResult fast = pipe.run(j);
  ASSERT_EQ(fast.stepLatents.size(), 2u);
  EXPECT_TRUE(at::equal(vae.stepLatents.back(), fast.stepLatents.back()));  // the same denoising
  const at::Tensor last = fast.stepLatents.back();
  // The fast image is TAESD's decode of the final latents (TAESD itself checked above)...
  const AutoencoderTiny taesd = AutoencoderTiny::load(kTaesd);
  const at::Tensor expected = (taesd.decode(last) / 2.0 + 0.5).clamp(0.0, 1.0).permute({0, 2, 3, 1});
  EXPECT_LE(maxAbsErr(fast.image, expected), 1e-6);
  EXPECT_GT(maxAbsErr(fast.image, vae.image), 1e-3);  // ...not the VAE's
  // The preview: the same decode at full size, in [0, 1].
  const at::Tensor preview = pipe.taesdPreview(last);
  EXPECT_EQ(preview.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
  EXPECT_LE(maxAbsErr(preview.permute({0, 2, 3, 1}), expected), 1e-6);
  // The fast encode: the kept region's latents are TAESD's encode of the image (at the last step
  // the blend keeps them exactly), not the VAE's.
  j.fastEncode = true;
  const caig::SdInpaintResult both = pipe.run(j);
  const at::Tensor keep = 1.0 - at::upsample_nearest2d((j.mask >= 0.5).to(at::kFloat), {8, 8});
  const at::Tensor taesdLatents = taesd.encode(j.image * 2.0 - 1.0);
  EXPECT_LE(maxAbsErr(both.stepLatents.back() * keep, taesdLatents * keep), 1e-6);
  EXPECT_GT(maxAbsErr(both.stepLatents.back() * keep, last * keep), 1e-3);
  j.fastEncode = false;
  // Without TAESD: no fast decode, said up front.
  o.taesdPath.clear();
  const auto plain = caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o);
  EXPECT_FALSE(plain.hasTaesd());
  EXPECT_NE(errorOf([&] { plain.run(j); }).find("fastDecode needs TAESD"), std::string::npos);
  // A decoder-only TAESD: previews and the fast decode, not the fast encode.
  caig::test::TempDir only;
  writeOriginalFiles(only.path(), false);
  EXPECT_FALSE(AutoencoderTiny::hasEncoderAt(only / "taesd_decoder.safetensors"));
  EXPECT_TRUE(AutoencoderTiny::hasEncoderAt(kTaesd));
  o.taesdPath = only / "taesd_decoder.safetensors";
  const auto decoderOnly = caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o);
  j.fastEncode = true;
  EXPECT_NE(errorOf([&] { decoderOnly.run(j); }).find("fastEncode needs TAESD with its encoder"), std::string::npos);
}

TEST(Taesd, ATaesdForOtherLatentsIsRefused) {
  caig::test::TempDir tmp;
  writeOriginalFiles(tmp.path(), false);
  // taesd3 / taef1 read 16 latent channels: the first convolution says so.
  caig::io::NamedTensors tensors;
  const auto ck = caig::io::Checkpoint::open(tmp / "taesd_decoder.safetensors");
  for (const auto& n : ck.names()) tensors.emplace_back(n, n == "1.weight" ? at::zeros({8, 16, 3, 3}) : ck.tensor(n));
  caig::test::TempDir wide;
  caig::io::saveSafetensors(wide / "taesd3_decoder.safetensors", tensors);
  EXPECT_EQ(AutoencoderTiny::load(wide / "taesd3_decoder.safetensors").config().latentChannels, 16);
  caig::SdLoadOptions o;
  o.controlnetDir = kSingle / "tiny-controlnet";
  o.singleFileHints = tinyHints();
  o.taesdPath = wide / "taesd3_decoder.safetensors";
  const std::string e = errorOf([&] { caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o); });
  EXPECT_NE(e.find("16 latent channels"), std::string::npos) << e;
  EXPECT_NE(e.find("taesd3_decoder.safetensors"), std::string::npos) << e;
}

// --vae: a VAE file (diffusers' names without its config, or the LDM names at the top) or folder
// replaces the checkpoint's own.
TEST(SdVaeFile, AVaeFileReplacesTheCheckpointsOwn) {
  const fs::path otherVae = kData / "tiny-sd-controlnet-inpaint" / "vae";  // 32..64 channels, other weights
  const caig::AutoencoderKL folder = caig::AutoencoderKL::load(otherVae);
  const caig::AutoencoderKL file = caig::loadSingleFileVae(otherVae / "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(file.config().blockOutChannels, folder.config().blockOutChannels);
  EXPECT_EQ(caig::io::classifySdFile(namesOf(otherVae / "diffusion_pytorch_model.safetensors")),
            caig::io::SdFileKind::Vae);
  const at::Tensor z = at::randn({1, 4, 4, 4});
  EXPECT_TRUE(at::equal(file.decode(z), folder.decode(z)));

  caig::SdLoadOptions o;
  o.controlnetDir = kSingle / "tiny-controlnet";
  o.singleFileHints = tinyHints();
  const auto own = caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o);
  for (const fs::path& vae : {otherVae, otherVae / "diffusion_pytorch_model.safetensors"}) {
    o.vaePath = vae;
    const auto swapped = caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o);
    EXPECT_TRUE(at::equal(swapped.vae().decode(z), folder.decode(z))) << vae;
    EXPECT_FALSE(at::equal(own.vae().decode(z), folder.decode(z)));
  }
  // The LDM names at the top (vae-ft-mse-840000-ema-pruned.safetensors): the checkpoint's own VAE
  // cut out of it loads as the checkpoint's.
  caig::test::TempDir tmp;
  caig::io::NamedTensors ldm;
  const auto ck = caig::io::Checkpoint::open(kSingle / "tiny-sd15.safetensors");
  for (const auto& n : ck.names())
    if (n.rfind("first_stage_model.", 0) == 0) ldm.emplace_back(n.substr(18), ck.tensor(n));
  caig::io::saveSafetensors(tmp / "vae-ft-tiny.safetensors", ldm);
  EXPECT_EQ(caig::io::classifySdFile(namesOf(tmp / "vae-ft-tiny.safetensors")), caig::io::SdFileKind::Vae);
  caig::SdSingleFileHints groups;
  groups.normNumGroups = 2;
  const caig::AutoencoderKL cut =
      caig::loadSingleFileVae(tmp / "vae-ft-tiny.safetensors", c10::kCPU, c10::kFloat, groups);
  EXPECT_TRUE(at::equal(cut.decode(z), own.vae().decode(z)));
  // A VAE for other latents (here: 16 channels at 1/8) does not fit, and says so.
  caig::test::TempDir bad;
  caig::io::NamedTensors wide;
  const auto vck = caig::io::Checkpoint::open(otherVae / "diffusion_pytorch_model.safetensors");
  for (const auto& n : vck.names()) {
    at::Tensor t = vck.tensor(n);
    if (n == "post_quant_conv.weight")
      t = at::zeros({16, 16, 1, 1});
    else if (n == "post_quant_conv.bias")
      t = at::zeros({16});
    else if (n == "decoder.conv_in.weight")
      t = at::zeros({t.size(0), 16, 3, 3});
    else if (n == "quant_conv.weight")
      t = at::zeros({32, 32, 1, 1});
    else if (n == "quant_conv.bias")
      t = at::zeros({32});
    else if (n == "encoder.conv_out.weight")
      t = at::zeros({32, t.size(1), 3, 3});
    else if (n == "encoder.conv_out.bias")
      t = at::zeros({32});
    wide.emplace_back(n, t);
  }
  caig::io::saveSafetensors(bad / "vae16.safetensors", wide);
  o.vaePath = bad / "vae16.safetensors";
  const std::string e = errorOf([&] { caig::SdInpaintPipeline::load(kSingle / "tiny-sd15.safetensors", o); });
  EXPECT_NE(e.find("vae16.safetensors: a VAE of 16 latent channels"), std::string::npos) << e;
}

}  // namespace
