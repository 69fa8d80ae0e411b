#include "core/llava/llava_prompt_writer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "core/llava/clip_preprocess.h"
#include "core/llava/llava_engine_common.h"
#include "core/base/resources.h"
#include "core/text/text_tokenizer.h"
#include "core/base/splitmix.h"
#include "models/llava.h"

namespace fs = std::filesystem;

namespace caig {

fs::path defaultLlavaInstructionsFile() { return resourceDir() / "prompts" / "llava_instructions.json"; }

std::string llavaSourceLabel(const fs::path& modelDir) { return "llava: " + modelFolderName(modelDir); }

namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool stripQuotes(std::string& s) {
  static const std::pair<const char*, const char*> kPairs[] = {
      {"\"", "\""}, {"'", "'"}, {"`", "`"}, {"\xE2\x80\x9C", "\xE2\x80\x9D"}, {"\xE2\x80\x98", "\xE2\x80\x99"}};
  for (const auto& [open, close] : kPairs) {
    const std::size_t o = std::strlen(open), c = std::strlen(close);
    if (s.size() >= o + c && s.compare(0, o, open) == 0 && s.compare(s.size() - c, c, close) == 0) {
      s = trim(s.substr(o, s.size() - o - c));
      return true;
    }
  }
  return false;
}

}  // namespace

std::string cleanGeneratedPrompt(const std::string& text, std::size_t maxChars) {
  std::string s = text;
  for (const char* token : {"</s>", "<s>", "<unk>", "<|im_end|>", "<|endoftext|>"}) {
    for (auto pos = s.find(token); pos != std::string::npos; pos = s.find(token)) s.erase(pos, std::strlen(token));
  }
  // One line: the prompt goes into a text encoder, not a document.
  std::string collapsed;
  for (const char c : s) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (space) {
      if (!collapsed.empty() && collapsed.back() != ' ') collapsed += ' ';
    } else {
      collapsed += c;
    }
  }
  s = trim(collapsed);
  // Labels some models put first despite the instruction: "Prompt:", "Stable Diffusion prompt:",
  // "Here is the prompt:", "Background prompt -". Only a short lead ending in ':' (or " -") that
  // mentions "prompt" is taken for one.
  for (int round = 0; round < 2; ++round) {
    stripQuotes(s);
    const std::size_t colon = s.find(':');
    if (colon != std::string::npos && colon <= 48) {
      const std::string lead = lower(s.substr(0, colon));
      if (lead.find("prompt") != std::string::npos && std::count(lead.begin(), lead.end(), ' ') <= 5) {
        s = trim(s.substr(colon + 1));
        continue;
      }
    }
    break;
  }
  while (stripQuotes(s)) {
  }
  if (s.size() > maxChars) {
    std::size_t cut = s.rfind(", ", maxChars);
    if (cut == std::string::npos || cut < maxChars / 2) cut = s.rfind(' ', maxChars);
    if (cut == std::string::npos || cut == 0) cut = maxChars;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
    s = trim(s.substr(0, cut));
  }
  return s;
}

void markDuplicatePrompts(std::vector<WrittenPrompt>& prompts) {
  std::map<std::string, int> first;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const std::string key = lower(trim(prompts[i].text));
    if (key.empty()) continue;
    const auto [it, inserted] = first.emplace(key, static_cast<int>(i));
    prompts[i].duplicateOf = inserted ? -1 : it->second;
  }
}

struct LlavaPromptWriter::Impl {
  LlavaEngineOptions options;
  std::unique_ptr<LlavaModel> model;
  std::unique_ptr<TextTokenizer> tokenizer;
  ConversationFormat format = ConversationFormat::VicunaV1;
  std::string system;  // the conversation's system text
  LlavaInstructions instructions;
  c10::Device device = c10::Device("cpu");
  std::string label;
};

LlavaPromptWriter::LlavaPromptWriter(const LlavaEngineOptions& options) : impl_(std::make_unique<Impl>()) {
  auto& impl = *impl_;
  impl.options = options;
  impl.instructions = LlavaInstructions::load(
      options.instructionsFile.empty() ? defaultLlavaInstructionsFile() : options.instructionsFile);
  const LlavaRuntime rt = resolveLlavaRuntime(options.device, options.dtype, options.modelDir);
  impl.device = rt.device;
  // The tokenizer first: it is the file most often missing from a downloaded folder.
  const fs::path tokenizerDir = options.tokenizerDir.empty() ? options.modelDir : options.tokenizerDir;
  impl.tokenizer = loadTextTokenizer(tokenizerDir);
  impl.format = detectConversationFormat(options.modelDir, tokenizerDir);
  // A Qwen2 model gets its own system text unless the instructions file chose one.
  impl.system = impl.format == ConversationFormat::ChatML && impl.instructions.system == kVicunaV1System
                    ? std::string(kQwenSystem)
                    : impl.instructions.system;
  LlavaLoadOptions lo;
  lo.device = rt.device;
  lo.dtype = rt.dtype;
  lo.int8Weights = rt.int8Weights;
  lo.visionTowerDir = llavaVisionTowerFor(options.modelDir, options.visionTowerDir);
  impl.model = std::make_unique<LlavaModel>(LlavaModel::load(options.modelDir, lo));
  checkTokenizerFitsModel(*impl.tokenizer, impl.model->languageModel().config().vocabSize,
                          impl.model->imageTokenIndex(), options.modelDir);
  impl.label = llavaSourceLabel(options.modelDir);
}

LlavaPromptWriter::~LlavaPromptWriter() = default;

std::string LlavaPromptWriter::id() const { return impl_->label; }
const LlavaInstructions& LlavaPromptWriter::instructions() const { return impl_->instructions; }
std::string LlavaPromptWriter::deviceName() const { return impl_->device.str(); }

