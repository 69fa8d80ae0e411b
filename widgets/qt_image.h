#pragma once
// cv::Mat (BGR / BGRA / grey, 8-bit) -> QImage, deep-copied so the QImage owns its pixels.

#include <QImage>
#include <opencv2/core.hpp>

namespace caig::ui {

QImage toQImage(const cv::Mat& image);

}  // namespace caig::ui
