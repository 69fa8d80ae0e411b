#pragma once
// Helpers the core tests share: the bundled demo shots' exact masks, and an error's message.

#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <string>

#include "core/image/image_io.h"

namespace caig::test {

inline const std::filesystem::path kDemoDir = std::filesystem::path(CAIG_SOURCE_DIR) / "resources/demo";

// resources/demo/<name>.alpha.png as CV_8UC1.
inline cv::Mat demoAlpha(const std::string& name) {
  cv::Mat a = loadImage(kDemoDir / (name + ".alpha.png"));
  if (a.channels() != 1) cv::extractChannel(a, a, 0);
  return a;
}

// What `f` threw, or "(no error)".
inline std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace caig::test
