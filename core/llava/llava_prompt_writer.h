#pragma once
// The neural PromptWriter: CAIG's LLaVA prompt model (or any LLaVA-1.5/1.6 LLaMA/Vicuna model)
// writes N background prompts for a product shot and its title. Each prompt answers one of the
// instruction phrasings of resources/prompts/llava_instructions.json (picked per prompt from the
// seed), asked in LLaVA's "v1" conversation with the product shot as the image (pad mode), and
// is sampled with the given temperature / top-p / top-k. A model with a Qwen2 decoder (config or
// tokenizer chat template, see detectConversationFormat) is asked in ChatML instead, with its
// tokenizer.json (BpeTokenizer); a folder with tokenizer.model uses SentencePiece. Prompts that share a phrasing share one
// prefill. A transparent (BGRA) shot is composited over white first. The tokenizer is used in
// LLaMA's legacy mode, which is how original LLaVA (and CAIG) tokenized during training.
// Torch-free header (pimpl); lives in caig_core_llava.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/llava/llava_conversation.h"
#include "core/prompts/prompt_engine.h"

namespace caig {

struct LlavaEngineOptions {
  std::filesystem::path modelDir;
  std::filesystem::path visionTowerDir;  // original-layout folders without their CLIP tower
  std::filesystem::path tokenizerDir;    // empty: the model folder (tokenizer.model or tokenizer.json)
  std::filesystem::path instructionsFile;  // empty: defaultLlavaInstructionsFile()
  std::string device = "auto";           // "auto" (CUDA when available), "cpu", "cuda", "cuda:1"
  // "auto" (fp16 on CUDA; on the CPU fp32, or bf16 / int8 when fp32 would not fit the memory),
  // "fp32", "fp16", "bf16", "int8" (llava_engine_common.h)
  std::string dtype = "auto";
};

struct LlavaSamplingOptions {
  int maxNewTokens = 77;
  double temperature = 1.0;  // CAIG samples at 1.0; 0 = greedy
  double topP = 1.0;
  int topK = 0;
  double repetitionPenalty = 1.0;
};

std::filesystem::path defaultLlavaInstructionsFile();  // resourceDir()/prompts/llava_instructions.json

// The model's answer as a prompt: whitespace trimmed and runs collapsed to one space, an end
// token, a leading label ("Prompt:", "Stable Diffusion prompt:", "Here is the prompt:") and
// quotes around the whole removed.
// Prompts longer than maxChars are cut at the last ", " (else space) before the limit: SD1.5's
// text encoder reads 75 tokens, about 300-400 characters of English.
constexpr std::size_t kMaxPromptChars = 400;
std::string cleanGeneratedPrompt(const std::string& text, std::size_t maxChars = kMaxPromptChars);
// Sets duplicateOf on prompts whose text equals an earlier one's (ignoring case and spaces at the ends).
void markDuplicatePrompts(std::vector<WrittenPrompt>& prompts);

// "llava: <model folder name>".
std::string llavaSourceLabel(const std::filesystem::path& modelDir);

class LlavaPromptWriter : public PromptWriter {
 public:
  // Loads model, tokenizer and instructions. Throws io::FileError / io::FormatError naming the
  // file (missing tokenizer.model, not a LLaVA folder, bad instructions file...) or
  // std::invalid_argument for a bad device/dtype.
  explicit LlavaPromptWriter(const LlavaEngineOptions& options);
  ~LlavaPromptWriter() override;

  std::string id() const override;  // llavaSourceLabel(modelDir)
  PromptBatch write(const PromptRequest& request, const PromptStreamCallback& onText = {},
                    const std::atomic<bool>* cancel = nullptr) override;

  LlavaSamplingOptions sampling;
  const LlavaInstructions& instructions() const;
  // Which phrasing prompt `index` of a request with `seed` answers.
  std::size_t instructionIndex(std::uint64_t seed, int index) const;
  std::string deviceName() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
