#include "models/io/sd_file_kind.h"

namespace caig::io {

namespace {

bool startsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

SdFileKind classifySdFile(const std::vector<std::string>& names) {
  bool sdxl = false, sd2 = false, lora = false, controlnet = false, unet = false;
  for (const auto& name : names) {
    sdxl |= startsWith(name, "conditioner.embedders.");
    sd2 |= startsWith(name, "cond_stage_model.model.");
    lora |= startsWith(name, "lora_unet_") || startsWith(name, "lora_te_") ||
            name.find(".lora_down.") != std::string::npos || name.find(".lora_A.") != std::string::npos;
    controlnet |= startsWith(name, "control_model.") || startsWith(name, "input_hint_block.");
    unet |= name == kLdmUnetConvIn;
  }
  if (sdxl) return SdFileKind::Sdxl;
  if (sd2) return SdFileKind::Sd2;
  if (lora) return SdFileKind::Lora;
  if (controlnet) return SdFileKind::ControlNet;
  return unet ? SdFileKind::Sd1Checkpoint : SdFileKind::Other;
}

std::string sdFileRefusal(SdFileKind kind) {
  switch (kind) {
    case SdFileKind::Sd1Checkpoint: return {};
    case SdFileKind::ControlNet:
      return "a ControlNet file, not a Stable Diffusion checkpoint (give it as the ControlNet)";
    case SdFileKind::Sdxl: return "an SDXL checkpoint (conditioner.embedders.*): only SD1.x is supported";
    case SdFileKind::Sd2:
      return "an SD2.x checkpoint (OpenCLIP text encoder, cond_stage_model.model.*): only SD1.x is supported";
    case SdFileKind::Lora: return "a LoRA file (LoRAs are not applied by this build yet)";
    case SdFileKind::Other: break;
  }
  return std::string("no Stable Diffusion UNet in it (no ") + kLdmUnetConvIn + ")";
}

}  // namespace caig::io
