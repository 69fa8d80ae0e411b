#pragma once
// The built-in preference loop (the [PCPO] loop on the built-in engines): the template planner
// writes two prompts for a product with its current style weights, the built-in generator
// renders both, the current ranker says which one gets the higher CTR, and the planner's style
// weights take a preference step. No large model anywhere, seconds per round on a CPU.
//
// The update. Each style s has a logit theta_s = ln(weight_s) (a missing style has weight 1,
// theta 0). The styles are modelled as a Bradley-Terry population, P(a beats b) =
// sigmoid(theta_a - theta_b), and the ranker's answer p = P(ad a beats ad b) is a soft label.
// One stochastic-gradient step on the log-likelihood p ln sigma(d) + (1 - p) ln sigma(-d),
// d = theta_a - theta_b:
//   g = p - sigmoid(theta_a - theta_b);  theta_a += lr * g;  theta_b -= lr * g,
// then each theta is clipped to [-maxLogWeight, maxLogWeight]. Antisymmetric (the sum of the
// logits is kept), a no-op when the planner already agrees with the ranker, and in the long run
// theta_a - theta_b approaches logit(p) averaged over products: styles the ranker prefers are
// sampled more (weights are the planner's sampling odds), the others less but never excluded.
// Weights are saved in the project (style_weights.json); TemplatePromptWriter reads them.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/prompts/prompt_writer.h"

namespace caig {

class Project;
class CtrRanker;
class TemplatePromptWriter;

// One preference step (see above) on `weights` (style id -> sampling weight).
void stylePreferenceUpdate(std::map<std::string, double>& weights, const std::string& styleA,
                           const std::string& styleB, double pAWins, double learningRate, double maxLogWeight = 3.0);

struct StylePreferenceOptions {
  int rounds = 3;
  int productsPerRound = 4;   // sampled (without repeats within a round) from the project's products
  std::uint64_t seed = 1;
  double learningRate = 0.5;
  double maxLogWeight = 3.0;
  std::string preset = "1:1-512";  // ad size of the two renders
  std::filesystem::path logFile;   // JSON lines; empty = <project>/logs/pcpo-<run>.jsonl
  std::function<void(int done, int total)> progress;
};

struct StyleComparison {
  int round = 0;
  std::string product;  // title
  std::string styleA, styleB;
  double pAWins = 0.5;  // the ranker's P(ad A beats ad B)
};

struct StylePreferenceResult {
  std::map<std::string, double> before, after;  // all styles of the library
  std::vector<StyleComparison> comparisons;
  std::filesystem::path weightsFile;
  std::filesystem::path logFile;
  int64_t runId = 0;
  std::string productSource;  // "project" or "demo products (the project has none with a cutout)"
  double seconds = 0;
};

// Products: the project's with a cutout; when there are none, the bundled demo products.
// Starts from the project's saved weights; saves the new ones and records the run.
StylePreferenceResult runStylePreferenceLoop(Project& project, CtrRanker& ranker, const StylePreferenceOptions& options = {});

}  // namespace caig
