#pragma once
// caig prompts --engine llava and caig rank --model <reward-model folder>: the LLaVA engines on
// the command line (app/cli_llava.cpp). cli_main.cpp adds the options and calls these.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace caig::cli {

struct LlavaCliOptions {
  std::filesystem::path model;         // prompts: --model (rank uses its own --model)
  std::filesystem::path visionTower;
  std::filesystem::path tokenizer;
  std::filesystem::path instructions;
  std::string device = "auto";
  std::string dtype = "auto";
  double temperature = 1.0;
  double topP = 1.0;
  int topK = 0;
  int maxNewTokens = 77;
  double repetitionPenalty = 1.0;
};

// --vision-tower --tokenizer --instructions --device --dtype (prompts and rank).
void addLlavaModelOptions(CLI::App* cmd, LlavaCliOptions& o);
// --model and the sampling options (prompts).
void addLlavaPromptOptions(CLI::App* cmd, LlavaCliOptions& o);

// Writes `count` prompts for the product shot: the text streams to stderr while it is generated,
// then one "[llava: <folder>] prompt" line each goes to stdout (or JSON with `json`). Returns the
// exit status (1 with a message for bad model folders, tokenizers or images).
int runLlavaPrompts(const LlavaCliOptions& o, const std::filesystem::path& image, const std::string& title, int count,
                    std::uint64_t seed, bool json);

// Ranks `images` (the first is the reference) with the reward model in `modelDir`. Returns the
// exit status (1 with a message for a missing or invalid folder).
int runNeuralRank(const LlavaCliOptions& o, const std::filesystem::path& modelDir,
                  const std::vector<std::filesystem::path>& images, const std::string& title,
                  const std::string& category, bool json);

}  // namespace caig::cli
