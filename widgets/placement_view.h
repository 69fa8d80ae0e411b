#pragma once
// The Place tool over the product canvas: the ad frame of the chosen ad size with the cut-out
// product laid out as generation will lay it out (core/generation/composition.h productPlacement), CAIG's
// 0.78 rule as a dashed guide, and the user's edits: drag moves the product, the wheel or the
// corner handle scales it about its centre, a double-click returns to CAIG's default. At least
// 10% of the product's width and height stay on the ad. ProductCanvas forwards its paint, mouse
// and wheel events here while the tool is active; every finished edit is reported once, for the
// store and the undo stack.

#include <QImage>
#include <QObject>
#include <QPointF>
#include <QRect>
#include <QString>
#include <QUndoCommand>
#include <functional>
#include <optional>

#include "core/generation/composition.h"

class QMouseEvent;
class QPainter;
class QWheelEvent;
class QWidget;

namespace caig::ui {

class PlacementView : public QObject {
  Q_OBJECT
 public:
  // Draws on and repaints `surface` (the canvas), and lays the ad frame out in its rectangle.
  explicit PlacementView(QWidget* surface);

  // The product shot and its cutout (Grayscale8, 255 = product); a null or empty mask = nothing
  // to place yet.
  void setProduct(const QImage& image, const QImage& mask);
  bool hasProduct() const { return !crop_.isNull(); }
  // The ad size to frame (an adPresets() size) and its name with its size (adPresetText) for the
  // caption; without a name the caption shows the size.
  void setAdSize(QSize size, const QString& label = {});
  QSize adSize() const { return adSize_; }
  // The product's stored placement; none = CAIG's default. Not an edit (no signal).
  void setPlacementOverride(const std::optional<caig::PlacementOverride>& placement);
  const std::optional<caig::PlacementOverride>& placementOverride() const { return override_; }
  // Back to CAIG's default placement, as an edit.
  void reset();

  // Where the product lands and CAIG's 0.78 box, in ad pixels (empty without a product).
  QRect productRect() const;
  QRect guideRect() const;
  // Ad pixels <-> surface positions.
  QPointF toWidget(QPointF adPos) const;
  QPointF toAd(QPointF widgetPos) const;

  void paint(QPainter& painter);
  void mousePress(QMouseEvent* event);
  void mouseMove(QMouseEvent* event);
  void mouseRelease(QMouseEvent* event);
  void mouseDoubleClick(QMouseEvent* event);
  void wheel(QWheelEvent* event);

 Q_SIGNALS:
  // A finished edit (drag, handle, wheel step, reset): the override before and after it, none =
  // the default. `wheel`: a wheel step, which the undo stack merges with the steps before it.
  void placementEdited(const std::optional<caig::PlacementOverride>& before,
                       const std::optional<caig::PlacementOverride>& after, bool wheel);

 private:
  enum class Drag { None, Move, Scale };
  caig::PlacementOverride current() const { return override_.value_or(caig::PlacementOverride{}); }
  caig::Placement basePlacement() const;
  // Clamps and applies `candidate` (live, during a drag), repainting the surface.
  void propose(const caig::PlacementOverride& candidate);
  void finishEdit(const std::optional<caig::PlacementOverride>& before, bool wheel);
  double viewScale() const;
  QRectF adFrame() const;  // the ad in surface coordinates
  QRectF handleRect() const;

  QWidget* surface_;
  QImage crop_;  // premultiplied ARGB of the product's alpha box
  cv::Rect box_;
  QSize adSize_{1080, 1080};
  QString adLabel_;
  std::optional<caig::PlacementOverride> override_;
  Drag drag_ = Drag::None;
  std::optional<caig::PlacementOverride> dragStart_;
  QPointF pressAd_;
};

// One placement edit as an undo step: the product's override before and after it. `apply`
// stores an override and shows it (MainWindow::applyPlacement).
class PlacementCommand : public QUndoCommand {
 public:
  using Apply = std::function<void(qint64 productId, const std::optional<caig::PlacementOverride>&)>;
  PlacementCommand(Apply apply, qint64 productId, std::optional<caig::PlacementOverride> before,
                   std::optional<caig::PlacementOverride> after, bool mergeable, const QString& text);
  void undo() override { apply_(productId_, before_); }
  void redo() override;
  int id() const override { return 0x504c; }  // 'PL'
  // Consecutive wheel steps on one product become one step.
  bool mergeWith(const QUndoCommand* other) override;

 private:
  Apply apply_;
  qint64 productId_;
  std::optional<caig::PlacementOverride> before_, after_;
  bool mergeable_;
  bool first_ = true;  // the edit is already applied when the command is pushed
};

}  // namespace caig::ui
