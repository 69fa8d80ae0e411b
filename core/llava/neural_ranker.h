#pragma once
// The neural CtrRanker: CAIG's pairwise LLaVA reward model. Each comparison composes the two
// creatives side by side (512 x 512 each, left | right), asks the reward question for the
// product title ("<image>\n{question} ASSISTANT:", no system text) and reads P(left better) from
// the score head; both orders run as one batch and are averaged, so the model's left/right bias
// cancels and how much the orders disagree is measured (status(), lastPreference()). Ranking
// goes through core's rankCreatives (all pairs / Swiss schedule, Bradley-Terry): give it
// RankOptions::bothOrders = false, the ranker already does both. Torch-free header (pimpl);
// lives in caig_core_llava.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/ranking/ctr_ranker.h"
#include "core/llava/llava_prompt_writer.h"

namespace caig {

struct NeuralRankerOptions {
  LlavaEngineOptions engine;  // modelDir = the reward-model folder; instructionsFile has the question
  int pairSide = 512;         // each creative's side in the composed pair image (CAIG: 512)
};

struct PairScore {
  double probLeftWins = 0.5;  // both orders averaged
  double probAB = 0.5;        // P(left wins) as composed
  double probBA = 0.5;        // P(left wins) with the sides swapped
  double disagreement = 0.0;  // |probAB - (1 - probBA)|
};

// True when `dir` looks like a reward-model folder (a config.json and a checkpoint holding
// score.weight), so the CLI can tell it from the built-in ranker's names.
bool isRewardModelFolder(const std::filesystem::path& dir);
// Throws what is wrong when `dir` is not one: the checkpoint's own error (a broken shard index, a
// damaged file) or "no score.weight head" when the weights load but hold no head.
void requireRewardModelFolder(const std::filesystem::path& dir);

class NeuralRanker : public CtrRanker {
 public:
  // Throws io::FileError / io::FormatError naming the file (no score head, no tokenizer...).
  explicit NeuralRanker(const NeuralRankerOptions& options);
  ~NeuralRanker() override;

  // "llava-rm:<folder name>@<8 hex digits of config + weight file sizes>".
  std::string id() const override;
  double winProbability(const Creative& left, const Creative& right, const RankContext& ctx) override;
  std::string status() const override;
  // The CTR scale its training run fitted (<folder>/ctr_calibration.json); empty without one.
  std::optional<double> ctrScale() const override;

  // The full answer for one pair (what winProbability returns is probLeftWins).
  PairScore score(const Creative& left, const Creative& right, const RankContext& ctx);
  const PairScore& lastPreference() const;
  int comparisons() const;
  double meanDisagreement() const;  // over all comparisons so far; 0 before any

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
