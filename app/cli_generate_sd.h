#pragma once
// caig generate --engine sd15: the Stable Diffusion 1.5 + ControlNet canny inpainting engine on
// the command line (app/cli_generate_sd.cpp). cli_main.cpp adds the options and calls this.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace caig::cli {

struct SdCliOptions {
  std::filesystem::path model;       // --model: diffusers SD1.5 folder
  std::filesystem::path controlnet;  // --controlnet: ControlNet folder (default: model/controlnet)
  std::string sampler = "euler_a";
  int steps = 30;
  double cfg = 7.5;
  double controlnetScale = 1.0;
  int clipSkip = 1;
  std::vector<std::string> prompts;  // --prompt (repeatable); none = the template planner
  std::string negative;              // --negative; empty = the default for ads
  std::string seedMode = "increment";
  int workingSize = 512;
  std::string device = "auto";
  std::string precision = "auto";
  std::filesystem::path out;  // --out: write PNG + JSON files there instead of a project
  // --mask (+ --control, --latents): the plain inpainting job on the given image, no composition.
  std::filesystem::path mask, control, latents;
};

// The arguments `caig generate` has for every engine.
struct GenerateCommon {
  std::filesystem::path image;
  std::int64_t productId = 0;
  std::filesystem::path project;
  bool projectGiven = false;
  std::string title, category;
  int variants = 4;
  std::string preset;
  std::uint64_t seed = 1;
};

// --model --controlnet --sampler --steps --cfg --control-scale --prompt --negative --seed-mode
// --working-size --device --precision --out --mask --control --latents
void addSdGenerateOptions(CLI::App* generate, SdCliOptions& o);

// Returns the exit status: 0, or 1 with a message on stderr (missing / invalid model folder,
// bad image, bad options).
int runSdGenerate(const SdCliOptions& o, const GenerateCommon& a);

}  // namespace caig::cli
