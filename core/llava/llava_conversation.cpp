#include "core/llava/llava_conversation.h"

#include <stdexcept>

#include "core/text/text_tokenizer.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace caig {

namespace {

constexpr const char* kFormat = "caig-llava-instructions";
constexpr int kVersion = 1;

std::size_t countOf(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + what.size())) ++n;
  return n;
}

void replaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// A title goes into the prompt as text: it must not add an image placeholder or a turn end,
// and line breaks would change the conversation's shape.
std::string cleanTitle(std::string title) {
  for (const char* token : {"<image>", "</s>", "<s>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"}) replaceAll(title, token, " ");
  for (char& c : title) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  std::string out;
  for (const char c : title) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string llavaV1Prompt(const std::vector<ConversationTurn>& turns, const std::string& system) {
  std::string out = system + " ";
  for (const auto& turn : turns) {
    const std::string role = turn.fromUser ? "USER" : "ASSISTANT";
    if (turn.text.empty()) {
      out += role + ":";
    } else {
      out += role + ": " + turn.text + (turn.fromUser ? " " : "</s>");
    }
  }
  return out;
}

std::string llavaV1ImagePrompt(const std::string& instruction, const std::string& system) {
  return llavaV1Prompt({{true, std::string(kImagePlaceholder) + "\n" + instruction}, {false, ""}}, system);
}

std::string chatmlPrompt(const std::vector<ConversationTurn>& turns, const std::string& system) {
  std::string out = "<|im_start|>system\n" + system + "<|im_end|>\n";
  for (const auto& turn : turns) {
    out += std::string("<|im_start|>") + (turn.fromUser ? "user" : "assistant") + "\n";
    if (!turn.text.empty() || turn.fromUser) out += turn.text + "<|im_end|>\n";
  }
  return out;
}

std::string chatmlImagePrompt(const std::string& instruction, const std::string& system) {
  return chatmlPrompt({{true, std::string(kImagePlaceholder) + "\n" + instruction}, {false, ""}}, system);
}

std::string conversationImagePrompt(ConversationFormat format, const std::string& instruction,
                                    const std::string& system) {
  return format == ConversationFormat::ChatML ? chatmlImagePrompt(instruction, system)
                                              : llavaV1ImagePrompt(instruction, system);
}

ConversationFormat detectConversationFormat(const std::filesystem::path& modelDir,
                                            const std::filesystem::path& tokenizerDir) {
  auto readObject = [](const std::filesystem::path& file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return nlohmann::json();
    try {
      auto j = io::readJsonFile(file);
      return j.is_object() ? j : nlohmann::json();
    } catch (const std::exception&) {
      return nlohmann::json();  // the model / tokenizer loaders report broken files
    }
  };
  const auto config = readObject(modelDir / "config.json");
  if (config.is_object()) {
    // transformers folders name the decoder in text_config; original LLaVA-NeXT ones call the
    // whole model "llava_qwen" and keep LLaVA's own "llava" for LLaMA decoders.
    if (config.contains("text_config") && config["text_config"].is_object() &&
        config["text_config"].contains("model_type")) {
      const std::string type = config["text_config"].value("model_type", std::string());
      return type.rfind("qwen2", 0) == 0 ? ConversationFormat::ChatML : ConversationFormat::VicunaV1;
    }
    if (config.value("model_type", std::string()).find("qwen") != std::string::npos) return ConversationFormat::ChatML;
  }
  const auto tokConfig = readObject((tokenizerDir.empty() ? modelDir : tokenizerDir) / "tokenizer_config.json");
  if (tokConfig.is_object() && tokConfig.contains("chat_template") &&
      tokConfig["chat_template"].dump().find("<|im_start|>") != std::string::npos)
    return ConversationFormat::ChatML;
  return ConversationFormat::VicunaV1;
}

std::string rewardModelPrompt(const std::string& question) {
  return std::string(kImagePlaceholder) + "\n" + question + " ASSISTANT:";
}

std::vector<std::int64_t> tokenizeWithImage(const TextTokenizer& tokenizer, const std::string& prompt,
                                            std::int64_t imageTokenIndex) {
  const std::string placeholder = kImagePlaceholder;
  std::vector<std::string> chunks;
  std::size_t start = 0;
  for (auto pos = prompt.find(placeholder); pos != std::string::npos; pos = prompt.find(placeholder, start)) {
    chunks.push_back(prompt.substr(start, pos - start));
    start = pos + placeholder.size();
  }
  chunks.push_back(prompt.substr(start));
  // Each chunk as tokenizer(chunk).input_ids would give it, with BOS kept on the first only.
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (i > 0) ids.push_back(imageTokenIndex);
    const auto part = tokenizer.encode(chunks[i], i == 0 && tokenizer.addBosByDefault());
    ids.insert(ids.end(), part.begin(), part.end());
  }
  return ids;
}

std::string fillPlaceholder(const std::string& pattern, const std::string& value) {
  const auto pos = pattern.find("{}");
  if (pos == std::string::npos) return pattern;
  return pattern.substr(0, pos) + value + pattern.substr(pos + 2);
}

LlavaInstructions LlavaInstructions::load(const std::filesystem::path& file) {
  const auto j = io::readJsonFile(file);
  const std::string where = file.string();
  if (!j.is_object()) throw io::FormatError(where + ": expected a JSON object");
  if (j.value("format", std::string()) != kFormat) {
    throw io::FormatError(where + ": not a LLaVA instructions file (\"format\" must be \"" + kFormat + "\")");
  }
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != kVersion) {
    throw io::FormatError(where + ": unsupported version (this studio reads version " + std::to_string(kVersion) +
                          ")");
  }
  LlavaInstructions out;
  if (j.contains("system")) {
    if (!j["system"].is_string()) throw io::FormatError(where + ": \"system\" must be a string");
    out.system = j["system"].get<std::string>();
  }
  auto checkPattern = [&](const nlohmann::json& v, const std::string& name) {
    if (!v.is_string()) throw io::FormatError(where + ": " + name + " must be a string");
    const std::string s = v.get<std::string>();
    if (countOf(s, "{}") != 1) {
      throw io::FormatError(where + ": " + name + " must hold exactly one {} for the product title: \"" + s + "\"");
    }
    if (s.find(kImagePlaceholder) != std::string::npos) {
      throw io::FormatError(where + ": " + name + " must not contain <image> (the studio puts the image first)");
    }
    return s;
  };
  if (!j.contains("instructions") || !j["instructions"].is_array() || j["instructions"].empty()) {
    throw io::FormatError(where + ": \"instructions\" must be a non-empty array of strings");
  }
  for (std::size_t i = 0; i < j["instructions"].size(); ++i) {
    out.instructions.push_back(checkPattern(j["instructions"][i], "instructions[" + std::to_string(i) + "]"));
  }
  if (!j.contains("rewardQuestion")) throw io::FormatError(where + ": \"rewardQuestion\" is missing");
  out.rewardQuestion = checkPattern(j["rewardQuestion"], "rewardQuestion");
  return out;
}

std::string LlavaInstructions::instruction(std::size_t index, const std::string& title) const {
  if (instructions.empty()) throw std::logic_error("LlavaInstructions: no instructions loaded");
  return fillPlaceholder(instructions[index % instructions.size()], cleanTitle(title));
}

std::string LlavaInstructions::question(const std::string& title) const {
  return fillPlaceholder(rewardQuestion, cleanTitle(title));
}

}  // namespace caig