std::size_t LlavaPromptWriter::instructionIndex(std::uint64_t seed, int index) const {
  SplitMix64 rng{seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(index) + 1};
  return rng.index(impl_->instructions.instructions.size());
}

PromptBatch LlavaPromptWriter::write(const PromptRequest& request, const PromptStreamCallback& onText,
                                     const std::atomic<bool>* cancel) {
  if (request.count < 1) throw std::invalid_argument("LLaVA prompt writer: count must be at least 1");
  if (request.productImage.empty()) throw std::invalid_argument("LLaVA prompt writer: no product image");
  auto& impl = *impl_;
  const auto& tok = *impl.tokenizer;
  const std::string title = request.title.empty() ? std::string("product") : request.title;

  ClipPreprocessOptions pre;
  pre.size = static_cast<int>(impl.model->imageSize());
  // A transparent product shot is shown over white: PIL's convert('RGB') would keep whatever
  // colour the transparent pixels happen to hold (often black).
  cv::Mat shot = request.productImage;
  if (shot.type() == CV_8UC4) {
    cv::Mat white(shot.size(), CV_8UC3, cv::Scalar::all(255)), bgr, alpha;
    cv::cvtColor(shot, bgr, cv::COLOR_BGRA2BGR);
    cv::extractChannel(shot, alpha, 3);
    bgr.convertTo(bgr, CV_32FC3);
    white.convertTo(white, CV_32FC3);
    cv::Mat a;
    alpha.convertTo(a, CV_32F, 1.0 / 255.0);
    cv::Mat a3;
    cv::merge(std::vector<cv::Mat>{a, a, a}, a3);
    cv::Mat blended = bgr.mul(a3) + white.mul(cv::Scalar::all(1.0) - a3);
    blended.convertTo(shot, CV_8UC3);
  }
  const at::Tensor pixels = clipPreprocess(shot, pre).to(impl.device);

  // Prompts grouped by phrasing: one prefill per group, rows sampled with seed + row.
  std::map<std::size_t, std::vector<int>> groups;
  for (int i = 0; i < request.count; ++i) groups[instructionIndex(request.seed, i)].push_back(i);

  PromptBatch batch;
  batch.prompts.resize(static_cast<std::size_t>(request.count));
  SamplingOptions so;
  so.maxNewTokens = sampling.maxNewTokens;
  so.temperature = sampling.temperature;
  so.topP = sampling.topP;
  so.topK = sampling.topK;
  so.repetitionPenalty = sampling.repetitionPenalty;
  if (tok.eosId() >= 0) so.stopTokenIds.push_back(tok.eosId());
  if (impl.format == ConversationFormat::ChatML) {  // a turn ends with <|im_end|> whatever eos_token says
    const auto imEnd = tok.tokenId("<|im_end|>");
    if (imEnd && *imEnd != tok.eosId()) so.stopTokenIds.push_back(*imEnd);
  }
  const auto configEos = impl.model->languageModel().config().eosTokenId;
  if (configEos >= 0 && configEos != tok.eosId()) so.stopTokenIds.push_back(configEos);

  for (const auto& [instructionIdx, members] : groups) {
    if (batch.cancelled) break;
    const std::string instruction = impl.instructions.instruction(instructionIdx, title);
    const std::string prompt = conversationImagePrompt(impl.format, instruction, impl.system);
    const auto ids = tokenizeWithImage(tok, prompt, impl.model->imageTokenIndex());
    const at::Tensor idTensor = at::tensor(ids, at::kLong);
    // One seed per phrasing: a prompt depends on the request seed and the prompts before it only.
    so.seed = request.seed * 1000003ull + instructionIdx * 7919ull;
    std::vector<IncrementalDecoder> decoders(members.size(), IncrementalDecoder(tok));
    const TokenCallback callback = [&](int64_t row, int64_t token) {
      const int index = members[static_cast<std::size_t>(row)];
      if (std::find(so.stopTokenIds.begin(), so.stopTokenIds.end(), token) != so.stopTokenIds.end()) return true;
      const std::string piece = decoders[static_cast<std::size_t>(row)].push(token);
      if (onText && !piece.empty()) return onText(index, piece);
      return true;
    };
    const GenerationResult result = impl.model->generate(idTensor, pixels, static_cast<int64_t>(members.size()), so,
                                                         callback, cancel);
    for (std::size_t r = 0; r < members.size(); ++r) {
      auto tokens = r < result.tokens.size() ? result.tokens[r] : std::vector<int64_t>{};
      bool stopped = false;
      if (!tokens.empty() && std::find(so.stopTokenIds.begin(), so.stopTokenIds.end(), tokens.back()) !=
                                 so.stopTokenIds.end()) {
        tokens.pop_back();
        stopped = true;
      }
      // The model's vocabulary may be larger than the tokenizer's; decode skips what it does not know.
      WrittenPrompt& p = batch.prompts[static_cast<std::size_t>(members[r])];
      p.raw = tok.decode(tokens);
      p.text = cleanGeneratedPrompt(p.raw);
      p.instruction = instruction;
      p.source = impl.label;
      p.complete = stopped && !result.cancelled;
      if (onText) {
        const std::string rest = decoders[r].flush();
        if (!rest.empty() && !result.cancelled) onText(members[r], rest);
      }
    }
    if (result.cancelled) batch.cancelled = true;
  }
  markDuplicatePrompts(batch.prompts);
  if (batch.cancelled) {
    for (auto& p : batch.prompts) {
      if (p.source.empty()) {
        p.source = impl.label;
        p.complete = false;
      }
    }
  }
  return batch;
}

}  // namespace caig
