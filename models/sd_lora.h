#pragma once
// LoRA files for Stable Diffusion 1.x, merged into the UNet's and the text encoder's weights in
// place (W += weight * alpha / rank * up @ down), as diffusers' fuse_lora and A1111 do. The key
// layouts users have are settled here and nowhere else:
//   kohya-ss / A1111 (and LCM-LoRA): lora_unet_<module, '.' -> '_'> / lora_te_<module> with
//     .lora_down.weight, .lora_up.weight and .alpha; the UNet module named the diffusers way
//     (down_blocks_0_attentions_0_proj_in) or the LDM way (input_blocks_1_1_proj_in); LoCon:
//     a kxk down (conv2d [r, in, k, k]) with a 1x1 up.
//   diffusers / PEFT: unet.<module>.lora.down.weight, text_encoder.<module>.lora_linear_layer.
//     up.weight, <module>.lora_A.weight / .lora_B.weight (prefixes unet., text_encoder.,
//     base_model.model.); no alpha means alpha = rank (scale 1).
// LyCORIS LoHa / LoKr / DoRA and full-weight diffs are refused by name. Keys that match no module
// are counted (a warning for the caller), not an error, unless nothing at all matches.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace caig {

class UNet2DConditionModel;
class ClipTextModel;

struct SdLoraChoice {
  std::filesystem::path file;
  double weight = 1.0;  // A1111's <lora:name:weight>, diffusers' fuse_lora(lora_scale)
};

// One weight a LoRA changes: delta = scale * mm(up.flatten(1), down.flatten(1)) in the weight's
// shape, scale = alpha / rank.
struct SdLoraPatch {
  bool textEncoder = false;
  std::string param;  // the native (diffusers) parameter name, "down_blocks.0....to_q.weight"
  std::string key;    // the file's module key, for messages
  at::Tensor up, down;
  double scale = 1.0;
};

struct SdLoraFile {
  std::filesystem::path file;
  std::vector<SdLoraPatch> patches;
  int64_t unetModules = 0, textModules = 0;
  // Module keys of the file that match nothing in this model (a text encoder part when the model
  // has none counts too): the caller warns with their number.
  std::vector<std::string> unmatched;
};

// Reads `file` and matches it against these networks (text: may be null), checking every shape,
// without changing a weight. Throws io::FileError / io::FormatError naming the file and the key:
// malformed factors, a shape of another architecture, a LyCORIS kind it cannot merge, or a file
// none of whose keys match (an SDXL or SD2 LoRA).
SdLoraFile readSdLora(const std::filesystem::path& file, const UNet2DConditionModel& unet, const ClipTextModel* text);

// W += weight * patch.scale * delta for every patch, in the weights' own dtype and device (the
// delta is formed in fp32). Undo by reloading the patched parameters from the model's files.
void mergeSdLora(const SdLoraFile& lora, double weight, UNet2DConditionModel& unet, ClipTextModel* text);

}  // namespace caig
