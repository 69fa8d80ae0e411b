#pragma once
// Which ranker the studio ranks with and how far its numbers can be trusted: what the CTR
// readout says beside every lift ("uncalibrated" for the built-in prior), and whether a stored
// ranking came from it (else the studio offers to rank again). Torch-free: the neural reward
// model is described by its folder, never loaded here.

#include <filesystem>
#include <string>

namespace caig {

class Project;

struct ActiveRanker {
  enum class Kind { BuiltinPrior, BuiltinTrained, RewardModel };
  Kind kind = Kind::BuiltinPrior;
  // The stored ranker id of what it ranks with: exact for the built-in ranker ("builtin@1",
  // "builtin@1:1a2b3c4d"); for a reward model the id's prefix ("llava-rm:<folder>@"), the rest
  // being a fingerprint of the weights that only loading computes.
  std::string id;
  std::string name;               // "built-in prior", "built-in, trained on your clicks", "reward model <folder>"
  bool calibrated = false;        // fitted to this project's own clicks
  std::string trainedAt;          // when the weights were written ("2026-12-04 14:02", local); "" for the prior
  std::string status;             // how far to trust it, in one line
  std::filesystem::path weights;  // the trained built-in weights file, or the reward model folder
};

// `rewardModelDir`: the reward model the user picked ("" = the built-in ranker). A trained
// built-in weights file that cannot be read gives the prior, its status saying why.
ActiveRanker describeActiveRanker(const Project& project, const std::filesystem::path& rewardModelDir = {});

// What the studio says beside the lifts: which ranker ranked them and how far to trust it.
std::string rankerNote(const ActiveRanker& active);

// Whether a variant's stored ranker id came from `active`.
bool rankedBy(const std::string& storedRankerId, const ActiveRanker& active);

}  // namespace caig
