#pragma once
// The tiny test models the suites assemble from tests/data, in one place. Torch-free (the GUI
// tests include it).

#include <filesystem>
#include <initializer_list>

namespace caig::test {

// tests/data/tiny-llava-rm completed into a reward-model folder as the CLI tests do: the LLaVA
// weights of tiny-llava-hf as the index's second shard beside the score-head shard, and with
// `withTokenizer` the SentencePiece tokenizer of tiny-llava-tok. Returns `dir`.
inline std::filesystem::path assembleTinyRewardModel(const std::filesystem::path& data, const std::filesystem::path& dir,
                                                     bool withTokenizer = false) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  fs::copy_file(data / "tiny-llava-hf" / "config.json", dir / "config.json");
  fs::copy_file(data / "tiny-llava-hf" / "model.safetensors", dir / "language-and-vision.safetensors");
  for (const char* f : {"score-head.safetensors", "model.safetensors.index.json"}) {
    fs::copy_file(data / "tiny-llava-rm" / f, dir / f);
  }
  if (withTokenizer) {
    for (const char* f : {"tokenizer.model", "added_tokens.json", "tokenizer_config.json"}) {
      fs::copy_file(data / "tiny-llava-tok" / f, dir / f);
    }
  }
  return dir;
}

}  // namespace caig::test
