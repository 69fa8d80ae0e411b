#include "core/training/neural_training_jobs.h"

#include "core/llava/llava_engine_common.h"
#include "core/training/neural_rm_training.h"
#include "core/project/project.h"
#include "models/trainer.h"

namespace caig {

NeuralRmJobResult runNeuralRewardModelTraining(Project& project, const NeuralRmJobOptions& options) {
  NeuralRmOptions o;
  o.modelDir = options.modelDir;
  o.steps = options.steps;
  o.learningRate = options.learningRate;
  o.lora.rank = options.loraRank;
  o.lora.alpha = 2.0 * static_cast<double>(options.loraRank);
  o.batchSize = options.batchSize;
  o.device = options.device;
  o.rules = options.rules;
  o.validationFraction = options.validationFraction;
  o.seed = options.seed;
  o.pairSide = options.pairSide;
  o.evalEvery = options.evalEvery;
  o.name = options.name;
  o.logFile = options.logFile;
  o.resume = options.resume;
  o.merge = options.merge;
  o.checkpointEvery = options.checkpointEvery;
  o.cancel = options.cancel;
  o.progress = options.progress;

  const NeuralRmResult r = trainNeuralRewardModel(project, o);
  NeuralRmJobResult out;
  out.pairs = r.pairStats.pairs;
  out.trainPairs = r.trainPairs;
  out.validationPairs = r.validationPairs;
  out.validationProducts = r.validationProducts;
  out.trainBefore = r.trainBefore;
  out.trainAfter = r.trainAfter;
  out.validationBefore = r.validationBefore;
  out.validationAfter = r.validationAfter;
  out.steps = r.steps;
  out.resumedFromStep = r.resumedFromStep;
  out.cancelled = r.cancelled;
  out.device = r.device;
  out.adapterDir = r.adapterDir;
  out.mergedDir = r.mergedDir;
  out.lastCheckpoint = r.lastCheckpoint;
  out.logFile = r.logFile;
  out.seconds = r.seconds;
  out.summary = r.summary();
  return out;
}

std::filesystem::path neuralRmCheckpointDir(const Project& project, const std::filesystem::path& modelDir,
                                            const std::string& name) {
  // As trainNeuralRewardModel names its run.
  return project.absolute("checkpoints/" + (name.empty() ? modelFolderName(modelDir) + "-ft" : name));
}

bool hasNeuralRmCheckpoint(const Project& project, const std::filesystem::path& modelDir, const std::string& name) {
  try {
    return latestCheckpoint(neuralRmCheckpointDir(project, modelDir, name)).has_value();
  } catch (const std::exception&) {
    return false;  // an unreadable folder is nothing to resume from
  }
}

}  // namespace caig
