#include "core/text/prompt_weighting.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/text/clip_tokenizer.h"

namespace caig {

namespace {

// ':' + [+-]?[.\d]+ + ')' at `pos` (A1111's explicit weight): its length and value, or 0.
std::size_t explicitWeight(const std::string& s, std::size_t pos, double& value) {
  if (s[pos] != ':') return 0;
  std::size_t i = pos + 1;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const std::size_t digits = i;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == digits || i >= s.size() || s[i] != ')') return 0;
  const std::string number = s.substr(pos + 1, i - pos - 1);
  char* end = nullptr;
  value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return 0;  // "1.2.3": text, as no float parses it
  return i + 1 - pos;
}

bool special(char c) {
  return c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == ':';
}

bool wordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Plain text, split at each BREAK that stands as a word of its own (A1111's \s*\bBREAK\b\s*).
void pushText(std::vector<WeightedFragment>& res, const std::string& text, bool breaks) {
  std::size_t from = 0;
  for (std::size_t at = breaks ? text.find("BREAK") : std::string::npos; at != std::string::npos;
       at = text.find("BREAK", at + 1)) {
    const std::size_t end = at + 5;
    if ((at > 0 && wordChar(text[at - 1])) || (end < text.size() && wordChar(text[end]))) continue;
    std::size_t left = at, right = end;
    while (left > from && std::isspace(static_cast<unsigned char>(text[left - 1]))) --left;
    while (right < text.size() && std::isspace(static_cast<unsigned char>(text[right]))) ++right;
    if (left > from) res.push_back({text.substr(from, left - from), 1.0});
    res.push_back({"", 1.0, true});
    from = right;
    at = right - 1;
  }
  if (from < text.size() || (from == 0 && text.empty())) res.push_back({text.substr(from), 1.0});
}

}  // namespace

std::vector<WeightedFragment> parsePromptAttention(const std::string& prompt, bool breaks) {
  std::vector<WeightedFragment> res;
  std::vector<std::size_t> round, square;  // where each open group's fragments start
  const auto multiply = [&](std::size_t from, double by) {
    for (std::size_t k = from; k < res.size(); ++k)
      if (!res[k].chunkBreak) res[k].weight *= by;
  };
  std::size_t i = 0;
  while (i < prompt.size()) {
    const char c = prompt[i];
    double w = 0;
    if (c == '\\' && i + 1 < prompt.size() && std::string("()[]{}\\").find(prompt[i + 1]) != std::string::npos) {
      res.push_back({std::string(1, prompt[i + 1]), 1.0});  // an escaped character is text
      i += 2;
    } else if (c == '(' || c == '{') {
      round.push_back(res.size());
      ++i;
    } else if (c == '[') {
      square.push_back(res.size());
      ++i;
    } else if (const std::size_t n = explicitWeight(prompt, i, w); n > 0 && !round.empty()) {
      multiply(round.back(), w);
      round.pop_back();
      i += n;
    } else if ((c == ')' || c == '}') && !round.empty()) {
      multiply(round.back(), 1.1);
      round.pop_back();
      ++i;
    } else if (c == ']' && !square.empty()) {
      multiply(square.back(), 1 / 1.1);
      square.pop_back();
      ++i;
    } else if (n > 0) {  // an explicit weight with no group open: its text
      res.push_back({prompt.substr(i, n), 1.0});
      i += n;
    } else if (special(c)) {  // a closer without an opener, a lone ':' or '\'
      res.push_back({std::string(1, c), 1.0});
      ++i;
    } else {
      std::size_t j = i;
      while (j < prompt.size() && !special(prompt[j])) ++j;
      pushText(res, prompt.substr(i, j - i), breaks);
      i = j;
    }
  }
  for (const std::size_t from : round) multiply(from, 1.1);
  for (const std::size_t from : square) multiply(from, 1 / 1.1);
  if (res.empty()) return {{"", 1.0}};
  std::vector<WeightedFragment> merged{res.front()};
  for (std::size_t k = 1; k < res.size(); ++k) {
    if (res[k].weight == merged.back().weight && !res[k].chunkBreak && !merged.back().chunkBreak) {
      merged.back().text += res[k].text;
    } else {
      merged.push_back(res[k]);
    }
  }
  return merged;
}

WeightedChunks weightedPromptChunks(const ClipTokenizer& tokenizer, const std::string& prompt, bool breaks) {
  WeightedChunks out;
  std::vector<int64_t> ids;  // the open chunk's tokens
  std::vector<float> weights;
  // As A1111's next_chunk(): pad to 75, wrap in bos / eos.
  const auto flush = [&] {
    ids.resize(kPromptChunkTokens, tokenizer.eosId());
    weights.resize(kPromptChunkTokens, 1.0f);
    ids.insert(ids.begin(), tokenizer.bosId());
    weights.insert(weights.begin(), 1.0f);
    ids.push_back(tokenizer.eosId());
    weights.push_back(1.0f);
    out.ids.push_back(std::move(ids));
    out.weights.push_back(std::move(weights));
    ids.clear();
    weights.clear();
  };
  for (const auto& f : parsePromptAttention(prompt, breaks)) {
    if (f.chunkBreak) {  // ends the open chunk, even an empty one
      flush();
      continue;
    }
    for (const int64_t id : tokenizer.encodeRaw(f.text)) {
      if (ids.size() == static_cast<std::size_t>(kPromptChunkTokens)) flush();  // full: the next token opens one
      ids.push_back(id);
      weights.push_back(static_cast<float>(f.weight));
      ++out.tokens;
    }
  }
  if (!ids.empty() || out.ids.empty()) flush();
  return out;
}

void padPromptChunks(WeightedChunks& chunks, std::size_t count, const ClipTokenizer& tokenizer) {
  if (chunks.ids.size() >= count) return;
  const WeightedChunks empty = weightedPromptChunks(tokenizer, "");
  while (chunks.ids.size() < count) {
    chunks.ids.push_back(empty.ids.front());
    chunks.weights.push_back(empty.weights.front());
  }
}

}  // namespace caig
