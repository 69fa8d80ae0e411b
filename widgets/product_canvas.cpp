#include "widgets/product_canvas.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

#include "widgets/placement_view.h"

namespace caig::ui {

namespace {
constexpr double kMinZoom = 0.02;
constexpr double kMaxZoom = 32.0;

// Checkerboard behind transparency, fixed to the screen like Krita's.
QPixmap checkerboard() {
  const int cell = 8;
  QPixmap tile(2 * cell, 2 * cell);
  tile.fill(QColor(0xcc, 0xcc, 0xcc));
  QPainter tp(&tile);
  tp.fillRect(0, 0, cell, cell, QColor(0x99, 0x99, 0x99));
  tp.fillRect(cell, cell, cell, cell, QColor(0x99, 0x99, 0x99));
  return tile;
}
}  // namespace

ProductCanvas::ProductCanvas(QWidget* parent) : QWidget(parent) {
  setMinimumSize(320, 240);
  setFocusPolicy(Qt::StrongFocus);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setToolTip(tr("Scroll to zoom, drag to pan, Ctrl+0 to fit"));
  placement_ = new PlacementView(this);
}

void ProductCanvas::setImage(const QImage& image) {
  image_ = image;
  mask_ = {};
  composite_ = {};
  painting_ = false;
  placement_->setProduct(image_, {});
  fitToView();
}

void ProductCanvas::setMask(const QImage& mask) {
  if (!mask.isNull() && mask.size() != image_.size()) return;  // a stale mask of another shot
  mask_ = mask.isNull() ? QImage() : mask.convertToFormat(QImage::Format_Grayscale8);
  placement_->setProduct(image_, mask_);
  updateComposite();
}

void ProductCanvas::updateComposite() {
  if (mask_.isNull()) {
    composite_ = {};
  } else {
    composite_ = image_.convertToFormat(QImage::Format_ARGB32);
    composite_.setAlphaChannel(mask_);
  }
  update();
}

void ProductCanvas::setTool(Tool tool) {
  tool_ = tool;
  setCursor(tool == Tool::Pan ? Qt::OpenHandCursor : tool == Tool::Place ? Qt::SizeAllCursor : Qt::CrossCursor);
  setMouseTracking(tool == Tool::KeepBrush || tool == Tool::RemoveBrush);
  update();
}

void ProductCanvas::setBrushSize(int imagePixels) {
  brushSize_ = std::clamp(imagePixels, 1, 1024);
  update();
}

void ProductCanvas::paintStroke(QPointF from, QPointF to) {
  QPainter p(&mask_);
  p.setRenderHint(QPainter::Antialiasing);
  const QColor ink = tool_ == Tool::KeepBrush ? Qt::white : Qt::black;
  p.setPen(QPen(ink, brushSize_, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
  if (from == to) {
    p.setPen(Qt::NoPen);
    p.setBrush(ink);
    p.drawEllipse(to, brushSize_ / 2.0, brushSize_ / 2.0);
  } else {
    p.drawLine(from, to);
  }
  p.end();
  updateComposite();
}

void ProductCanvas::fitToView() {
  fitted_ = true;
  if (image_.isNull() || width() <= 0 || height() <= 0) {
    update();
    return;
  }
  const double margin = 24.0;
  zoom_ = std::clamp(std::min((width() - margin) / image_.width(), (height() - margin) / image_.height()),
                     kMinZoom, kMaxZoom);
  offset_ = QPointF((width() - image_.width() * zoom_) / 2.0, (height() - image_.height() * zoom_) / 2.0);
  Q_EMIT zoomChanged(zoom_);
  update();
}

void ProductCanvas::actualSize() {
  zoomBy(1.0 / zoom_, rect().center());
}

void ProductCanvas::zoomBy(double factor, QPointF anchor) {
  if (image_.isNull()) return;
  const double next = std::clamp(zoom_ * factor, kMinZoom, kMaxZoom);
  const QPointF imagePoint = toImage(anchor);
  zoom_ = next;
  offset_ = anchor - imagePoint * zoom_;
  fitted_ = false;
  Q_EMIT zoomChanged(zoom_);
  update();
}

QPointF ProductCanvas::toImage(QPointF widgetPos) const { return (widgetPos - offset_) / zoom_; }

void ProductCanvas::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), QColor(0x2b, 0x2d, 0x31));
  if (image_.isNull()) {
    p.setPen(QColor(0xb0, 0xb4, 0xbb));
    p.drawText(rect(), Qt::AlignCenter, tr("Import a product shot (File > Import Product Shot…)"));
    return;
  }
  if (placing()) {
    placement_->paint(p);
    return;
  }
  const QRectF target(offset_, QSizeF(image_.width() * zoom_, image_.height() * zoom_));
  if (image_.hasAlphaChannel()) p.fillRect(target, QBrush(checkerboard()));
  if (!composite_.isNull()) {
    p.fillRect(target, QBrush(checkerboard()));
  }
  p.setRenderHint(QPainter::SmoothPixmapTransform, zoom_ < 2.0);
  p.drawImage(target, composite_.isNull() ? image_ : composite_);
  if ((tool_ == Tool::KeepBrush || tool_ == Tool::RemoveBrush) && rect().contains(cursorPos_.toPoint())) {
    p.setRenderHint(QPainter::Antialiasing);
    p.setBrush(Qt::NoBrush);
    const double r = brushSize_ * zoom_ / 2.0;
    p.setPen(QPen(QColor(0, 0, 0, 160), 2.0));
    p.drawEllipse(cursorPos_, r, r);
    p.setPen(QPen(tool_ == Tool::KeepBrush ? QColor(120, 255, 140) : QColor(255, 110, 110), 1.0));
    p.drawEllipse(cursorPos_, r, r);
  }
}

