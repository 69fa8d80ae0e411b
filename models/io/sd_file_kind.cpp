#include "models/io/sd_file_kind.h"

#include <algorithm>

namespace caig::io {

namespace {

bool startsWith(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

TaesdParts taesdFileParts(const std::vector<std::string>& names) {
  bool encoder = false, decoder = false, first = false, decoderFirst = false;
  for (const auto& n : names) {
    const bool diffusers = startsWith(n, "encoder.layers.") || startsWith(n, "decoder.layers.");
    if (!diffusers && (n.empty() || n[0] < '0' || n[0] > '9')) return TaesdParts::None;
    encoder |= startsWith(n, "encoder.layers.");
    decoder |= startsWith(n, "decoder.layers.");
    first |= n == "0.weight";
    decoderFirst |= n == "1.weight";
  }
  if (encoder || decoder)
    return encoder && decoder ? TaesdParts::Both : decoder ? TaesdParts::Decoder : TaesdParts::Encoder;
  if (first) return TaesdParts::Encoder;
  return decoderFirst ? TaesdParts::Decoder : TaesdParts::None;
}

SdFileKind classifySdFile(const std::vector<std::string>& names) {
  bool sdxl = false, sd2 = false, lora = false, controlnet = false, unet = false, vae = false;
  for (const auto& name : names) {
    sdxl |= startsWith(name, "conditioner.embedders.");
    sd2 |= startsWith(name, "cond_stage_model.model.");
    lora |= startsWith(name, "lora_unet_") || startsWith(name, "lora_te_") || startsWith(name, "lora_te1_") ||
            name.find(".lora_down.") != std::string::npos || name.find(".lora_A.") != std::string::npos ||
            name.find(".lora.down.") != std::string::npos || name.find(".lora_linear_layer.") != std::string::npos;
    controlnet |= startsWith(name, "control_model.") || startsWith(name, "input_hint_block.");
    unet |= name == kLdmUnetConvIn;
    vae |= name == "decoder.conv_in.weight" || name == "post_quant_conv.weight";
  }
  if (sdxl) return SdFileKind::Sdxl;
  if (sd2) return SdFileKind::Sd2;
  if (lora) return SdFileKind::Lora;
  if (controlnet) return SdFileKind::ControlNet;
  if (unet) return SdFileKind::Sd1Checkpoint;
  if (vae) return SdFileKind::Vae;
  return taesdFileParts(names) != TaesdParts::None ? SdFileKind::Taesd : SdFileKind::Other;
}

std::string sdFileRefusal(SdFileKind kind) {
  switch (kind) {
    case SdFileKind::Sd1Checkpoint: return {};
    case SdFileKind::ControlNet:
      return "a ControlNet file, not a Stable Diffusion checkpoint (give it as the ControlNet)";
    case SdFileKind::Vae: return "a VAE file, not a Stable Diffusion checkpoint (give it with --vae FILE)";
    case SdFileKind::Taesd:
      return "a TAESD file, not a Stable Diffusion checkpoint (give it with --taesd FILE, for previews and "
             "--vae-decode taesd)";
    case SdFileKind::Sdxl: return "an SDXL checkpoint (conditioner.embedders.*): only SD1.x is supported";
    case SdFileKind::Sd2:
      return "an SD2.x checkpoint (OpenCLIP text encoder, cond_stage_model.model.*): only SD1.x is supported";
    case SdFileKind::Lora:
      return "a LoRA file, not a Stable Diffusion checkpoint (give it with --lora FILE[:WEIGHT] or as "
             "<lora:name:weight> in the prompt)";
    case SdFileKind::Other: break;
  }
  return std::string("no Stable Diffusion UNet in it (no ") + kLdmUnetConvIn + ")";
}

SdLoraSummary summariseSdLora(const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
  SdLoraSummary s;
  for (const auto& [name, shape] : tensors) {
    const bool down = name.find(".lora_down.") != std::string::npos || name.find(".lora.down.") != std::string::npos ||
                      name.find(".lora_linear_layer.down.") != std::string::npos ||
                      name.find(".lora_A.") != std::string::npos;
    if (!down || shape.empty()) continue;
    s.kohya |= name.find(".lora_down.") != std::string::npos;
    const bool text = startsWith(name, "lora_te") || startsWith(name, "text_encoder.");
    (text ? s.textModules : s.unetModules) += 1;
    if (shape.size() == 4 && (shape[2] > 1 || shape[3] > 1)) ++s.loconModules;
    s.minRank = s.minRank == 0 ? shape[0] : std::min(s.minRank, shape[0]);
    s.maxRank = std::max(s.maxRank, shape[0]);
  }
  return s;
}

std::string SdLoraSummary::text() const {
  std::string t = kohya ? "kohya / A1111 " : "diffusers / PEFT ";
  t += loconModules > 0 ? "LoCon" : "LoRA";
  t += ", rank " + std::to_string(minRank) + (maxRank != minRank ? "-" + std::to_string(maxRank) : "");
  t += ", " + std::to_string(unetModules) + " UNet + " + std::to_string(textModules) + " text encoder modules";
  if (loconModules > 0) t += " (" + std::to_string(loconModules) + " convolutions)";
  return t;
}

}  // namespace caig::io
