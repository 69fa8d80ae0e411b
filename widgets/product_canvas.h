#pragma once
// The central canvas: shows the current product shot (or variant) with zoom and pan.
// Transparent pixels sit on a checkerboard, as in every image editor.

#include <QImage>
#include <QPointF>
#include <QWidget>

namespace caig::ui {

class ProductCanvas : public QWidget {
  Q_OBJECT
 public:
  explicit ProductCanvas(QWidget* parent = nullptr);

  void setImage(const QImage& image);  // fits it to the view
  const QImage& image() const { return image_; }
  double zoom() const { return zoom_; }
  bool hasImage() const { return !image_.isNull(); }

  void zoomBy(double factor, QPointF anchor);  // anchor in widget coordinates stays put
  void zoomIn() { zoomBy(1.25, rect().center()); }
  void zoomOut() { zoomBy(1.0 / 1.25, rect().center()); }
  void fitToView();
  void actualSize();
  // Widget position -> image pixel (may lie outside the image).
  QPointF toImage(QPointF widgetPos) const;

 Q_SIGNALS:
  void zoomChanged(double zoom);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  QImage image_;
  double zoom_ = 1.0;
  QPointF offset_;  // widget position of the image's top-left corner
  QPointF dragStart_;
  bool dragging_ = false;
  bool fitted_ = true;  // keeps fitting on resize until the user zooms
};

}  // namespace caig::ui
