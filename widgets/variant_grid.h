#pragma once
// The Variants dock: the product's variants as thumbnails labelled with their predicted rank,
// predicted CTR lift (over the original or over the best variant) and a plain verdict; a note
// on which ranker ranked them and how far to trust it (with Re-rank when the ranks come from
// another ranker than the active one); sorting (rank, score, newest), filtering (favourites,
// prompt text), and a details pane with every parameter of the selected variant. It shows what
// it is given and asks the window for actions through signals.

#include <QWidget>
#include <optional>
#include <vector>

#include "core/ranking/active_ranker.h"
#include "core/ranking/compare_math.h"
#include "widgets/variant_view.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QTextBrowser;

namespace caig::ui {

class VariantGrid : public QWidget {
  Q_OBJECT
 public:
  enum class Sort { Rank, Score, Newest };
  enum class LiftBaseline { Original, BestVariant };
  explicit VariantGrid(QWidget* parent = nullptr);

  // Keeps the selection (by id) where the variants are still shown.
  void setVariants(std::vector<VariantView> variants);
  QList<qint64> selectedIds() const;
  QList<qint64> shownIds() const;  // in display order
  void setSort(Sort sort);
  // The ranker the studio ranks with now: its note above the grid, and Re-rank when a shown
  // ranking came from another one.
  void setRanker(const caig::ActiveRanker& ranker);
  void setLiftBaseline(LiftBaseline baseline);
  // The selected variant's lift over the chosen baseline; empty when it is not ranked (or is
  // the best variant itself, for that baseline).
  std::optional<caig::CtrLift> lift(const VariantView& view) const;
  QListWidget* list() const { return list_; }

 Q_SIGNALS:
  void variantShown(qint64 id);
  void favouriteToggled(qint64 id, bool favourite);
  void sameSeedRequested(qint64 id);
  void compareRequested(const QList<qint64>& ids);
  void exportRequested(const QList<qint64>& ids);
  void rerankRequested();
  void deleteRequested(const QList<qint64>& ids);

 private:
  void refill();
  void showDetails();
  void updateRankerNote();
  QString label(const VariantView& view) const;
  const VariantView* best() const;
  const VariantView* view(qint64 id) const;

  std::vector<VariantView> variants_;
  std::optional<caig::ActiveRanker> ranker_;
  QLabel* rankerNote_;
  QPushButton* rerank_;
  QComboBox* baseline_;
  QComboBox* sort_;
  QCheckBox* favouritesOnly_;
  QLineEdit* search_;
  QListWidget* list_;
  QPushButton* favourite_;
  QPushButton* sameSeed_;
  QPushButton* compare_;
  QPushButton* export_;
  QPushButton* delete_;
  QTextBrowser* details_;
};

}  // namespace caig::ui
