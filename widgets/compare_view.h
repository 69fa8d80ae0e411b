#pragma once
// Compare: two or more selected variants side by side with P(A beats B) and its 95 % interval,
// the pairwise matrix of the product's ranked batch (colour scale), and the pairs worth testing
// next with real users. The math is core/ranking/compare_math.h; this only shows it.

#include <QDialog>
#include <vector>

#include "widgets/variant_view.h"

class QLabel;
class QListWidget;
class QTableWidget;

namespace caig::ui {

class CompareView : public QDialog {
  Q_OBJECT
 public:
  // `batch`: all variants of the product; `selected`: the ids to put side by side.
  CompareView(const std::vector<VariantView>& batch, const QList<qint64>& selected, QWidget* parent = nullptr);

  QTableWidget* matrix() const { return matrix_; }
  QListWidget* testNext() const { return testNext_; }
  QLabel* pairSummary() const { return pairs_; }

 private:
  QLabel* pairs_;
  QTableWidget* matrix_;
  QListWidget* testNext_;
};

}  // namespace caig::ui
