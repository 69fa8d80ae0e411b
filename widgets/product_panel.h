#pragma once
// The product dock: the project's products as thumbnails, and the selected product's title and
// category (what the prompt writer and the reward model read); Delete (key or right click) asks
// the window to delete the current product.

#include <QWidget>
#include <vector>

#include "core/project/project_store.h"

class QLineEdit;
class QListWidget;
class QPushButton;

namespace caig::ui {

class ProductPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ProductPanel(QWidget* parent = nullptr);

  // `thumbnails` are paths of the shots, parallel to `products`.
  void setProducts(const std::vector<caig::Product>& products, const std::vector<QString>& shotPaths);
  void selectProduct(qint64 id);
  qint64 currentProductId() const;
  QString title() const;
  QString category() const;

 Q_SIGNALS:
  void productSelected(qint64 id);
  void productEdited(qint64 id, const QString& title, const QString& category);
  void importRequested();
  void deleteRequested(qint64 id);

 private:
  void showDetails(qint64 id);
  void emitEdit();

  QListWidget* list_;
  QLineEdit* title_;
  QLineEdit* category_;
  QPushButton* import_;
  std::vector<caig::Product> products_;
};

}  // namespace caig::ui