void ProductCanvas::wheelEvent(QWheelEvent* event) {
  if (placing()) return placement_->wheel(event);
  const double steps = event->angleDelta().y() / 120.0;
  if (steps != 0.0) zoomBy(std::pow(1.15, steps), event->position());
  event->accept();
}

void ProductCanvas::mousePressEvent(QMouseEvent* event) {
  if (placing()) return placement_->mousePress(event);
  const bool brush = tool_ == Tool::KeepBrush || tool_ == Tool::RemoveBrush;
  if (event->button() == Qt::LeftButton && brush && maskEditable_ && !image_.isNull()) {
    painting_ = true;
    strokeStart_ = mask_.copy();  // null when there was no mask: undo removes it again
    if (mask_.isNull()) {  // no cutout yet (or none found): the user paints one by hand
      mask_ = QImage(image_.size(), QImage::Format_Grayscale8);
      mask_.fill(0);
    }
    lastPaint_ = toImage(event->position());
    paintStroke(lastPaint_, lastPaint_);
    return;
  }
  if ((event->button() == Qt::LeftButton && tool_ == Tool::Pan) || event->button() == Qt::MiddleButton) {
    dragging_ = true;
    dragStart_ = event->position() - offset_;
    setCursor(Qt::ClosedHandCursor);
  }
}

void ProductCanvas::mouseMoveEvent(QMouseEvent* event) {
  if (placing()) return placement_->mouseMove(event);
  cursorPos_ = event->position();
  if (painting_) {
    const QPointF here = toImage(event->position());
    paintStroke(lastPaint_, here);
    lastPaint_ = here;
    return;
  }
  if (tool_ != Tool::Pan) update();  // the brush outline follows the pointer
  if (!dragging_) return;
  offset_ = event->position() - dragStart_;
  fitted_ = false;
  update();
}

void ProductCanvas::mouseReleaseEvent(QMouseEvent* event) {
  if (placing()) return placement_->mouseRelease(event);
  if (painting_) {
    painting_ = false;
    Q_EMIT maskEdited(strokeStart_, mask_);
    strokeStart_ = {};
    return;
  }
  if (dragging_) {
    dragging_ = false;
    setCursor(tool_ == Tool::Pan ? Qt::OpenHandCursor : tool_ == Tool::Place ? Qt::SizeAllCursor : Qt::CrossCursor);
  }
}

void ProductCanvas::mouseDoubleClickEvent(QMouseEvent* event) {
  if (placing()) return placement_->mouseDoubleClick(event);
  QWidget::mouseDoubleClickEvent(event);
}

void ProductCanvas::leaveEvent(QEvent*) {
  cursorPos_ = QPointF(-1, -1);
  update();
}

void ProductCanvas::resizeEvent(QResizeEvent*) {
  if (fitted_) fitToView();
}

}  // namespace caig::ui
