#pragma once
// Training the built-in reward model (BuiltinRanker: pairwise logistic regression on 9 image
// features) on a project's imported clicks, and evaluating it.
//
// Pairs come from buildPairs() (CAIG's rules, with knobs) and are split by product. Training
// runs the ranker's own Newton solver one iteration at a time (L2 toward 0, so every iteration
// minimises the same objective) to log each step. Evaluation: held-out pairwise accuracy and
// log-loss, overall and per product category, next to the untrained neutral prior on the same
// pairs. The trained weights are saved as a versioned model in the project
// (models/builtin-ranker-<run>.json, plus models/builtin-ranker.json as the active copy), the
// run is recorded in the store, and a JSON-lines log is written for the studio's training panel:
//   {"event":"start", "config":{...}, "trainPairs":N, ...}
//   {"event":"step", "step":i, "loss":x, "accuracy":a, "valLoss":y, "valAccuracy":b, "elapsed":s}
//   {"event":"end", "metrics":{...}}   or   {"event":"failed", "error":"..."}

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ranking/builtin_ranker.h"
#include "core/clicks/click_pairs.h"

namespace caig {

class Project;
class JsonLinesLog;

struct PairMetrics {
  int pairs = 0;
  double accuracy = 0;  // share of pairs where the model's favourite won (ties count half)
  double logLoss = 0;   // mean -log P(winner beats loser)
};

// Metrics of `ranker` on pairs of (winner features, loser features).
PairMetrics evaluatePairs(const BuiltinRanker& ranker,
                          const std::vector<std::pair<FeatureVector, FeatureVector>>& pairs);

struct RmProgress {
  int step = 0;
  int maxSteps = 0;
  double trainLoss = 0;
  double trainAccuracy = 0;
  std::optional<double> valLoss, valAccuracy;
  double elapsed = 0;  // seconds since the start (features included)
  std::string phase;   // "features" (done = step of maxSteps creatives) or "train"
};

struct RmTrainOptions {
  PairRules rules;
  double validationFraction = 0.2;  // of the PRODUCTS
  std::uint64_t seed = 1;
  double l2 = 1.0;
  int maxIterations = 50;
  std::filesystem::path logFile;  // empty: <project>/logs/train-rm-<run>.jsonl
  bool save = true;               // write the model into the project and make it active
  std::function<void(const RmProgress&)> progress;
};

struct RmTrainResult {
  PairStats pairStats;
  int trainPairs = 0, validationPairs = 0;
  int trainProducts = 0, validationProducts = 0;
  PairMetrics train;
  std::optional<PairMetrics> validation;          // trained model, held-out products
  std::optional<PairMetrics> validationUntrained;  // the neutral prior, same pairs
  std::map<std::string, std::pair<PairMetrics, PairMetrics>> perCategory;  // held out: trained, untrained
  FeatureVector weights{};
  std::optional<double> ctrScale;  // log CTR ratio per logit, fitted on the training pairs
  std::string rankerId;
  std::filesystem::path modelFile;  // versioned file, empty when not saved
  std::filesystem::path logFile;
  int64_t runId = 0;
  int iterations = 0;
  double seconds = 0;
  std::string summary() const;
  std::string metricsJson() const;
};

// The pairs a reward-model run learns from: the project's click creatives, the pairs CAIG's rules
// allow and their split by product. Shared by the built-in and the neural training runs.
struct TrainingPairs {
  std::vector<ClickCreative> creatives;
  PairSet pairSet;
  PairSplit split;
};
// Throws RankerError when the project has no clicks or no pair passes the rules (saying how many
// candidates each rule skipped and which options change it).
TrainingPairs loadTrainingPairs(const Project& project, const PairRules& rules, double validationFraction,
                                std::uint64_t seed);

// What every training run starts with: its record in the store (`kind`, the configuration as
// JSON text) and where its JSON-lines log goes: `logFile` when given, else
// <project>/logs/<logPrefix>-<run id>.jsonl (the logs folder is created; the file is not).
struct StartedTrainingRun {
  std::int64_t runId = 0;
  std::filesystem::path logFile;
};
StartedTrainingRun startTrainingRun(Project& project, const std::string& kind, const std::string& configJson,
                                    const std::filesystem::path& logFile, const std::string& logPrefix);

// For a training run that threw: logs {"event": "failed"} (with `elapsed` seconds when >= 0) and
// marks the run failed in the store. Never throws: the caller rethrows the original error.
void recordFailedTrainingRun(Project& project, std::int64_t runId, JsonLinesLog& log, const std::string& error,
                             double elapsed = -1);

// Throws RankerError when there are no usable pairs (saying which rule skipped them), and
// StoreError / ImageError for a broken project. A failed run is recorded as "failed".
RmTrainResult trainBuiltinRewardModel(Project& project, const RmTrainOptions& options = {});

// The project's active trained builtin ranker weights (models/builtin-ranker.json), if any.
std::optional<std::filesystem::path> activeBuiltinRankerWeights(const Project& project);

}  // namespace caig
