#include "widgets/qt_image.h"

namespace caig::ui {

QImage toQImage(const cv::Mat& image) {
  if (image.empty() || image.depth() != CV_8U) return {};
  QImage::Format format;
  switch (image.channels()) {
    case 1: format = QImage::Format_Grayscale8; break;
    case 3: format = QImage::Format_BGR888; break;
    case 4: format = QImage::Format_ARGB32; break;  // BGRA bytes on little-endian machines
    default: return {};
  }
  const QImage view(image.data, image.cols, image.rows, static_cast<qsizetype>(image.step[0]), format);
  return view.copy();
}

}  // namespace caig::ui
