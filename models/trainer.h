#pragma once
// A small training loop over LibTorch autograd: AdamW (torch::optim::AdamW) on the trainable
// tensors, a cosine schedule with linear warm-up, gradient accumulation and clipping, a step
// callback and a JSON-lines log, cancellation between steps, and checkpoints that a new process
// resumes bit for bit: the trainable weights (by the job, e.g. an adapter folder), the optimiser
// state as safetensors ("<name>.exp_avg", "<name>.exp_avg_sq", "<name>.step"), and
// trainer_state.json (step, seed, data cursor). No pickle anywhere. Torch-light header.

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/io/json_lines_log.h"

namespace caig {

class DataParallel;

struct TrainerOptions {
  double learningRate = 2e-5;  // peak, after warm-up
  double weightDecay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 1;  // length of the cosine decay (optimiser steps)
  int64_t gradientAccumulation = 1;
  double maxGradNorm = 1.0;  // <= 0: no clipping
  uint64_t seed = 0;         // data order and per-step RNG seeds derive from it
};

// transformers' get_cosine_schedule_with_warmup factor for 0-based optimiser step `step`.
double cosineWarmupFactor(int64_t step, int64_t warmupSteps, int64_t totalSteps);

struct StepReport {
  int64_t step = 0;  // optimiser steps done, this one included
  double loss = 0.0;  // mean over the step's micro-batches
  double learningRate = 0.0;
  double tokensPerSecond = 0.0;
  double gradNorm = 0.0;  // before clipping
  double communicationSeconds = 0.0;  // in the data-parallel all-reduce (0 in one process)
};

// What one micro-batch produced: its loss (mean over its examples) and how many tokens it ran.
struct MicroBatch {
  at::Tensor loss;
  int64_t tokens = 0;
};

class Trainer {
 public:
  // `parameters`: the trainable tensors (requires_grad), named for the optimiser-state file.
  Trainer(std::vector<std::pair<std::string, at::Tensor>> parameters, const TrainerOptions& options);
  ~Trainer();
  Trainer(Trainer&&) noexcept;
  Trainer& operator=(Trainer&&) noexcept;

  const TrainerOptions& options() const;
  int64_t step() const;  // optimiser steps done
  double learningRateAt(int64_t step) const;
  // One optimiser step: seeds the device's RNG from (seed, step) so dropout is reproducible
  // across a resume, runs microBatch(k) for k in [0, gradientAccumulation) and backpropagates
  // each loss / gradientAccumulation, clips, steps AdamW at the scheduled rate.
  // `microBatches` < 0: gradientAccumulation (an epoch's last step may have fewer).
  // A micro-batch may return an undefined loss: nothing of it ran here (a data-parallel rank
  // with none of its records). With data parallelism, the gradients (and the loss) are summed
  // over the ranks before clipping, so each rank's micro-batch loss must already be its share
  // of the global mean (runTraining scales it); every rank then takes the same step.
  StepReport trainStep(const std::function<MicroBatch(int64_t micro)>& microBatch, int64_t microBatches = -1);
  // Data parallelism: gradients are all-reduced over `parallel` (not owned; null: one process).
  void setDataParallel(DataParallel* parallel);
  // Every rank takes rank `root`'s weights, optimiser moments and step counts (a data-parallel
  // start or resume: only rank 0 reads the checkpoint).
  void broadcastState(DataParallel& parallel, int root = 0);

  // Optimiser state as safetensors (atomic write); loading checks every name and shape first
  // and sets step() from it. Throws io::FileError / io::FormatError.
  void saveOptimizerState(const std::filesystem::path& file) const;
  void loadOptimizerState(const std::filesystem::path& file);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};


// A dataset of `records` examples, `batchSize` per micro-batch, `epochs` passes, each pass in an
// order drawn from (seed, epoch); the data cursor is the number of records consumed so far.
struct TrainingJob {
  int64_t records = 0;
  int64_t batchSize = 1;
  int64_t epochs = 1;
  // The loss on the records with these indices (autograd on).
  std::function<MicroBatch(const std::vector<int64_t>& indices)> lossOn;
  // The trainable weights into / out of a checkpoint folder (an adapter folder, a head file).
  std::function<void(const std::filesystem::path& dir)> saveWeights;
  std::function<void(const std::filesystem::path& dir)> loadWeights;
  // Data parallelism: whether record i is this rank's (its data is here). Empty: every record.
  // The record order and every micro-batch are the same as in one process; a rank runs the
  // loss on its records of each micro-batch, weighted by their share of it, so the summed
  // gradient is one process's (exact for a loss that is a mean over the micro-batch's records).
  std::function<bool(int64_t record)> isLocal;
};

struct TrainingRunOptions {
  std::filesystem::path checkpointDir;  // empty: no checkpoints
  int64_t checkpointEvery = 0;          // steps; 0: only at the end, on cancel and on stopAfterSteps
  std::filesystem::path logFile;        // empty: no JSON-lines log
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const StepReport&)> onStep;
  int64_t stopAfterSteps = -1;  // >= 0: return once step() reaches it (the run can resume later)
  // A checkpoint folder to continue from (weights, optimiser state, cursor).
  std::filesystem::path resumeFrom;
  // Data parallelism (not owned): rank 0 alone reads the checkpoint to resume from and writes
  // checkpoints and the log; cancellation is agreed between the ranks before every step.
  DataParallel* parallel = nullptr;
};

struct TrainingRunResult {
  int64_t steps = 0;   // optimiser steps done in total
  int64_t cursor = 0;  // records consumed in total
  bool cancelled = false;
  bool finished = false;  // every epoch done
  std::filesystem::path lastCheckpoint;
  std::vector<StepReport> reports;  // this call's steps
};

// Optimiser steps a job takes: ceil(records / (batch * accumulation)) per epoch (a micro-batch
// never crosses an epoch's end).
int64_t trainingSteps(const TrainingJob& job, int64_t gradientAccumulation);
// The record order of one epoch.
std::vector<int64_t> epochOrder(int64_t records, uint64_t seed, int64_t epoch);

TrainingRunResult runTraining(Trainer& trainer, const TrainingJob& job, const TrainingRunOptions& options);
// The checkpoint folder with the highest step under `checkpointDir` ("checkpoint-<step>" holding
// a trainer_state.json), or nullopt.
std::optional<std::filesystem::path> latestCheckpoint(const std::filesystem::path& checkpointDir);

}  // namespace caig
