#pragma once
// How `caig rank` reports a ranking, for the built-in and the neural ranker alike: a JSON
// document (--json) or a table, best first, with creative 0 as the reference.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/ranking/compare_math.h"
#include "core/ranking/ctr_ranker.h"
#include "core/ranking/variant_ranking.h"

namespace caig::cli {

// Creative i's lift over the first (the reference), with the ranker's own uncertainty when
// `bases` holds one per creative (CtrRanker::uncertaintyBasis).
inline CtrLift liftOverFirst(const CtrRanker& ranker, const RankingResult& r, std::size_t i,
                             const std::vector<std::vector<double>>& bases) {
  const LogitEstimate e = versusReference(r, i, bases);
  return ctrLiftFromDifference(e.logit, e.stdError, 1.96, ranker.ctrScale().value_or(1.0));
}

// The document's head and one entry per creative; callers add what their ranker knows more.
inline nlohmann::json rankingJson(const CtrRanker& ranker, const RankingResult& r,
                                  const std::vector<std::filesystem::path>& files,
                                  const std::vector<std::vector<double>>& bases = {}) {
  nlohmann::json j{{"model", ranker.id()},
                   {"status", ranker.status()},
                   {"schedule", r.schedule},
                   {"comparisons", r.comparisons},
                   {"creatives", nlohmann::json::array()}};
  for (std::size_t i = 0; i < files.size(); ++i) {
    const CtrLift lift = liftOverFirst(ranker, r, i, bases);
    j["creatives"].push_back(
        {{"file", files[i].string()},
         {"rank", r.rank[i]},
         {"score", r.score[i]},
         {"stdError", r.stdError[i]},
         {"winVsReference", r.winVsReference[i]},
         {"winVsBestOther", r.winVsBestOther[i]},
         {"liftVsReference",
          {{"lift", lift.lift}, {"low", lift.low}, {"high", lift.high}, {"verdict", verdictText(lift.verdict)}}}});
  }
  return j;
}

// `notes[i]` (may be empty) follows creative i's file name.
inline void printRankingTable(const CtrRanker& ranker, const RankingResult& r,
                              const std::vector<std::filesystem::path>& files,
                              const std::vector<std::string>& notes = {},
                              const std::vector<std::vector<double>>& bases = {}) {
  std::printf("ranked %zu images with %s (%s, %d comparisons); %s\n", files.size(), ranker.id().c_str(),
              r.schedule.c_str(), r.comparisons, ranker.status().c_str());
  std::printf("rank  score +- std err  P(beats the first)  CTR lift over the first (95 %%), verdict  file\n");
  std::vector<std::size_t> order(files.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return r.rank[x] < r.rank[y]; });
  for (const std::size_t i : order) {
    const CtrLift lift = liftOverFirst(ranker, r, i, bases);
    const std::string readout =
        i == 0 ? std::string("reference") : formatLiftInterval(lift) + ", " + verdictText(lift.verdict);
    std::printf("%4d  %+6.2f +- %5.2f   %17s  %s  %s%s\n", r.rank[i], r.score[i], r.stdError[i],
                i == 0 ? "reference" : cv::format("%.2f", r.winVsReference[i]).c_str(), readout.c_str(),
                files[i].string().c_str(), i < notes.size() ? notes[i].c_str() : "");
  }
}

}  // namespace caig::cli
