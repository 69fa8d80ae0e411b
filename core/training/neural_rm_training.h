#pragma once
// Fine-tuning the LLaVA pairwise reward model (CAIG's RM) on a project's clicks: LoRA on the
// language model plus a trainable score head (and point head when the model has one).
//
// Data: same-product pairs with CAIG's rules (core/clicks/click_pairs.h), split by PRODUCT. Each pair
// gives two examples, one per order: the two creatives resized to pairSide x pairSide and put
// left | right (core/llava/clip_preprocess.h sideBySide), CLIP pad preprocessing at the model's image
// size, and "<image>\n{reward question with the product title} ASSISTANT:"; label 0 when the
// left creative has the higher CTR, 1 otherwise; point targets = the two CTRs when there is a
// point head. The vision tower is frozen, so every example's input embeddings are computed once.
//
// Training: models/preference_training.h's reward job under models/trainer.h (AdamW, cosine with
// warm-up, gradient accumulation, clipping), checkpoints every N steps into
// <project>/checkpoints/<name>/checkpoint-<step> (adapter + heads + optimiser + cursor), resume
// from the latest, cancellation between steps (with a checkpoint). Evaluation before and after on
// the held-out products: pairwise accuracy and log-loss with both orders averaged (as the
// ranker scores). The JSON-lines log has core/training/rm_training.h's events (start / step / end /
// failed, plus "cancelled"), so the studio's training panel reads both kinds of run.
//
// Output in <project>/models/<name>/: adapter_config.json + adapter_model.safetensors (PEFT) +
// reward_heads.safetensors + reward_model.json (base folder, metrics); with `merge`, also
// <project>/models/<name>/merged/: a standalone reward-model folder (`caig rank --model`).
// Registered in the project's store ("adapter", "reward"). Torch-light header (no torch.h).

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clicks/click_pairs.h"
#include "core/training/rm_training.h"

namespace caig {

class Project;
class LlavaRewardModel;
class LlamaModel;
class LoraAdapters;
class DataParallel;

struct NeuralLoraOptions {
  int64_t rank = 128;  // DESIGN.md (CAIG): r 128, alpha 256
  double alpha = 256;
  double dropout = 0.05;
  // PEFT target_modules; LLaVA's LoRA recipe adapts every linear layer of the language model.
  std::vector<std::string> targetModules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
};

struct NeuralRmOptions {
  std::filesystem::path modelDir;        // reward-model folder (LLaVA + score.weight)
  std::filesystem::path tokenizerDir;    // empty: the model folder
  std::filesystem::path visionTowerDir;  // original-layout folders without their CLIP tower
  std::filesystem::path instructionsFile;  // empty: the default (has the reward question)
  std::string device = "auto";           // auto (CUDA when available) | cpu | cuda[:N]
  std::string dtype = "auto";            // auto: fp32 on CPU, bf16 on CUDA | fp32 | fp16 | bf16
  // A LLaVA folder without a score head starts one (nn.Linear init); else that is an error.
  bool newHead = false;
  bool pointHead = false;  // with newHead: also a point head (CTR regression, weight pointWeight)

  PairRules rules;
  double validationFraction = 0.2;  // of the products
  std::uint64_t seed = 1;           // split, data order, adapter init
  int pairSide = 512;               // each creative's side in the pair image (CAIG: 512)

  NeuralLoraOptions lora;
  int64_t steps = 100;  // optimiser steps (epochs repeat the data as needed)
  int64_t batchSize = 4;
  int64_t gradientAccumulation = 1;
  double learningRate = 2e-5;
  double weightDecay = 0.0;
  int64_t warmupSteps = 0;
  double maxGradNorm = 1.0;
  double pointWeight = 0.5;
  bool gradientCheckpointing = false;

