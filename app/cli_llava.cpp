#include "app/cli_llava.h"
#include "app/cli_ranking.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/imgproc.hpp>

#include "core/base/user_message.h"
#include "core/image/image_io.h"
#include "core/llava/llava_prompt_writer.h"
#include "core/llava/neural_ranker.h"

namespace fs = std::filesystem;

namespace caig::cli {

namespace {

caig::LlavaEngineOptions engineOptions(const LlavaCliOptions& o, const fs::path& modelDir) {
  caig::LlavaEngineOptions e;
  e.modelDir = modelDir;
  e.visionTowerDir = o.visionTower;
  e.tokenizerDir = o.tokenizer;
  e.instructionsFile = o.instructions;
  e.device = o.device;
  e.dtype = o.dtype;
  return e;
}

void checkModelFolder(const fs::path& dir, const char* what) {
  std::error_code ec;
  if (dir.empty()) throw std::runtime_error(std::string("give the ") + what + " folder with --model DIR");
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir.string() + ": no such " + what + " folder");
  if (!fs::is_regular_file(dir / "config.json", ec)) {
    throw std::runtime_error(dir.string() + ": not a " + what + " folder (no config.json)");
  }
}

// Transparent areas shown over white, as in a feed (the same as the built-in ranker's input).
cv::Mat flattenOnWhite(cv::Mat image) {
  if (image.channels() != 4) return image;
  cv::Mat bgr(image.size(), CV_8UC3, cv::Scalar::all(255)), alpha;
  cv::extractChannel(image, alpha, 3);
  cv::cvtColor(image, image, cv::COLOR_BGRA2BGR);
  image.copyTo(bgr, alpha > 127);
  return bgr;
}

}  // namespace

void addLlavaModelOptions(CLI::App* cmd, LlavaCliOptions& o) {
  cmd->add_option("--vision-tower", o.visionTower, "CLIP vision folder for original-layout LLaVA checkpoints");
  cmd->add_option("--tokenizer", o.tokenizer, "Folder with tokenizer.model (default: the model folder)");
  cmd->add_option("--instructions", o.instructions,
                  "Instruction phrasings / reward question JSON (default: resources/prompts/llava_instructions.json)");
  cmd->add_option("--device", o.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", o.dtype,
                  "auto (fp16 on CUDA; fp32 on CPU, or bf16 / int8 when fp32 would not fit the memory), fp32, fp16, "
                  "bf16 or int8 (weight-only int8 linear layers, bf16 compute on CPU)")
      ->capture_default_str();
}

void addLlavaPromptOptions(CLI::App* cmd, LlavaCliOptions& o) {
  cmd->add_option("--model", o.model, "LLaVA model folder (--engine llava)");
  cmd->add_option("--temperature", o.temperature, "Sampling temperature (llava; 0 = greedy)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--top-p", o.topP, "Nucleus sampling (llava)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", o.topK, "Top-k sampling, 0 = off (llava)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-new-tokens", o.maxNewTokens, "Token budget per prompt (llava)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--repetition-penalty", o.repetitionPenalty, "Repetition penalty, 1 = off (llava)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 10.0));
  addLlavaModelOptions(cmd, o);
}

int runLlavaPrompts(const LlavaCliOptions& o, const fs::path& image, const std::string& title, int count,
                    std::uint64_t seed, bool json) {
  try {
    checkModelFolder(o.model, "LLaVA model");
    caig::PromptRequest request;
    request.productImage = caig::loadImage(image);
    request.title = title;
    request.count = count;
    request.seed = seed;
    const auto t0 = std::chrono::steady_clock::now();
    caig::LlavaPromptWriter writer(engineOptions(o, o.model));
    writer.sampling.temperature = o.temperature;
    writer.sampling.topP = o.topP;
    writer.sampling.topK = o.topK;
    writer.sampling.maxNewTokens = o.maxNewTokens;
    writer.sampling.repetitionPenalty = o.repetitionPenalty;
    const double loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!json) {
      std::fprintf(stderr, "%s loaded on %s in %.1f s\n", writer.id().c_str(), writer.deviceName().c_str(),
                   loadSeconds);
    }
    const auto t1 = std::chrono::steady_clock::now();
    // One prompt streams to stderr as it is written (several arrive interleaved, token by token,
    // so they are only printed at the end); the cleaned prompts go to stdout.
    caig::PromptStreamCallback stream;
    if (!json && count == 1) {
      stream = [](int, const std::string& text) {
        std::fputs(text.c_str(), stderr);
        std::fflush(stderr);
        return true;
      };
    }
    const auto batch = writer.write(request, stream);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& p : batch.prompts) {
        out.push_back({{"prompt", p.text},
                       {"raw", p.raw},
                       {"instruction", p.instruction},
                       {"source", p.source},
                       {"complete", p.complete},
                       {"duplicateOf", p.duplicateOf}});
      }
      std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
    std::fprintf(stderr, "\n%d prompts in %.1f s\n", count, seconds);
    for (std::size_t i = 0; i < batch.prompts.size(); ++i) {
      const auto& p = batch.prompts[i];
      const std::string dup = p.duplicateOf >= 0 ? " (same as prompt " + std::to_string(p.duplicateOf + 1) + ")" : "";
      std::printf("[%s] %s%s%s\n", p.source.c_str(), p.text.c_str(), p.complete ? "" : " (cut at the token budget)",
                  dup.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caig prompts: %s\n", caig::userMessage(e).c_str());
    return 1;
  }
}

int runNeuralRank(const LlavaCliOptions& o, const fs::path& modelDir, const std::vector<fs::path>& images,
                  const std::string& title, const std::string& category, bool json) {
  try {
    checkModelFolder(modelDir, "reward model");
    caig::requireRewardModelFolder(modelDir);
    if (images.size() < 2) throw std::runtime_error("give at least two images to rank");
    std::vector<caig::Creative> creatives;
    for (const auto& path : images) creatives.push_back({flattenOnWhite(caig::loadImage(path)), {}});
    caig::NeuralRankerOptions ro;
    ro.engine = engineOptions(o, modelDir);
    caig::NeuralRanker ranker(ro);
    // The ranker averages both image orders itself.
    caig::RankOptions options;
    options.bothOrders = false;
    const auto r = caig::rankCreatives(ranker, creatives, {title, category}, options);
    if (json) {
      nlohmann::json j = rankingJson(ranker, r, images);
      j["meanOrderDisagreement"] = ranker.meanDisagreement();
      std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
    printRankingTable(ranker, r, images);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "caig rank: %s\n", caig::userMessage(e).c_str());
    return 1;
  }
}

}  // namespace caig::cli
