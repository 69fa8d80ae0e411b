#pragma once
// Helpers the core tests share: the bundled demo shots' exact masks (and tests/models/test_util.h's).

#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <string>

#include "../models/test_util.h"
#include "core/image/image_io.h"

namespace caig::test {

inline const std::filesystem::path kDemoDir = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

// resources/demo/<name>.alpha.png as CV_8UC1.
inline cv::Mat demoAlpha(const std::string& name) {
  cv::Mat a = loadImage(kDemoDir / (name + ".alpha.png"));
  if (a.channels() != 1) cv::extractChannel(a, a, 0);
  return a;
}

}  // namespace caig::test
