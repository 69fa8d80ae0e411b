#pragma once
// Shared by the LLaVA prompt writer and the LLaVA reward ranker (.cpp files only: includes c10).

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/model_files/model_registry.h"  // modelFolderName

namespace caig {

class TextTokenizer;

struct LlavaRuntime {
  c10::Device device = c10::Device("cpu");
  c10::ScalarType dtype = c10::kFloat;
  bool int8Weights = false;  // the language model's linear layers as weight-only int8 (LlavaLoadOptions)
};

// device "auto" | "cpu" | "cuda[:N]"; dtype "auto" (fp32 on CPU, fp16 on CUDA) | "fp32" | "fp16" |
// "bf16" | "int8" (weight-only int8 linear layers computing in bf16 on the CPU, fp16 on CUDA:
// inference only). Throws std::invalid_argument for other names, or CUDA asked for without CUDA.
LlavaRuntime resolveLlavaRuntime(const std::string& device, const std::string& dtype);
// For running a model (the prompt writer, the ranker): "auto" on the CPU also looks at the size of
// the model in `modelDir` against the machine's memory (autoCpuLlavaDtype), so a 7B model loads
// in bf16 or int8 where fp32 would not fit, instead of exhausting the memory.
LlavaRuntime resolveLlavaRuntime(const std::string& device, const std::string& dtype,
                                 const std::filesystem::path& modelDir);
// "fp32" when the fp32 weights take at most 70 % of `memoryBytes`, else "bf16" when the bf16
// weights do, else "int8".
std::string autoCpuLlavaDtype(std::uint64_t parameters, std::uint64_t memoryBytes);

// Every id the tokenizer can produce must exist in the model (the image placeholder aside).
// Throws io::FormatError naming the folder.
void checkTokenizerFitsModel(const TextTokenizer& tokenizer, std::int64_t modelVocab,
                             std::int64_t imageTokenIndex, const std::filesystem::path& modelDir);

// The CLIP tower folder to load an original-layout LLaVA with: `given` when set; else, when the
// model's config names its tower by a Hub id ("mm_vision_tower": "openai/clip-vit-large-patch14-336")
// and no folder of that name (nor vision_tower/) sits beside the model, that repository's snapshot
// in the Hugging Face cache (where `caig models install clip-vit-l-336` puts it); else empty (the
// loader looks beside the model and names what it looked for).
std::filesystem::path llavaVisionTowerFor(const std::filesystem::path& modelDir, const std::filesystem::path& given);

}  // namespace caig
