#pragma once
// A one-file tiny reward model for the LLaVA ranker and training tests: tiny-llava-hf's weights
// plus the llava fixture's stand-in head (rm_head_weight / rm_head_bias, what its reference
// scores were computed with) as score.weight / score.bias. No tokenizer: the tests name
// tests/data/tiny-llava-tok, or leave it out on purpose.

#include <filesystem>

#include "models/io/checkpoint.h"
#include "models/io/safetensors.h"

namespace caig::test {

inline std::filesystem::path writeTinyRewardModelFile(const std::filesystem::path& data,
                                                      const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(data / "tiny-llava-hf" / "config.json", dir / "config.json");
  const auto ckpt = caig::io::Checkpoint::open(data / "tiny-llava-hf");
  caig::io::NamedTensors tensors;
  for (const auto& name : ckpt.names()) tensors.emplace_back(name, ckpt.tensor(name).clone());
  const auto io = caig::io::SafetensorsFile::open(data / "llava" / "io.safetensors");
  tensors.emplace_back("score.weight", io.tensor("rm_head_weight").clone());
  tensors.emplace_back("score.bias", io.tensor("rm_head_bias").clone());
  caig::io::saveSafetensors(dir / "model.safetensors", tensors);
  return dir;
}

}  // namespace caig::test
