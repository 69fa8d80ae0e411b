#pragma once
// The Variants dock: the product's variants as thumbnails labelled with their predicted rank,
// score and P(beats the original); sorting (rank, score, newest), filtering (favourites,
// prompt text), and a details pane with every parameter of the selected variant. It shows what
// it is given and asks the window for actions through signals.

#include <QWidget>
#include <vector>

#include "widgets/variant_view.h"

class QCheckBox;
class QComboBox;
class QLineEdit;
class QListWidget;
class QPushButton;
class QTextBrowser;

namespace caig::ui {

class VariantGrid : public QWidget {
  Q_OBJECT
 public:
  enum class Sort { Rank, Score, Newest };
  explicit VariantGrid(QWidget* parent = nullptr);

  // Keeps the selection (by id) where the variants are still shown.
  void setVariants(std::vector<VariantView> variants);
  QList<qint64> selectedIds() const;
  QList<qint64> shownIds() const;  // in display order
  void setSort(Sort sort);
  QListWidget* list() const { return list_; }

 Q_SIGNALS:
  void variantShown(qint64 id);
  void favouriteToggled(qint64 id, bool favourite);
  void sameSeedRequested(qint64 id);
  void compareRequested(const QList<qint64>& ids);
  void exportRequested(const QList<qint64>& ids);

 private:
  void refill();
  void showDetails();
  const VariantView* view(qint64 id) const;

  std::vector<VariantView> variants_;
  QComboBox* sort_;
  QCheckBox* favouritesOnly_;
  QLineEdit* search_;
  QListWidget* list_;
  QPushButton* favourite_;
  QPushButton* sameSeed_;
  QPushButton* compare_;
  QPushButton* export_;
  QTextBrowser* details_;
};

}  // namespace caig::ui
