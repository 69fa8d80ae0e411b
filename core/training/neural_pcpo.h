#pragma once
// CAIG's PCPO rounds for the LLaVA prompt model (iterative offline DPO + the product-centric
// term), with DESIGN.md's defaults: 5 rounds; per round, products sampled from the project, two
// prompts each at temperature 1.0 by the current policy, both rendered, the ranker picks chosen
// and rejected, one epoch of LoRA (r 128, alpha 256, lr 2e-5) on
//   DPO(beta 0.5) + 1.0 * PCPO(beta_pc 0.5)
// against the frozen reference = the starting model (the same weights with adapters disabled;
// no second copy). x~ of PCPO: 50% the product image with 75% of its 32-px patches zeroed, 50%
// another record's question (another product's title) with this product's image.
//
// Rounds share ONE adapter that keeps training from round to round, so the policy of round k+1
// is the merged model of round k while the reference stays the starting model (CAIG merges and
// restarts LoRA; one running adapter is the same policy with the delta kept at rank r). After
// each round: <project>/models/<name>/round-<k>/adapter (PEFT files: the delta from the
// starting model) and .../round-<k>/model (a standalone merged LLaVA folder with the tokenizer,
// loadable by LlavaModel::load and `caig prompts --engine llava`), registered in the store.
//
// Rendering: each prompt goes through the generation job (core/generation/generation_job.h) with
// NeuralPcpoOptions::renderEngine, by default the built-in backdrops (their style taken from style
// words in the text, e.g. "marble", "beach", "gradient"), or any registered engine such as SD1.5 +
// ControlNet, as CAIG renders with its generator. Render j (0, 1) of the k-th product of round r has seed
// `seed + 2 ((r - 1) productsPerRound + k) + j`. Logging and recording follow
// core/training/style_preferences.h: JSON lines (start / comparison / round / end / failed) in
// <project>/logs/pcpo-<run>.jsonl and a "pcpo" training run in the store. Torch-light header.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/generation/background_generator.h"
#include "core/training/neural_rm_training.h"

namespace caig {

class GeneratorCache;
class DataParallel;

class Project;
class CtrRanker;

// One product as the loop holds it, for the renderer.
struct PcpoProduct {
  std::string title, category;
  cv::Mat shot;   // BGR product shot (transparent pixels over white), what the prompt model sees
  cv::Mat alpha;  // CV_8UC1 product mask of the shot
  cv::Mat canvasProduct, canvasAlpha;  // the product laid out on the ad canvas (CAIG placement)
};

struct NeuralPcpoOptions {
  std::filesystem::path modelDir;        // the starting prompt model (LLaVA folder)
  std::filesystem::path tokenizerDir;    // empty: the model folder (tokenizer.model)
  std::filesystem::path visionTowerDir;
  std::filesystem::path instructionsFile;  // empty: the default phrasings
  std::string device = "auto";
  std::string dtype = "auto";  // auto: fp32 on CPU, bf16 on CUDA

  int rounds = 5;
  int productsPerRound = 4;
  double temperature = 1.0;
  double topP = 1.0;
  int maxNewTokens = 77;
  double beta = 0.5;
  double betaPc = 0.5;
  double pcpoWeight = 1.0;
  double maskedShare = 0.5;     // share of records whose x~ is the masked image
  double maskedFraction = 0.75;  // of the 32-px patches
  int maskPatch = 32;
  NeuralLoraOptions lora;
  double learningRate = 2e-5;
  int64_t batchSize = 2;
  int64_t gradientAccumulation = 1;
  int64_t warmupSteps = 0;
  bool gradientCheckpointing = false;
  std::uint64_t seed = 1;

  std::string preset = "1:1-512";  // ad size of the renders
  std::string renderEngine = "builtin";  // the BackgroundGenerator that draws each prompt
  GeneratorSettings renderSettings = nlohmann::json::object();  // its options (unset = defaults)
  GeneratorCache* renderCache = nullptr;  // an engine already loaded (e.g. by the caller); null: loaded here
  int demoShotSize = 384;          // demo products' side when the project has none with a cutout
  std::string name;                // output folder under models/ (empty: "<model folder>-pcpo-<run>")
  std::filesystem::path logFile;   // empty: <project>/logs/pcpo-<run>.jsonl
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(int done, int total)> progress;  // products handled
  std::function<void(const std::string&)> note;       // one line per round for people
  // Data-parallel rounds (models/data_parallel.h; not owned; null: this process alone): every
  // rank runs this call alike; the k-th product of a round is rank k % world's (sampling, both
  // renders, ranking, its record's tensors), the answers are exchanged, the epoch's batches are
  // one process's with gradients summed over the ranks, and rank 0 writes the run record, log
  // and models. With lora.dropout 0 the adapter equals one process's up to summation order.
  DataParallel* parallel = nullptr;
};

// One product's two prompts and the ranker's verdict.
struct PcpoComparison {
  int round = 0;
  std::string product;
  std::string chosen, rejected;  // cleaned prompt texts
  double pChosenWins = 0.5;      // the ranker's P(chosen ad beats rejected ad)
};

// What one preference record was made of (ids as the tokenizer and the sampler gave them).
struct PcpoRecordInfo {
  std::string product;
  std::vector<std::int64_t> promptIds;  // "{system} USER: <image>\n{instruction} ASSISTANT:", one placeholder
  std::vector<std::int64_t> chosen, rejected;  // sampled answer ids (the stop token kept when sampled)
  bool maskedImage = false;                    // x~: this prompt with corruptedImage
  cv::Mat corruptedImage;                      // the masked product shot (BGR), empty otherwise
  std::vector<std::int64_t> corruptedPromptIds;  // x~'s ids: promptIds, or another record's question
};

struct PcpoRound {
  int round = 0;
  std::vector<PcpoRecordInfo> records;  // trained on, in order
  int skipped = 0;           // products whose two answers were identical
  int maskedImage = 0;       // records whose x~ is the masked image
  int otherText = 0;         // ... another record's question with this image
  double loss = 0;           // mean DPO + PCPO loss over the round's steps
  double marginBefore = 0;   // mean implicit reward margin of the records before the round's update
  double marginAfter = 0;    // ... after it
  double agreement = 0;      // share of records the policy now prefers as the ranker did (margin > 0)
  double meanPChosen = 0.5;  // the ranker's mean P(chosen beats rejected)
  std::filesystem::path adapterDir, modelDir;
};

struct NeuralPcpoResult {
  std::vector<PcpoComparison> comparisons;
  std::vector<PcpoRound> rounds;
  std::string productSource;
  std::string rankerId;
  std::string device;
  bool cancelled = false;
  std::filesystem::path outputDir;  // models/<name>
  std::filesystem::path logFile;
  int64_t runId = 0;
  double seconds = 0;
  std::string summary() const;
};

// Throws io::FileError / io::FormatError for a bad model folder or a missing tokenizer,
// std::invalid_argument for bad options. A failed run is recorded as "failed".
NeuralPcpoResult runNeuralPcpo(Project& project, CtrRanker& ranker, const NeuralPcpoOptions& options);

// The product shot with round(fraction * n) of its n patch x patch cells set to black (PCPO's
// masked-image input; edge cells partial), chosen by `seed`.
cv::Mat maskProductPatches(const cv::Mat& bgr, std::uint64_t seed, double fraction = 0.75, int patch = 32);

}  // namespace caig
