#pragma once
// What a .safetensors file of the Stable Diffusion world is, from its tensor names alone (the
// header): an SD1.x checkpoint, a ControlNet in lllyasviel's original layout, or a file CAIG
// Studio refuses, with the reason (SDXL, SD2.x, LoRA). One place for these rules: the loader
// (models/sd_single_file.h), the model registry and `caig models inspect` all ask it. Torch-free.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace caig::io {

// Vae: an AutoencoderKL on its own (vae-ft-mse-840000-ema-pruned.safetensors: LDM names at the
// top, or diffusers' names); Taesd: a TAESD decoder or encoder (see taesdFileParts).
enum class SdFileKind { Sd1Checkpoint, ControlNet, Vae, Taesd, Sdxl, Sd2, Lora, Other };

// The UNet's first convolution in an LDM checkpoint: its input channels tell 4 from 9 (inpainting).
inline constexpr const char* kLdmUnetConvIn = "model.diffusion_model.input_blocks.0.0.weight";

SdFileKind classifySdFile(const std::vector<std::string>& tensorNames);

// Which halves of TAESD a file holds: diffusers' AutoencoderTiny names (encoder.layers.*,
// decoder.layers.*), or madebyollin's original Sequentials, taesd_encoder.safetensors ("0.weight",
// a convolution first) and taesd_decoder.safetensors ("1.weight": a parameterless clamp first).
enum class TaesdParts { None, Decoder, Encoder, Both };
TaesdParts taesdFileParts(const std::vector<std::string>& tensorNames);

// Why a file of `kind` is not loaded as an SD1.x checkpoint ("an SDXL checkpoint
// (conditioner.embedders.*): only SD1.x is supported"); empty for Sd1Checkpoint.
std::string sdFileRefusal(SdFileKind kind);

// A LoRA file in a few words, from its header: "kohya / A1111 LoCon, rank 2-3, 278 UNet + 18 text
// encoder modules" (models/sd_lora.h reads and merges it).
struct SdLoraSummary {
  bool kohya = false;  // lora_down / lora_up keys (kohya, A1111, LCM-LoRA); else diffusers / PEFT
  int64_t unetModules = 0, textModules = 0;
  int64_t loconModules = 0;  // kxk convolution down factors (LoCon)
  int64_t minRank = 0, maxRank = 0;
  std::string text() const;
};
SdLoraSummary summariseSdLora(const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors);

}  // namespace caig::io
