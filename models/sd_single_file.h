#pragma once
// Single-file Stable Diffusion 1.x checkpoints, the files A1111, ComfyUI and Civitai use: the
// original (LDM) layout, model.diffusion_model.* (UNet), first_stage_model.* or vae.* (VAE) and
// cond_stage_model.transformer.* (CLIP text encoder) in one .safetensors. The naming between that
// layout and diffusers' (which the native models use) is settled here and nowhere else: each
// component gets a WeightNaming (diffusers name -> LDM key) and a config read from the tensors'
// shapes, with SD1.5's values for what shapes cannot tell (32 GroupNorm groups, 8 UNet heads,
// CLIP heads of 64 channels) unless hints say otherwise (an LDM .yaml of the same name beside the
// file, A1111's convention). EMA copies (model_ema.*) and DDPM buffers are ignored. Torch-light.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "models/autoencoder_kl.h"
#include "models/clip_text.h"
#include "models/controlnet.h"
#include "models/nn/load_weights.h"
#include "models/sd_single_file_hints.h"
#include "models/unet2d.h"

namespace caig {

namespace io {
class Checkpoint;
}

// The hints an LDM config .yaml holds: unet_config's num_heads, scale_factor, and
// norm_num_groups (the tiny fixtures' tiny_fixture_norm_num_groups); no LDM yaml names the CLIP
// text encoder's heads (FrozenCLIPEmbedder loads ViT-L/14's), so CAIG reads caig_clip_num_heads
// for text encoders other than SD1.5's. Only these scalar keys are read (a line-based reader, no
// YAML library). Throws io::FileError when the file is unreadable, io::FormatError for a value
// that is not a number.
SdSingleFileHints readLdmYamlHints(const std::filesystem::path& yaml);
// `checkpoint`'s hints: the .yaml of the same stem beside it when there is one, else none.
SdSingleFileHints ldmHintsBeside(const std::filesystem::path& checkpointFile);

// What one file holds; a component's prefix is empty when the file lacks it.
struct SdSingleFile {
  std::string unetPrefix;      // "model.diffusion_model."
  std::string vaePrefix;       // "first_stage_model." or "vae."
  std::string clipPrefix;      // "cond_stage_model.transformer.text_model." or "cond_stage_model.transformer."
  int64_t unetInChannels = 0;  // 4, or 9 for an inpainting checkpoint
  int64_t tensors = 0, emaTensors = 0;
};

// Names the layout. Throws io::FormatError for what it is not: an SDXL checkpoint
// (conditioner.embedders.*), SD2.x (an OpenCLIP text encoder, cond_stage_model.model.*), a
// ControlNet or LoRA file, or no Stable Diffusion UNet at all; `file` names it in messages.
SdSingleFile inspectSdSingleFile(const io::Checkpoint& checkpoint, const std::string& file);

// Configs from the shapes (and hints). Throw io::FormatError naming the key that is missing.
UNet2DConfig ldmUnetConfig(const io::Checkpoint& checkpoint, const SdSingleFile& layout,
                           const SdSingleFileHints& hints = {});
// The VAE's and the text encoder's under `prefix` (a layout's vaePrefix / clipPrefix; "" for a
// VAE file on its own).
AutoencoderKLConfig ldmVaeConfig(const io::Checkpoint& checkpoint, const std::string& prefix,
                                 const SdSingleFileHints& hints = {});
ClipTextConfig ldmClipConfig(const io::Checkpoint& checkpoint, const std::string& prefix,
                             const SdSingleFileHints& hints = {});

// diffusers module name -> LDM key, every key outside the component ignored.
WeightNaming ldmUnetNaming(const UNet2DConfig& config, const std::string& prefix);
WeightNaming ldmVaeNaming(const AutoencoderKLConfig& config, const std::string& prefix);
WeightNaming ldmClipNaming(const std::string& prefix);
// The one mapping, exposed for tests and `caig models inspect`.
std::string ldmUnetKey(const std::string& diffusersName, const UNet2DConfig& config);
std::string ldmVaeKey(const std::string& diffusersName, const AutoencoderKLConfig& config);

// ControlNets in lllyasviel's original layout (control_v11p_sd15_canny.safetensors):
// control_model.{time_embed, input_hint_block, input_blocks, zero_convs, middle_block,
// middle_block_out}.* (the prefix may be absent). ldmControlNetPrefix is "-" for a file that is
// not one.
std::string ldmControlNetPrefix(const io::Checkpoint& checkpoint);
ControlNetConfig ldmControlNetConfig(const io::Checkpoint& checkpoint, const std::string& prefix,
                                     const SdSingleFileHints& hints = {});
std::string ldmControlNetKey(const std::string& diffusersName, const ControlNetConfig& config);
WeightNaming ldmControlNetNaming(const ControlNetConfig& config, const std::string& prefix);

// The components, loaded from `file` (its hints read beside it unless given; the VAE also from a
// VAE file on its own, LDM names at the top). Throw io::FileError / io::FormatError naming the
// file and the keys.
UNet2DConditionModel loadSingleFileUnet(const std::filesystem::path& file, c10::Device device = c10::Device("cpu"),
                                        c10::ScalarType dtype = c10::kFloat,
                                        const std::optional<SdSingleFileHints>& hints = std::nullopt);
AutoencoderKL loadSingleFileVae(const std::filesystem::path& file, c10::Device device = c10::Device("cpu"),
                                c10::ScalarType dtype = c10::kFloat,
                                const std::optional<SdSingleFileHints>& hints = std::nullopt);
ControlNetModel loadSingleFileControlNet(const std::filesystem::path& file, c10::Device device = c10::Device("cpu"),
                                         c10::ScalarType dtype = c10::kFloat,
                                         const std::optional<SdSingleFileHints>& hints = std::nullopt);
ClipTextModel loadSingleFileClip(const std::filesystem::path& file, c10::Device device = c10::Device("cpu"),
                                 const std::optional<SdSingleFileHints>& hints = std::nullopt);

}  // namespace caig
