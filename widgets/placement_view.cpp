#include "widgets/placement_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QWheelEvent>
#include <QWidget>
#include <algorithm>
#include <cmath>

namespace caig::ui {

namespace {
constexpr double kMargin = 36.0;     // around the ad frame, room for the caption
constexpr double kHandleSize = 12.0;  // surface pixels
constexpr double kWheelStep = 1.1;    // scale factor per wheel notch

const QColor kBackground(0x2b, 0x2d, 0x31);
const QColor kAdFill(0xd8, 0xd6, 0xd2);  // a neutral stand-in for the generated background
const QColor kGuide(0, 170, 255);
const QColor kProductEdge(255, 176, 32);

QRect toQRect(const cv::Rect& r) { return QRect(r.x, r.y, r.width, r.height); }
}  // namespace

PlacementView::PlacementView(QWidget* surface) : QObject(surface), surface_(surface) {}

void PlacementView::setProduct(const QImage& image, const QImage& mask) {
  crop_ = {};
  box_ = {};
  if (!image.isNull() && !mask.isNull() && mask.size() == image.size()) {
    const QImage grey = mask.convertToFormat(QImage::Format_Grayscale8);
    const cv::Mat alpha(grey.height(), grey.width(), CV_8UC1, const_cast<uchar*>(grey.constBits()),
                        static_cast<size_t>(grey.bytesPerLine()));
    try {
      box_ = caig::productBox(alpha);
      QImage composite = image.convertToFormat(QImage::Format_ARGB32);
      composite.setAlphaChannel(grey);
      crop_ = composite.copy(toQRect(box_)).convertToFormat(QImage::Format_ARGB32_Premultiplied);
    } catch (const caig::CompositionError&) {
      box_ = {};  // an empty cutout: nothing to place
    }
  }
  surface_->update();
}

void PlacementView::setAdSize(QSize size, const QString& label) {
  if (size.width() <= 0 || size.height() <= 0) return;
  adSize_ = size;
  adLabel_ = label;
  surface_->update();
}

void PlacementView::setPlacementOverride(const std::optional<caig::PlacementOverride>& placement) {
  override_ = placement;
  drag_ = Drag::None;
  surface_->update();
}

void PlacementView::reset() {
  if (!hasProduct() || !override_) return;
  const auto before = override_;
  override_.reset();
  finishEdit(before, false);
}

caig::Placement PlacementView::basePlacement() const {
  return caig::defaultPlacement(box_, {adSize_.width(), adSize_.height()});
}

QRect PlacementView::productRect() const {
  if (!hasProduct()) return {};
  return toQRect(caig::productPlacement(box_, {adSize_.width(), adSize_.height()}, override_).target);
}

QRect PlacementView::guideRect() const {
  const caig::CompositionParams params;
  const int w = static_cast<int>(std::floor(params.fill * adSize_.width()));
  const int h = static_cast<int>(std::floor(params.fill * adSize_.height()));
  return QRect((adSize_.width() - w) / 2, (adSize_.height() - h) / 2, w, h);
}

double PlacementView::viewScale() const {
  const double w = std::max(1.0, surface_->width() - 2 * kMargin);
  const double h = std::max(1.0, surface_->height() - 2 * kMargin);
  return std::max(1e-3, std::min(w / adSize_.width(), h / adSize_.height()));
}

QRectF PlacementView::adFrame() const {
  const double s = viewScale();
  const QSizeF size(adSize_.width() * s, adSize_.height() * s);
  return QRectF(QPointF((surface_->width() - size.width()) / 2.0, (surface_->height() - size.height()) / 2.0), size);
}

QPointF PlacementView::toWidget(QPointF adPos) const { return adFrame().topLeft() + adPos * viewScale(); }
QPointF PlacementView::toAd(QPointF widgetPos) const { return (widgetPos - adFrame().topLeft()) / viewScale(); }

QRectF PlacementView::handleRect() const {
  const QRect r = productRect();
  const QPointF corner = toWidget(QPointF(r.x() + r.width(), r.y() + r.height()));
  return QRectF(corner - QPointF(kHandleSize / 2, kHandleSize / 2), QSizeF(kHandleSize, kHandleSize));
}

void PlacementView::paint(QPainter& p) {
  p.fillRect(surface_->rect(), kBackground);
  const QRectF frame = adFrame();
  p.fillRect(frame, kAdFill);
  p.setRenderHint(QPainter::Antialiasing);
  p.setRenderHint(QPainter::SmoothPixmapTransform);

  if (hasProduct()) {
    const QRect r = productRect();
    const QRectF target(toWidget(r.topLeft()), toWidget(QPointF(r.x() + r.width(), r.y() + r.height())));
    // What falls outside the ad is shown faintly: generation clips it.
    p.setOpacity(0.3);
    p.drawImage(target, crop_);
    p.setOpacity(1.0);
    p.save();
    p.setClipRect(frame);
    p.drawImage(target, crop_);
    p.restore();
    p.setPen(QPen(kProductEdge, 1.0));
    p.setBrush(Qt::NoBrush);
    p.drawRect(target);
    p.setBrush(kProductEdge);
    p.setPen(QPen(Qt::black, 1.0));
    p.drawRect(handleRect());
  }

  // CAIG's rule: the product fits 0.78 of the ad in both dimensions, centred.
  const QRect g = guideRect();
  const QRectF guide(toWidget(g.topLeft()), toWidget(QPointF(g.x() + g.width(), g.y() + g.height())));
  p.setBrush(Qt::NoBrush);
  p.setPen(QPen(kGuide, 1.5, Qt::DashLine));
  p.drawRect(guide);
  p.setPen(kGuide);
  p.drawText(guide.adjusted(6, 4, -6, -4), Qt::AlignLeft | Qt::AlignTop, tr("CAIG 0.78"));
  p.setPen(QPen(QColor(255, 255, 255, 200), 1.0));
  p.drawRect(frame);

  const QString size = QStringLiteral("%1×%2").arg(adSize_.width()).arg(adSize_.height());
  QString caption = adLabel_.isEmpty() ? size : adLabel_;  // the label names the size already
  if (!hasProduct()) {
    p.setPen(QColor(0x40, 0x40, 0x40));
    p.drawText(frame, Qt::AlignCenter | Qt::TextWordWrap, tr("Cut out the product first (Ctrl+K) to place it"));
  } else if (!override_) {
    caption += tr("  ·  CAIG default placement");
  } else {
    const auto o = current();
    caption += tr("  ·  scale %1%  ·  moved %2%, %3%  ·  double-click to reset")
                   .arg(qRound(o.scale * 100))
                   .arg(o.dx * 100, 0, 'f', 1)
                   .arg(o.dy * 100, 0, 'f', 1);
  }
  p.setPen(QColor(0xd0, 0xd3, 0xd8));
  // Wrapped, never clipped, in a narrow canvas: two lines fit under the frame.
  QFont small = p.font();
  small.setPointSizeF(small.pointSizeF() * 0.9);
  p.setFont(small);
  p.drawText(QRectF(8, frame.bottom() + 4, surface_->width() - 16, kMargin - 4),
             Qt::AlignHCenter | Qt::AlignTop | Qt::TextWordWrap, caption);
}

void PlacementView::propose(const caig::PlacementOverride& candidate) {
  override_ = caig::clampPlacementOverride(basePlacement(), candidate, {adSize_.width(), adSize_.height()});
  surface_->update();
}

void PlacementView::finishEdit(const std::optional<caig::PlacementOverride>& before, bool wheel) {
  surface_->update();
  if (before != override_) Q_EMIT placementEdited(before, override_, wheel);
}

void PlacementView::mousePress(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton || !hasProduct()) return;
  dragStart_ = override_;
  pressAd_ = toAd(event->position());
  drag_ = handleRect().adjusted(-4, -4, 4, 4).contains(event->position()) ? Drag::Scale : Drag::Move;
}