  std::string name;            // output folder under models/ (empty: "<base folder>-ft")
  int64_t checkpointEvery = 0;  // steps; 0: only at the end / on cancel
  bool resume = false;          // continue from the latest checkpoint of `name`; false clears them
  int64_t evalEvery = 0;        // held-out metrics in the log every N steps (0: before/after only)
  bool merge = false;           // also write a standalone merged reward-model folder
  // When set, the model folder's modelFolderFingerprint must be this (a training bundle names
  // the studio's base model so that a server cannot train on another one by mistake).
  std::string expectedBaseFingerprint;
  std::filesystem::path logFile;  // empty: <project>/logs/train-rm-<run>.jsonl
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const RmProgress&)> progress;  // phase "features" (examples built) or "train"
  // Data-parallel training (models/data_parallel.h; not owned; null: this process alone). Every
  // rank runs this call with the same options on the same project and model; the pairs are
  // split between the ranks by product (core/training/distributed.h), each rank builds the
  // examples of its products only, the batches and steps are one process's (batchSize is the
  // global micro-batch), gradients are summed after each accumulation window, and rank 0 alone
  // writes the run record, log, checkpoints and models. With lora.dropout 0 the weights equal
  // one process's up to summation order; with dropout, the masks differ.
  DataParallel* parallel = nullptr;
};

struct NeuralRmResult {
  PairStats pairStats;
  int trainPairs = 0, validationPairs = 0;
  int trainProducts = 0, validationProducts = 0;
  int trainExamples = 0;  // both orders of every train pair
  PairMetrics trainBefore, trainAfter;
  std::optional<PairMetrics> validationBefore, validationAfter;
  // Log CTR ratio per logit, fitted on the training pairs after training (see fitCtrScale), and
  // written into the merged folder's ctr_calibration.json so its rankings read in CTR terms.
  std::optional<double> ctrScale;
  std::vector<double> stepLosses;  // this call's steps
  int64_t steps = 0;               // optimiser steps done in total (a resumed run counts earlier ones)
  int64_t resumedFromStep = 0;     // 0: fresh start
  bool cancelled = false;
  bool newHead = false;
  std::string device;
  std::filesystem::path adapterDir;    // models/<name> (empty when cancelled)
  std::filesystem::path mergedDir;     // models/<name>/merged (empty without merge)
  std::filesystem::path checkpointDir;  // checkpoints/<name>
  std::filesystem::path lastCheckpoint;
  std::filesystem::path logFile;
  int64_t runId = 0;
  double seconds = 0;
  double trainSeconds = 0;          // in the optimiser steps of this call
  double communicationSeconds = 0;  // of which in the data-parallel all-reduce
  int worldSize = 1, rank = 0;
  std::string summary() const;
  std::string metricsJson() const;
};

// Throws RankerError when the project has no usable pairs (saying which rule skipped them),
// io::FileError / io::FormatError for a bad model folder (no score head without newHead,
// missing tokenizer) and std::invalid_argument for bad options. A failed run is recorded as
// "failed" in the store and the log.
NeuralRmResult trainNeuralRewardModel(Project& project, const NeuralRmOptions& options);

// A reward model from a trained adapter folder (as written above): the base folder named in its
// reward_model.json (or `baseDir` when given) with the adapter merged in and the trained heads.
// Throws io::FileError / io::FormatError.
LlavaRewardModel loadAdaptedRewardModel(const std::filesystem::path& adapterDir,
                                        const std::filesystem::path& baseDir = {}, const std::string& device = "cpu");

// A standalone LLaVA folder = the base folder's checkpoint with the language model's adapted
// weights replaced by their merged values W + scale * B A (computed aside: `model` itself keeps
// its base weights, so it can stay the DPO reference), `extraTensors` added or replacing
// same-named ones (reward heads), config.json and tokenizer files copied. Written atomically
// file by file into `outDir` (created). An original-layout base whose CLIP tower lives in another
// folder gets that folder's absolute path as mm_vision_tower.
// `tokenizerDir` (when not the base folder) supplies tokenizer files the base folder lacks. The
// folder appears whole or not at all (written beside it, then renamed).
void saveMergedLlavaFolder(const std::filesystem::path& baseDir, const LlamaModel& model, const LoraAdapters& lora,
                           const std::filesystem::path& outDir,
                           const std::vector<std::pair<std::string, at::Tensor>>& extraTensors = {},
                           const std::filesystem::path& tokenizerDir = {},
                           const std::filesystem::path& visionTowerDir = {});

// The key prefix of the language model inside a LLaVA checkpoint: "language_model." for the
// transformers layout, "" for the original one (PEFT names adapters after it).
std::string llavaLanguageKeyPrefix(const std::filesystem::path& modelDir);

}  // namespace caig
