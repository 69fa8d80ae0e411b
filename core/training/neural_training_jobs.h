#pragma once
// The studio's door to the neural reward-model training (core/training/neural_rm_training.h includes ATen,
// which Qt code must not see): plain options and a plain result, no tensors. The run itself is
// trainNeuralRewardModel: LoRA on the LLaVA reward model's language model plus its score head,
// the same JSON-lines log events as the built-in ranker's run, the adapter in
// <project>/models/<name>/. Library: caig_core_training.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "core/clicks/click_pairs.h"
#include "core/training/rm_training.h"

namespace caig {

class Project;

struct NeuralRmJobOptions {
  std::filesystem::path modelDir;  // an installed reward-model folder (LLaVA + score.weight, tokenizer.model)
  int64_t steps = 100;             // optimiser steps
  double learningRate = 2e-5;      // CAIG's
  int64_t loraRank = 128;          // CAIG's r; alpha is twice the rank, as CAIG's 128 / 256
  int64_t batchSize = 4;
  std::string device = "auto";     // auto (CUDA when available) | cpu | cuda[:N]
  PairRules rules;
  double validationFraction = 0.2;  // of the products
  std::uint64_t seed = 1;
  int pairSide = 512;               // each creative's side in the pair image (CAIG: 512)
  int64_t evalEvery = 0;            // held-out metrics in the log every N steps (0: before / after only)
  std::string name;                 // output folder under models/ (empty: "<model folder>-ft")
  std::filesystem::path logFile;    // JSON-lines log (empty: <project>/logs/train-rm-<run>.jsonl)
  // Continue from the latest checkpoint of `name` (a stopped run) up to `steps` in total; false
  // starts afresh and clears that run's old checkpoints.
  bool resume = false;
  // Also write <project>/models/<name>/merged: a standalone reward model (the adapter merged in)
  // that the studio offers as a ranker. As large as the base model on disk.
  bool merge = false;
  int64_t checkpointEvery = 0;  // steps between checkpoints (0: only at the end and on cancel)
  const std::atomic<bool>* cancel = nullptr;  // stops between steps, with a checkpoint
  std::function<void(const RmProgress&)> progress;  // phase "features", then "train"
};

struct NeuralRmJobResult {
  int pairs = 0, trainPairs = 0, validationPairs = 0, validationProducts = 0;
  PairMetrics trainBefore, trainAfter;
  std::optional<PairMetrics> validationBefore, validationAfter;
  int64_t steps = 0;            // in total, a resumed run's earlier steps included
  int64_t resumedFromStep = 0;  // 0: a fresh run
  bool cancelled = false;
  std::string device;                 // where it ran: "cpu", "cuda:0"
  std::filesystem::path adapterDir;   // <project>/models/<name> (empty when cancelled)
  std::filesystem::path mergedDir;    // <project>/models/<name>/merged (empty without merge)
  std::filesystem::path lastCheckpoint;
  std::filesystem::path logFile;
  double seconds = 0;
  std::string summary;                // the CLI's multi-line report
};

// Runs the training (blocking: call it from a worker thread with the worker's own Project).
// Throws what trainNeuralRewardModel throws: RankerError (no usable pairs), io::FileError /
// io::FormatError (a broken model folder), std::invalid_argument (bad options).
NeuralRmJobResult runNeuralRewardModelTraining(Project& project, const NeuralRmJobOptions& options);

// The folder a run of `modelDir` named `name` (empty: the default) keeps its checkpoints in, and
// whether it holds one to resume from.
std::filesystem::path neuralRmCheckpointDir(const Project& project, const std::filesystem::path& modelDir,
                                            const std::string& name = {});
bool hasNeuralRmCheckpoint(const Project& project, const std::filesystem::path& modelDir,
                           const std::string& name = {});

}  // namespace caig
