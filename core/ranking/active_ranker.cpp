#include "core/ranking/active_ranker.h"

#include <chrono>
#include <ctime>

#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/ranking/builtin_ranker.h"
#include "core/training/rm_training.h"

namespace caig {
namespace {

std::string localTime(const std::filesystem::path& file) {
  std::error_code ec;
  const auto written = std::filesystem::last_write_time(file, ec);
  if (ec) return {};
  // file_clock to system_clock without C++20's clock_cast: both tick now.
  const auto now = std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                          written - std::filesystem::file_time_type::clock::now());
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

bool inside(const std::filesystem::path& child, const std::filesystem::path& parent) {
  std::error_code ec;
  const auto c = std::filesystem::weakly_canonical(child, ec);
  const auto p = std::filesystem::weakly_canonical(parent, ec);
  if (ec) return false;
  const auto rel = c.lexically_relative(p);
  return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

ActiveRanker describeActiveRanker(const Project& project, const std::filesystem::path& rewardModelDir) {
  ActiveRanker out;
  if (!rewardModelDir.empty()) {
    out.kind = ActiveRanker::Kind::RewardModel;
    const std::string folder = modelFolderName(rewardModelDir);
    out.id = "llava-rm:" + folder + "@";
    out.name = "reward model " + folder;
    out.weights = rewardModelDir;
    // A reward model trained in the studio is written into the project; an installed one was
    // trained on someone else's clicks.
    out.calibrated = inside(rewardModelDir, project.dir());
    out.trainedAt = localTime(rewardModelDir / "config.json");
    out.status = out.calibrated ? "trained on this project's clicks"
                                : "trained on other clicks than yours: uncalibrated for your audience";
    if (out.calibrated) {
      // Its lifts read in CTR terms only with the scale its training run fitted.
      try {
        if (const auto scale = readCtrCalibration(rewardModelDir)) {
          out.status += cv::format("; CTR scale %.3f per logit", *scale);
        } else {
          out.status += "; no CTR scale saved with it, so lifts are the raw pairwise reading";
        }
      } catch (const std::exception& e) {
        out.status += std::string("; its CTR scale is unreadable (") + e.what() + ")";
      }
    }
    return out;
  }
  BuiltinRanker ranker;
  std::string unreadable;
  try {
    if (const auto weights = activeBuiltinRankerWeights(project)) {
      ranker.load(*weights);  // throws RankerError naming the file
      out.weights = *weights;
      out.trainedAt = localTime(*weights);
    }
  } catch (const std::exception& e) {
    ranker = BuiltinRanker();
    out.weights.clear();
    out.trainedAt.clear();
    unreadable = e.what();
  }
  out.id = ranker.id();
  out.status =
      unreadable.empty() ? ranker.status() : "the trained weights cannot be read (" + unreadable + "): using the prior";
  out.calibrated = ranker.trained();
  out.kind = ranker.trained() ? ActiveRanker::Kind::BuiltinTrained : ActiveRanker::Kind::BuiltinPrior;
  out.name = ranker.trained() ? "built-in, trained on your clicks" : "built-in prior";
  return out;
}

std::string rankerNote(const ActiveRanker& active) {
  const std::string when = active.trainedAt.empty() ? std::string() : " (" + active.trainedAt + ")";
  switch (active.kind) {
    case ActiveRanker::Kind::BuiltinPrior:
      return "Uncalibrated: ranked by the built-in design prior, not by clicks. It rewards clean, bright, "
             "uncluttered images, so the plain white original usually comes out ahead of every backdrop. "
             "Import your clicks and train the ranker (Training dock) to calibrate it.";
    case ActiveRanker::Kind::BuiltinTrained:
      return "Ranker: built-in, trained on your clicks" + when + ": " + active.status + ".";
    case ActiveRanker::Kind::RewardModel: return "Ranker: " + active.name + when + ": " + active.status + ".";
  }
  return {};
}

bool rankedBy(const std::string& storedRankerId, const ActiveRanker& active) {
  if (active.kind == ActiveRanker::Kind::RewardModel) return storedRankerId.rfind(active.id, 0) == 0;
  return storedRankerId == active.id;
}

}  // namespace caig