void PlacementView::mouseMove(QMouseEvent* event) {
  if (drag_ == Drag::None) return;
  const auto start = dragStart_.value_or(caig::PlacementOverride{});
  const QPointF here = toAd(event->position());
  if (drag_ == Drag::Move) {
    const QPointF delta = here - pressAd_;
    propose({start.scale, start.dx + delta.x() / adSize_.width(), start.dy + delta.y() / adSize_.height()});
    return;
  }
  // The handle: the distance from the product's centre grows or shrinks the scale with it.
  const QRectF r = productRect();
  const QPointF centre = r.center();
  const double from = std::hypot(pressAd_.x() - centre.x(), pressAd_.y() - centre.y());
  const double to = std::hypot(here.x() - centre.x(), here.y() - centre.y());
  if (from > 1.0) propose({start.scale * to / from, start.dx, start.dy});
}

void PlacementView::mouseRelease(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton || drag_ == Drag::None) return;
  drag_ = Drag::None;
  finishEdit(dragStart_, false);
}

void PlacementView::mouseDoubleClick(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton) reset();
}

void PlacementView::wheel(QWheelEvent* event) {
  event->accept();
  const double steps = event->angleDelta().y() / 120.0;
  if (steps == 0.0 || !hasProduct() || drag_ != Drag::None) return;
  const auto before = override_;
  const auto o = current();
  propose({o.scale * std::pow(kWheelStep, steps), o.dx, o.dy});
  finishEdit(before, true);
}

PlacementCommand::PlacementCommand(Apply apply, qint64 productId, std::optional<caig::PlacementOverride> before,
                                   std::optional<caig::PlacementOverride> after, bool mergeable, const QString& text)
    : QUndoCommand(text), apply_(std::move(apply)), productId_(productId), before_(std::move(before)),
      after_(std::move(after)), mergeable_(mergeable) {}

void PlacementCommand::redo() {
  if (first_) {
    first_ = false;
    return;
  }
  apply_(productId_, after_);
}

bool PlacementCommand::mergeWith(const QUndoCommand* other) {
  const auto* next = dynamic_cast<const PlacementCommand*>(other);
  if (!next || !mergeable_ || !next->mergeable_ || next->productId_ != productId_) return false;
  after_ = next->after_;
  return true;
}

}  // namespace caig::ui
