#include "core/text/prompt_loras.h"

#include <cctype>
#include <cmath>
#include <stdexcept>

namespace caig {

namespace {

std::string trimmed(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool startsWithNoCase(const std::string& s, std::size_t at, const char* prefix) {
  for (std::size_t i = 0; prefix[i]; ++i) {
    if (at + i >= s.size() || std::tolower(static_cast<unsigned char>(s[at + i])) != prefix[i]) return false;
  }
  return true;
}

PromptLora parseTag(const std::string& tag, const std::string& body) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (std::size_t colon; (colon = body.find(':', from)) != std::string::npos; from = colon + 1) {
    parts.push_back(trimmed(body.substr(from, colon - from)));
  }
  parts.push_back(trimmed(body.substr(from)));
  PromptLora l;
  l.name = parts[0];
  if (l.name.empty()) throw std::invalid_argument("the prompt's " + tag + " names no LoRA");
  if (parts.size() > 2) {
    throw std::invalid_argument("the prompt's " + tag +
                                ": separate text-encoder and UNet weights are not supported; give one weight");
  }
  if (parts.size() == 2) {
    std::size_t used = 0;
    try {
      l.weight = std::stod(parts[1], &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != parts[1].size() || !std::isfinite(l.weight)) {
      throw std::invalid_argument("the prompt's " + tag + ": '" + parts[1] + "' is not a weight");
    }
  }
  return l;
}

}  // namespace

PromptWithLoras extractPromptLoras(const std::string& prompt) {
  PromptWithLoras out;
  std::size_t i = 0;
  while (i < prompt.size()) {
    const bool lora =
        prompt[i] == '<' && (startsWithNoCase(prompt, i + 1, "lora:") || startsWithNoCase(prompt, i + 1, "lyco:"));
    const std::size_t close = lora ? prompt.find('>', i) : std::string::npos;
    if (close == std::string::npos) {
      out.prompt += prompt[i++];
      continue;
    }
    const std::string tag = prompt.substr(i, close - i + 1);
    out.loras.push_back(parseTag(tag, prompt.substr(i + 6, close - i - 6)));
    while (!out.prompt.empty() && (out.prompt.back() == ' ' || out.prompt.back() == '\t')) out.prompt.pop_back();
    i = close + 1;
  }
  // "<lora:a:1>, a bottle" leaves ", a bottle": the separators a tag stood between go too.
  std::size_t b = 0;
  while (b < out.prompt.size() && (out.prompt[b] == ' ' || out.prompt[b] == ',')) ++b;
  if (!out.loras.empty()) out.prompt.erase(0, b);
  return out;
}

}  // namespace caig
