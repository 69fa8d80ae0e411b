#pragma once
// The central canvas: shows the current product shot (or variant) with zoom and pan, and the
// product's cutout mask, which the keep/remove brushes refine. Transparent pixels sit on a
// checkerboard, as in every image editor. The middle button always pans. The Place tool hands
// the canvas to a PlacementView (the product on the ad frame) while a product shot is shown.

#include <QImage>
#include <QPointF>
#include <QWidget>

namespace caig::ui {

class PlacementView;

class ProductCanvas : public QWidget {
  Q_OBJECT
 public:
  explicit ProductCanvas(QWidget* parent = nullptr);

  enum class Tool { Pan, KeepBrush, RemoveBrush, Place };

  void setImage(const QImage& image);  // fits it to the view; clears the mask
  const QImage& image() const { return image_; }
  // Grayscale8 of the image's size (255 = product), or a null image for none.
  void setMask(const QImage& mask);
  const QImage& mask() const { return mask_; }
  bool hasMask() const { return !mask_.isNull(); }
  void setTool(Tool tool);
  // Off while a generated variant is shown: the brushes edit product masks only.
  void setMaskEditable(bool editable) {
    maskEditable_ = editable;
    update();
  }
  Tool tool() const { return tool_; }
  PlacementView* placementView() const { return placement_; }
  // The Place tool on a product shot (a shown variant keeps the plain view).
  bool placing() const { return tool_ == Tool::Place && maskEditable_; }
  void setBrushSize(int imagePixels);
  int brushSize() const { return brushSize_; }
  double zoom() const { return zoom_; }
  bool hasImage() const { return !image_.isNull(); }

  void zoomBy(double factor, QPointF anchor);  // anchor in widget coordinates stays put
  void zoomIn() { zoomBy(1.25, rect().center()); }
  void zoomOut() { zoomBy(1.0 / 1.25, rect().center()); }
  void fitToView();
  void actualSize();
  // Widget position -> image pixel (may lie outside the image).
  QPointF toImage(QPointF widgetPos) const;
  QPointF toWidget(QPointF imagePos) const { return imagePos * zoom_ + offset_; }

 Q_SIGNALS:
  void zoomChanged(double zoom);
  // A finished brush stroke: the mask before and after it (for undo).
  void maskEdited(const QImage& before, const QImage& after);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  void paintStroke(QPointF from, QPointF to);
  void updateComposite();

  QImage image_;
  QImage mask_;
  QImage composite_;  // image with the mask as alpha, what is drawn when a mask exists
  QImage strokeStart_;
  PlacementView* placement_ = nullptr;
  Tool tool_ = Tool::Pan;
  bool maskEditable_ = true;
  int brushSize_ = 24;
  bool painting_ = false;
  QPointF lastPaint_;
  QPointF cursorPos_{-1, -1};
  double zoom_ = 1.0;
  QPointF offset_;  // widget position of the image's top-left corner
  QPointF dragStart_;
  bool dragging_ = false;
  bool fitted_ = true;  // keeps fitting on resize until the user zooms
};

}  // namespace caig::ui
