#pragma once
// Compare: two or more selected variants side by side with the predicted CTR lift of one over the
// other, a plain verdict and P(A beats B), each with its 95 % interval; the pairwise matrix of the
// product's ranked batch (colour scale); the pairs worth testing next with real users; and which
// ranker made the numbers (uncalibrated before training, said at the top). The math is
// core/ranking/compare_math.h; this only shows it.

#include <QDialog>
#include <vector>

#include "core/ranking/active_ranker.h"
#include "widgets/variant_view.h"

class QLabel;
class QListWidget;
class QScrollArea;
class QTableWidget;

namespace caig::ui {

class CompareView : public QDialog {
  Q_OBJECT
 public:
  // `batch`: all variants of the product; `selected`: the ids to put side by side. Clicking a cell
  // of the pairwise matrix puts that pair side by side instead.
  CompareView(std::vector<VariantView> batch, const QList<qint64>& selected, const caig::ActiveRanker& ranker,
              QWidget* parent = nullptr);

  QTableWidget* matrix() const { return matrix_; }
  QListWidget* testNext() const { return testNext_; }
  QLabel* pairSummary() const { return pairs_; }
  QLabel* rankerNote() const { return rankerNote_; }
  const QList<qint64>& shownIds() const { return shown_; }
  int thumbnailSide() const { return thumbSide_; }

  // Puts `ids` side by side, with P(A beats B) for every pair of them.
  void showVariants(const QList<qint64>& ids);
  // Sizes the dialog and its thumbnails to fit `available` (a screen's available geometry); the
  // constructor calls it with the screen the dialog opens on.
  void fitToScreen(const QRect& available);

 private:
  std::vector<VariantView> batch_;
  std::vector<const VariantView*> ranked_;  // best first
  QList<qint64> shown_;
  int thumbSide_ = 280;
  QScrollArea* scroll_;
  QLabel* pairs_;
  QLabel* rankerNote_;
  QTableWidget* matrix_;
  QListWidget* testNext_;
};

}  // namespace caig::ui
