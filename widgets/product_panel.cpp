#include "widgets/product_panel.h"

#include <QAction>
#include <QFormLayout>
#include <QImageReader>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

namespace caig::ui {

ProductPanel::ProductPanel(QWidget* parent) : QWidget(parent) {
  list_ = new QListWidget(this);
  list_->setObjectName("productList");
  list_->setViewMode(QListView::IconMode);
  list_->setIconSize(QSize(96, 96));
  list_->setResizeMode(QListView::Adjust);
  list_->setMovement(QListView::Static);
  list_->setSpacing(6);
  list_->setWordWrap(true);
  // Room for a title on up to three lines under the thumbnail, so long names are not clipped.
  list_->setGridSize(QSize(128, 160));
  list_->setTextElideMode(Qt::ElideRight);

  title_ = new QLineEdit(this);
  title_->setObjectName("productTitle");
  title_->setPlaceholderText(tr("e.g. Amber Eau de Parfum 50 ml"));
  category_ = new QLineEdit(this);
  category_->setObjectName("productCategory");
  category_->setPlaceholderText(tr("e.g. fragrance"));
  import_ = new QPushButton(tr("Import Shot…"), this);

  auto* form = new QFormLayout;
  form->addRow(tr("Title"), title_);
  form->addRow(tr("Category"), category_);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(list_, 1);
  layout->addLayout(form);
  layout->addWidget(import_);

  connect(list_, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
    if (!item) return;
    const qint64 id = item->data(Qt::UserRole).toLongLong();
    showDetails(id);
    Q_EMIT productSelected(id);
  });
  // Clicking the selected product again returns the canvas to it (e.g. from a variant).
  connect(list_, &QListWidget::itemClicked, this,
          [this](QListWidgetItem* item) { Q_EMIT productSelected(item->data(Qt::UserRole).toLongLong()); });
  connect(title_, &QLineEdit::editingFinished, this, &ProductPanel::emitEdit);
  connect(category_, &QLineEdit::editingFinished, this, &ProductPanel::emitEdit);
  connect(import_, &QPushButton::clicked, this, &ProductPanel::importRequested);

  // Delete (the key while the list has the focus, or a right click) asks the window to delete.
  auto* remove = new QAction(tr("Delete Product…"), list_);
  remove->setObjectName("deleteProductAction");
  remove->setShortcut(QKeySequence::Delete);
  remove->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  connect(remove, &QAction::triggered, this, [this] {
    if (const qint64 id = currentProductId()) Q_EMIT deleteRequested(id);
  });
  auto* importAction = new QAction(tr("Import Shot…"), list_);
  connect(importAction, &QAction::triggered, this, &ProductPanel::importRequested);
  list_->addAction(importAction);
  list_->addAction(remove);
  list_->setContextMenuPolicy(Qt::ActionsContextMenu);
}

void ProductPanel::setProducts(const std::vector<caig::Product>& products, const std::vector<QString>& shotPaths) {
  const qint64 keep = currentProductId();
  QSignalBlocker block(list_);
  list_->clear();
  products_ = products;
  for (std::size_t i = 0; i < products.size(); ++i) {
    QImageReader reader(shotPaths[i]);
    reader.setScaledSize(QSize(96, 96));
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(reader.read())),
                                     QString::fromStdString(products[i].title), list_);
    item->setData(Qt::UserRole, static_cast<qlonglong>(products[i].id));
    item->setToolTip(QString::fromStdString(products[i].title));
  }
  if (keep) selectProduct(keep);
}

void ProductPanel::selectProduct(qint64 id) {
  for (int i = 0; i < list_->count(); ++i) {
    if (list_->item(i)->data(Qt::UserRole).toLongLong() == id) {
      list_->setCurrentRow(i);  // emits productSelected unless blocked
      showDetails(id);
      return;
    }
  }
}

qint64 ProductPanel::currentProductId() const {
  const auto* item = list_->currentItem();
  return item ? item->data(Qt::UserRole).toLongLong() : 0;
}

QString ProductPanel::title() const { return title_->text(); }
QString ProductPanel::category() const { return category_->text(); }

void ProductPanel::showDetails(qint64 id) {
  for (const auto& p : products_) {
    if (p.id == id) {
      title_->setText(QString::fromStdString(p.title));
      category_->setText(QString::fromStdString(p.category));
      return;
    }
  }
}

void ProductPanel::emitEdit() {
  const qint64 id = currentProductId();
  if (!id) return;
  for (auto& p : products_) {
    if (p.id != id) continue;
    if (QString::fromStdString(p.title) == title_->text() && QString::fromStdString(p.category) == category_->text()) {
      return;  // nothing changed
    }
    p.title = title_->text().toStdString();
    p.category = category_->text().toStdString();
    if (auto* item = list_->currentItem()) item->setText(title_->text());
    Q_EMIT productEdited(id, title_->text(), category_->text());
    return;
  }
}

}  // namespace caig::ui
