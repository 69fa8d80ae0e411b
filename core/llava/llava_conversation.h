#pragma once
// The text side of CAIG's LLaVA models: conversation formats, the instruction phrasings (data,
// resources/prompts/llava_instructions.json) and the token ids with the one image placeholder.
//
//   prompt model (LLaVA "v1" / Vicuna, sep " ", sep2 "</s>"):
//     "{system} USER: <image>\n{instruction} ASSISTANT:"
//   reward model (system text removed):
//     "<image>\n{question} ASSISTANT:"
//   Qwen2 decoders (LLaVA-OneVision / LLaVA-NeXT "qwen_1_5", ChatML):
//     "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n<image>\n{instruction}<|im_end|>\n"
//     "<|im_start|>assistant\n"
//
// Ids are built as original LLaVA's tokenizer_image_token: the prompt is split on "<image>",
// every chunk is tokenized on its own (so each gets SentencePiece's dummy-prefix space), BOS
// only before the first (when the tokenizer adds one: Qwen2's does not), and the model's image_token_index (-200 in original LLaVA folders,
// 32000 in transformers ones) between chunks.
// Torch-free; part of caig_core_text.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace caig {

class TextTokenizer;

inline constexpr const char* kImagePlaceholder = "<image>";
// LLaVA's conv_vicuna_v1 system text (conv_templates["v1"]).
inline constexpr const char* kVicunaV1System =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions.";

// LLaVA-OneVision's conv_qwen system text.
inline constexpr const char* kQwenSystem = "You are a helpful assistant.";

enum class ConversationFormat {
  VicunaV1,  // LLaMA / Vicuna decoders
  ChatML,    // Qwen2 decoders
};

struct ConversationTurn {
  bool fromUser = true;
  std::string text;  // the user's first turn carries "<image>\n" in front when there is an image
};

// LLaVA's SeparatorStyle.TWO: system + " ", then "USER: text " / "ASSISTANT: text</s>" per turn;
// a final assistant turn with empty text ends the prompt with "ASSISTANT:" (generation starts).
std::string llavaV1Prompt(const std::vector<ConversationTurn>& turns, const std::string& system = kVicunaV1System);
// The prompt model's single question: "{system} USER: <image>\n{instruction} ASSISTANT:".
std::string llavaV1ImagePrompt(const std::string& instruction, const std::string& system = kVicunaV1System);
// ChatML: "<|im_start|>system\n{system}<|im_end|>\n" then "<|im_start|>{user|assistant}\n{text}<|im_end|>\n"
// per turn; a final assistant turn with empty text ends with "<|im_start|>assistant\n".
std::string chatmlPrompt(const std::vector<ConversationTurn>& turns, const std::string& system = kQwenSystem);
std::string chatmlImagePrompt(const std::string& instruction, const std::string& system = kQwenSystem);
// The image question in `format`.
std::string conversationImagePrompt(ConversationFormat format, const std::string& instruction,
                                    const std::string& system);
// From the model's config.json: text_config.model_type qwen2* -> ChatML, any other -> VicunaV1;
// without text_config, a model_type naming qwen ("llava_qwen") -> ChatML. Otherwise ChatML when
// the tokenizer folder's (or the model folder's) tokenizer_config.json chat_template uses
// <|im_start|>, else VicunaV1 (also for unreadable files: the loaders report those).
ConversationFormat detectConversationFormat(const std::filesystem::path& modelDir,
                                            const std::filesystem::path& tokenizerDir);
// The reward model's question: "<image>\n{question} ASSISTANT:".
std::string rewardModelPrompt(const std::string& question);

// tokenizer_image_token: ids of `prompt` with each "<image>" replaced by `imageTokenIndex`.
std::vector<std::int64_t> tokenizeWithImage(const TextTokenizer& tokenizer, const std::string& prompt,
                                            std::int64_t imageTokenIndex);

// Instruction phrasings and the reward model's question, each with one "{}" for the product
// title (written in single quotes by the phrasings). Format:
//   {"format": "caig-llava-instructions", "version": 1, "system": "...",
//    "instructions": ["... '{}' ... (Directly give me the prompt without prefix explanation)", ...],
//    "rewardQuestion": "... '{}' ..."}
// ("system" is optional: kVicunaV1System.)
struct LlavaInstructions {
  std::string system = kVicunaV1System;
  std::vector<std::string> instructions;
  std::string rewardQuestion;

  // Throws io::FileError / io::FormatError naming the file and the entry (not JSON, wrong
  // format or version, no instructions, an entry without exactly one "{}").
  static LlavaInstructions load(const std::filesystem::path& file);

  // Instruction `index` (modulo the count) with the title filled in.
  std::string instruction(std::size_t index, const std::string& title) const;
  std::string question(const std::string& title) const;
};

// "{}" in `pattern` replaced by `value` (the first one; the text as it is when there is none).
std::string fillPlaceholder(const std::string& pattern, const std::string& value);

}  // namespace caig
