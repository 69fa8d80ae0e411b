#include "core/llava/neural_ranker.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/llava/clip_preprocess.h"
#include "core/llava/llava_engine_common.h"
#include "core/text/sentencepiece_tokenizer.h"
#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/llava_reward.h"

namespace fs = std::filesystem;

namespace caig {

bool isRewardModelFolder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || !fs::is_regular_file(dir / "config.json", ec)) return false;
  try {
    return io::Checkpoint::open(dir).contains("score.weight");
  } catch (const std::exception&) {
    return false;
  }
}

void requireRewardModelFolder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / "config.json", ec)) {
    throw io::FileError(dir.string() + ": not a model folder (no config.json)");
  }
  if (!io::Checkpoint::open(dir).contains("score.weight")) {  // a broken checkpoint throws its own error
    throw io::FormatError(dir.string() + ": not a reward-model folder (its checkpoint has no score.weight head)");
  }
}

namespace {

// Names the weights: the config text and the sizes of the weight files (hashing gigabytes of
// tensors for an id would take longer than ranking).
std::string fingerprint(const fs::path& dir) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&h](const std::string& bytes) {
    for (const unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  };
  std::ifstream config(dir / "config.json", std::ios::binary);
  std::ostringstream text;
  text << config.rdbuf();
  mix(text.str());
  std::error_code ec;
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find(".safetensors") == std::string::npos) continue;
    entries.push_back(name + ":" + std::to_string(e.is_regular_file(ec) ? e.file_size(ec) : 0));
  }
  std::sort(entries.begin(), entries.end());
  for (const auto& s : entries) mix(s);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(h ^ (h >> 32)));
  return buf;
}

}  // namespace

struct NeuralRanker::Impl {
  NeuralRankerOptions options;
  std::unique_ptr<LlavaRewardModel> model;
  std::unique_ptr<SentencePieceTokenizer> tokenizer;
  LlavaInstructions instructions;
  c10::Device device = c10::Device("cpu");
  std::string id;
  std::string cachedTitle;
  at::Tensor cachedIds;
  PairScore last;
  int comparisons = 0;
  double disagreementSum = 0;
  std::optional<double> ctrScale;  // from the folder's ctr_calibration.json
  std::string calibrationError;    // why that file could not be read

  const at::Tensor& idsFor(const std::string& title) {
    if (!cachedIds.defined() || title != cachedTitle) {
      const std::string prompt = rewardModelPrompt(instructions.question(title.empty() ? "product" : title));
      cachedIds = at::tensor(tokenizeWithImage(*tokenizer, prompt, model->llava().imageTokenIndex()), at::kLong);
      cachedTitle = title;
    }
    return cachedIds;
  }
};

NeuralRanker::NeuralRanker(const NeuralRankerOptions& options) : impl_(std::make_unique<Impl>()) {
  auto& impl = *impl_;
  impl.options = options;
  if (options.pairSide < 1) throw std::invalid_argument("NeuralRanker: pairSide must be positive");
  const auto& e = options.engine;
  impl.instructions =
      LlavaInstructions::load(e.instructionsFile.empty() ? defaultLlavaInstructionsFile() : e.instructionsFile);
  const LlavaRuntime rt = resolveLlavaRuntime(e.device, e.dtype, e.modelDir);
  impl.device = rt.device;
  impl.tokenizer = std::make_unique<SentencePieceTokenizer>(
      SentencePieceTokenizer::load(e.tokenizerDir.empty() ? e.modelDir : e.tokenizerDir));
  LlavaLoadOptions lo;
  lo.device = rt.device;
  lo.dtype = rt.dtype;
  lo.int8Weights = rt.int8Weights;
  lo.visionTowerDir = llavaVisionTowerFor(e.modelDir, e.visionTowerDir);
  impl.model = std::make_unique<LlavaRewardModel>(LlavaRewardModel::load(e.modelDir, lo));
  checkTokenizerFitsModel(*impl.tokenizer, impl.model->llava().languageModel().config().vocabSize,
                          impl.model->llava().imageTokenIndex(), e.modelDir);
  impl.id = "llava-rm:" + modelFolderName(e.modelDir) + "@" + fingerprint(e.modelDir);
  // A damaged calibration costs the lifts their CTR terms, not the ranking.
  try {
    impl.ctrScale = readCtrCalibration(e.modelDir);
  } catch (const std::exception& error) {
    impl.calibrationError = error.what();
  }
}

std::optional<double> NeuralRanker::ctrScale() const {
  return impl_->ctrScale;
}

NeuralRanker::~NeuralRanker() = default;

std::string NeuralRanker::id() const { return impl_->id; }

PairScore NeuralRanker::score(const Creative& left, const Creative& right, const RankContext& ctx) {
  auto& impl = *impl_;
  if (left.image.empty() || right.image.empty()) throw RankerError("NeuralRanker: a creative has no image");
  ClipPreprocessOptions pre;
  pre.size = static_cast<int>(impl.model->llava().imageSize());
  const int side = impl.options.pairSide;
  const at::Tensor ab = clipPreprocess(sideBySide(left.image, right.image, side), pre).to(impl.device);
  const at::Tensor ba = clipPreprocess(sideBySide(right.image, left.image, side), pre).to(impl.device);
  const PairPreference p = impl.model->scorePair(impl.idsFor(ctx.title), ab, ba);
  PairScore s;
  s.probLeftWins = p.probAWins;
  s.probAB = p.probAB;
  s.probBA = p.probBA;
  s.disagreement = p.disagreement;
  impl.last = s;
  ++impl.comparisons;
  impl.disagreementSum += s.disagreement;
  return s;
}

double NeuralRanker::winProbability(const Creative& left, const Creative& right, const RankContext& ctx) {
  return score(left, right, ctx).probLeftWins;
}

std::string NeuralRanker::status() const {
  char buf[160];
  if (impl_->comparisons == 0) {
    std::snprintf(buf, sizeof buf, "LLaVA reward model on %s; both image orders averaged",
                  impl_->device.str().c_str());
  } else {
    std::snprintf(buf, sizeof buf,
                  "LLaVA reward model on %s; both image orders averaged, mean order disagreement %.3f over %d pairs",
                  impl_->device.str().c_str(), meanDisagreement(), impl_->comparisons);
  }
  std::string text = buf;
  if (impl_->ctrScale) {
    std::snprintf(buf, sizeof buf, "; CTR scale %.3f per logit, fitted on its training clicks", *impl_->ctrScale);
    text += buf;
  } else if (!impl_->calibrationError.empty()) {
    text += "; no CTR scale (" + impl_->calibrationError + ")";
  }
  return text;
}

const PairScore& NeuralRanker::lastPreference() const { return impl_->last; }
int NeuralRanker::comparisons() const { return impl_->comparisons; }
double NeuralRanker::meanDisagreement() const {
  return impl_->comparisons == 0 ? 0.0 : impl_->disagreementSum / impl_->comparisons;
}

}  // namespace caig
