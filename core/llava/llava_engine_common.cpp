#include "core/llava/llava_engine_common.h"

#include <ATen/Context.h>

#include <stdexcept>

#include "core/model_files/hf_cache.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "models/device_info.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig {

LlavaRuntime resolveLlavaRuntime(const std::string& device, const std::string& dtype) {
  LlavaRuntime rt;
  if (device == "auto") {
    rt.device = at::hasCUDA() ? c10::Device("cuda") : c10::Device("cpu");
  } else {
    try {
      rt.device = c10::Device(device);
    } catch (const std::exception&) {
      throw std::invalid_argument("unknown device '" + device + "' (use auto, cpu, cuda or cuda:N)");
    }
    if (rt.device.is_cuda() && !at::hasCUDA()) {
      throw std::invalid_argument("device '" + device + "' asked for, but this build or machine has no CUDA");
    }
  }
  if (dtype == "auto") {
    rt.dtype = rt.device.is_cuda() ? c10::kHalf : c10::kFloat;
  } else if (dtype == "fp32" || dtype == "float32") {
    rt.dtype = c10::kFloat;
  } else if (dtype == "fp16" || dtype == "float16") {
    rt.dtype = c10::kHalf;
  } else if (dtype == "bf16" || dtype == "bfloat16") {
    rt.dtype = c10::kBFloat16;
  } else if (dtype == "int8") {
    rt.dtype = rt.device.is_cuda() ? c10::kHalf : c10::kBFloat16;
    rt.int8Weights = true;
  } else {
    throw std::invalid_argument("unknown dtype '" + dtype + "' (use auto, fp32, fp16, bf16 or int8)");
  }
  return rt;
}

std::string autoCpuLlavaDtype(std::uint64_t parameters, std::uint64_t memoryBytes) {
  // 70 %: room for the activations, the other model of a job and the rest of the desktop.
  const double budget = 0.7 * static_cast<double>(memoryBytes);
  if (4.0 * static_cast<double>(parameters) <= budget) return "fp32";
  if (2.0 * static_cast<double>(parameters) <= budget) return "bf16";
  return "int8";
}

LlavaRuntime resolveLlavaRuntime(const std::string& device, const std::string& dtype,
                                 const std::filesystem::path& modelDir) {
  LlavaRuntime rt = resolveLlavaRuntime(device, dtype);
  if (dtype != "auto" || rt.device.is_cuda()) return rt;
  std::uint64_t parameters = 0;
  try {
    const auto checkpoint = io::Checkpoint::open(modelDir);
    for (const auto& name : checkpoint.names()) parameters += static_cast<std::uint64_t>(checkpoint.info(name).numel());
  } catch (const std::exception&) {
    return rt;  // the load itself will say what is wrong with the folder
  }
  const std::uint64_t memory = physicalMemoryBytes();
  if (memory == 0) return rt;
  return resolveLlavaRuntime(device, autoCpuLlavaDtype(parameters, memory));
}

void checkTokenizerFitsModel(const TextTokenizer& tokenizer, std::int64_t modelVocab,
                             std::int64_t imageTokenIndex, const std::filesystem::path& modelDir) {
  auto fail = [&](const std::string& what) {
    throw io::FormatError(modelDir.string() + ": the tokenizer (" + tokenizer.modelFile().string() +
                          ") does not match the model: " + what);
  };
  if (tokenizer.pieceCount() > modelVocab) {
    fail(std::to_string(tokenizer.pieceCount()) + " pieces for a vocabulary of " + std::to_string(modelVocab));
  }
  for (const auto& t : tokenizer.addedTokens()) {
    if (t.id >= modelVocab && t.id != imageTokenIndex) {
      fail("added token '" + t.content + "' = " + std::to_string(t.id) + " is past the vocabulary of " +
           std::to_string(modelVocab));
    }
  }
  if (const auto image = tokenizer.tokenId("<image>"); image && *image != imageTokenIndex) {
    fail("'<image>' is " + std::to_string(*image) + " in the tokenizer but the model's image_token_index is " +
         std::to_string(imageTokenIndex));
  }
}

std::filesystem::path llavaVisionTowerFor(const std::filesystem::path& modelDir, const std::filesystem::path& given) {
  namespace fs = std::filesystem;
  if (!given.empty()) return given;
  std::error_code ec;
  if (!fs::is_regular_file(modelDir / "config.json", ec)) return {};
  std::string name;
  try {
    const auto config = io::readJsonFile(modelDir / "config.json");
    for (const char* key : {"mm_vision_tower", "vision_tower"})
      if (config.contains(key) && config.at(key).is_string()) {
        name = config.at(key).get<std::string>();
        break;
      }
  } catch (const std::exception&) {
    return {};  // the loader reports the config itself
  }
  if (!hf::validRepoId(name)) return {};
  if (fs::is_directory(modelDir / fs::path(name).filename(), ec) || fs::is_directory(modelDir / "vision_tower", ec))
    return {};
  try {
    const fs::path found = ModelRegistry().resolveReference(name);
    return fs::is_directory(found, ec) ? found : fs::path();
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace caig
