#include "widgets/product_canvas.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace caig::ui {

namespace {
constexpr double kMinZoom = 0.02;
constexpr double kMaxZoom = 32.0;
}  // namespace

ProductCanvas::ProductCanvas(QWidget* parent) : QWidget(parent) {
  setMinimumSize(320, 240);
  setFocusPolicy(Qt::StrongFocus);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setToolTip(tr("Scroll to zoom, drag to pan, Ctrl+0 to fit"));
}

void ProductCanvas::setImage(const QImage& image) {
  image_ = image;
  fitToView();
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
  const QRectF target(offset_, QSizeF(image_.width() * zoom_, image_.height() * zoom_));
  if (image_.hasAlphaChannel()) {
    // Checkerboard behind transparency, fixed to the screen like Krita's.
    const int cell = 8;
    QPixmap tile(2 * cell, 2 * cell);
    tile.fill(QColor(0xcc, 0xcc, 0xcc));
    QPainter tp(&tile);
    tp.fillRect(0, 0, cell, cell, QColor(0x99, 0x99, 0x99));
    tp.fillRect(cell, cell, cell, cell, QColor(0x99, 0x99, 0x99));
    p.fillRect(target, QBrush(tile));
  }
  p.setRenderHint(QPainter::SmoothPixmapTransform, zoom_ < 2.0);
  p.drawImage(target, image_);
}

void ProductCanvas::wheelEvent(QWheelEvent* event) {
  const double steps = event->angleDelta().y() / 120.0;
  if (steps != 0.0) zoomBy(std::pow(1.15, steps), event->position());
  event->accept();
}

void ProductCanvas::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton || event->button() == Qt::MiddleButton) {
    dragging_ = true;
    dragStart_ = event->position() - offset_;
    setCursor(Qt::ClosedHandCursor);
  }
}

void ProductCanvas::mouseMoveEvent(QMouseEvent* event) {
  if (!dragging_) return;
  offset_ = event->position() - dragStart_;
  fitted_ = false;
  update();
}

void ProductCanvas::mouseReleaseEvent(QMouseEvent*) {
  dragging_ = false;
  unsetCursor();
}

void ProductCanvas::resizeEvent(QResizeEvent*) {
  if (fitted_) fitToView();
}

}  // namespace caig::ui
