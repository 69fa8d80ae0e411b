#pragma once
// What a single-file SD checkpoint's shapes cannot say (see models/sd_single_file.h), in a header
// of its own so that the pipeline's load options can carry it without the models' headers.

#include <cstdint>
#include <optional>

namespace caig {

struct SdSingleFileHints {
  std::optional<int64_t> normNumGroups;  // UNet and VAE GroupNorm groups (LDM: 32)
  std::optional<int64_t> unetHeads;      // attention heads per UNet block (SD1.5: 8)
  std::optional<int64_t> clipHeads;      // CLIP text heads (SD1.5: hidden / 64 = 12)
  std::optional<double> scalingFactor;   // the VAE's latent scale (SD1.5: 0.18215)
};

}  // namespace caig
