#include "widgets/prompts_panel.h"

#include <QApplication>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPainter>
#include <QPushButton>
#include <QSignalBlocker>
#include <QStyledItemDelegate>
#include <QVBoxLayout>
#include <algorithm>
#include <functional>
#include <stdexcept>

#include "core/project/project.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

constexpr int kPadding = 4;  // around an item's text, in pixels

QFont sourceFont(const QFont& base) {
  QFont small = base;
  small.setPointSizeF(base.pointSizeF() > 0 ? base.pointSizeF() * 0.85 : 8.0);
  return small;
}

// Paints a prompt as its word-wrapped text with its source underneath, small and grey; the
// checkbox (pinned) and the selection are the style's. Refuses to store an empty edit.
class PromptDelegate : public QStyledItemDelegate {
 public:
  PromptDelegate(std::function<void()> emptyEdit, QObject* parent)
      : QStyledItemDelegate(parent), emptyEdit_(std::move(emptyEdit)) {}

  void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    const QString text = opt.text;
    opt.text.clear();  // the style draws background, selection, checkbox and focus; the text is ours
    const QWidget* widget = opt.widget;
    QStyle* style = widget ? widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, widget);

    const QRect area = textArea(opt);
    const bool selected = opt.state & QStyle::State_Selected;
    const auto group = opt.state & QStyle::State_Enabled ? QPalette::Normal : QPalette::Disabled;
    painter->save();
    painter->setFont(opt.font);
    painter->setPen(opt.palette.color(group, selected ? QPalette::HighlightedText : QPalette::Text));
    QRect used;
    painter->drawText(area, Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, text, &used);
    const QFont small = sourceFont(opt.font);
    painter->setFont(small);
    QColor grey = opt.palette.color(group, selected ? QPalette::HighlightedText : QPalette::PlaceholderText);
    if (selected) grey.setAlphaF(0.75);
    painter->setPen(grey);
    const QFontMetrics metrics(small);
    const QString source = metrics.elidedText(index.data(PromptsPanel::SourceRole).toString(), Qt::ElideRight, area.width());
    painter->drawText(QRect(area.left(), used.bottom() + 3, area.width(), metrics.height()), Qt::AlignLeft | Qt::AlignTop,
                      source);
    painter->restore();
  }

  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override {
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    // As wide as the list shows, so that long prompts wrap instead of scrolling sideways.
    if (const auto* view = qobject_cast<const QAbstractItemView*>(opt.widget)) {
      opt.rect = QRect(0, 0, view->viewport()->width(), 1000);
    }
    const QRect area = textArea(opt);
    const QRect text = QFontMetrics(opt.font).boundingRect(QRect(0, 0, std::max(area.width(), 40), 100000),
                                                            Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, opt.text);
    const int height = text.height() + 3 + QFontMetrics(sourceFont(opt.font)).height() + 2 * kPadding + 2;
    return {opt.rect.width(), height};
  }

  void setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const override {
    if (const auto* line = qobject_cast<const QLineEdit*>(editor); line && line->text().trimmed().isEmpty()) {
      emptyEdit_();  // keep the old text; the panel says why
      return;
    }
    QStyledItemDelegate::setModelData(editor, model, index);
  }

 private:
  // Where the text goes: the style's text rectangle (beside the checkbox), less some padding.
  static QRect textArea(const QStyleOptionViewItem& opt) {
    QStyle* style = opt.widget ? opt.widget->style() : QApplication::style();
    return style->subElementRect(QStyle::SE_ItemViewItemText, &opt, opt.widget)
        .adjusted(kPadding, kPadding, -kPadding, -kPadding);
  }

  std::function<void()> emptyEdit_;
};

}  // namespace

// The list: says what to do when it is empty, and deletes the selected prompt on Delete.
class PromptList : public QListWidget {
 public:
  using QListWidget::QListWidget;
  std::function<void()> onDelete;
  QString emptyText;

 protected:
  void keyPressEvent(QKeyEvent* event) override {
    if (event->key() == Qt::Key_Delete && state() != EditingState && onDelete) {
      onDelete();
      event->accept();
      return;
    }
    QListWidget::keyPressEvent(event);
  }

  void paintEvent(QPaintEvent* event) override {
    QListWidget::paintEvent(event);
    if (count() > 0 || emptyText.isEmpty()) return;
    QPainter painter(viewport());
    painter.setPen(palette().color(QPalette::PlaceholderText));
    painter.drawText(viewport()->rect().adjusted(12, 12, -12, -12), Qt::AlignHCenter | Qt::AlignTop | Qt::TextWordWrap,
                     emptyText);
  }
};

PromptsPanel::PromptsPanel(QWidget* parent) : QWidget(parent) {
  list_ = new PromptList(this);
  list_->setObjectName("promptList");
  list_->setWordWrap(true);
  list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);  // whole prompts, not a sideways scroll
  list_->setResizeMode(QListView::Adjust);                         // re-wrap when the dock is resized
  list_->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
  list_->setSelectionMode(QAbstractItemView::SingleSelection);
  list_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  list_->setItemDelegate(new PromptDelegate(
      [this] { showFeedback(tr("A prompt cannot be empty: the old text is kept."), true); }, list_));
  list_->setToolTip(tr("Background prompts for this product and who wrote them.\n"
                       "Check one to pin it: every engine uses pinned prompts first.\n"
                       "Double-click or F2 to edit, Delete to remove."));
  list_->onDelete = [this] { deleteSelectedPrompt(); };

  input_ = new QLineEdit(this);
  input_->setObjectName("promptInput");
  input_->setPlaceholderText(tr("Your own prompt, e.g. linen backdrop, soft morning light"));
  input_->setToolTip(tr("Describe a background; Enter or Add stores it for this product"));
  input_->setClearButtonEnabled(true);
  add_ = new QPushButton(tr("Add"), this);
  add_->setObjectName("promptAdd");
  add_->setToolTip(tr("Add the prompt typed beside it to this product's prompts"));
  edit_ = new QPushButton(tr("Edit"), this);
  edit_->setObjectName("promptEdit");
  edit_->setToolTip(tr("Edit the selected prompt's text (or double-click it, or press F2).\n"
                       "An edited generated prompt becomes yours: its source says what it was edited from."));
  delete_ = new QPushButton(tr("Delete"), this);
  delete_->setObjectName("promptDelete");
  delete_->setToolTip(tr("Delete the selected prompt (Delete key).\nVariants made with it stay and keep its text."));
  auto* hint = new QLabel(tr("Checked = pinned (every engine uses it first). Double-click or F2 edits, Delete removes."), this);
  hint->setObjectName("promptHint");
  hint->setWordWrap(true);
  hint->setStyleSheet(QStringLiteral("color: palette(mid);"));
  feedback_ = new QLabel(this);
  feedback_->setObjectName("promptFeedback");
  feedback_->setWordWrap(true);
  feedback_->hide();

  auto* addRow = new QHBoxLayout;
  addRow->addWidget(input_, 1);
  addRow->addWidget(add_);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(hint, 1);
  buttons->addWidget(edit_);
  buttons->addWidget(delete_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(list_, 1);
  layout->addLayout(buttons);
  layout->addLayout(addRow);
  layout->addWidget(feedback_);

  connect(add_, &QPushButton::clicked, this, [this] { addPrompt(input_->text()); });
  connect(input_, &QLineEdit::returnPressed, this, [this] { addPrompt(input_->text()); });
  connect(edit_, &QPushButton::clicked, this, [this] {
    if (auto* item = list_->currentItem()) list_->editItem(item);
  });
  connect(delete_, &QPushButton::clicked, this, &PromptsPanel::deleteSelectedPrompt);
  connect(list_, &QListWidget::itemChanged, this, &PromptsPanel::onItemChanged);
  connect(list_, &QListWidget::itemSelectionChanged, this, &PromptsPanel::updateActions);
  refresh();
}

QListWidget* PromptsPanel::list() const { return list_; }

QString PromptsPanel::feedback() const { return feedback_->isHidden() ? QString() : feedback_->text(); }

void PromptsPanel::setProject(caig::Project* project) {
  if (project != project_) productId_ = 0;  // ids belong to the old project
  project_ = project;
  refresh();
}

void PromptsPanel::setProduct(qint64 productId) {
  if (productId != productId_) feedback_->hide();
  productId_ = project_ ? productId : 0;
  refresh();
}

void PromptsPanel::refresh() {
  const qint64 selected = list_->currentItem() ? list_->currentItem()->data(IdRole).toLongLong() : 0;
  {
    const QSignalBlocker block(list_);  // filling is not editing or pinning
    list_->clear();
    list_->emptyText = productId_ ? tr("No prompts yet: Write prompts in the Generate dock, or add your own below.")
                                  : tr("Choose a product to see its prompts.");
    if (project_ && productId_) {
      try {
        for (const auto& p : project_->store().prompts(productId_)) {
          auto* item = new QListWidgetItem(list_);
          fillItem(item, p);
          if (p.id == selected) list_->setCurrentItem(item);
        }
      } catch (const std::exception& e) {
        Q_EMIT errorOccurred(tr("Could not read the prompts"), QString::fromUtf8(e.what()));
      }
    }
  }
  list_->viewport()->update();
  updateActions();
}

void PromptsPanel::fillItem(QListWidgetItem* item, const caig::PromptRecord& p) {
  const QSignalBlocker block(list_);
  item->setText(q(p.text));
  item->setData(IdRole, static_cast<qlonglong>(p.id));
  item->setData(SourceRole, q(p.source));
  item->setData(PinnedRole, p.pinned);
  item->setData(StoredTextRole, q(p.text));
  item->setFlags(item->flags() | Qt::ItemIsUserCheckable | Qt::ItemIsEditable);
  item->setCheckState(p.pinned ? Qt::Checked : Qt::Unchecked);
  item->setToolTip(tr("%1\n\nsource: %2\n%3")
                       .arg(q(p.text), q(p.source),
                            p.pinned ? tr("pinned: every engine uses it first") : tr("check to pin it")));
}

void PromptsPanel::onItemChanged(QListWidgetItem* item) {
  if (!project_ || !item->data(IdRole).isValid()) return;
  const qint64 id = item->data(IdRole).toLongLong();
  auto& store = project_->store();
  try {
    const bool pinned = item->checkState() == Qt::Checked;
    if (pinned != item->data(PinnedRole).toBool()) {
      store.setPromptPinned(id, pinned);
      const QSignalBlocker block(list_);
      item->setData(PinnedRole, pinned);
      showFeedback(pinned ? tr("Pinned: every engine uses this prompt first.") : tr("Unpinned."), false);
      Q_EMIT promptsChanged();
    }
    if (item->text() == item->data(StoredTextRole).toString()) return;
    try {
      store.setPromptText(id, item->text().toStdString());
    } catch (const std::invalid_argument&) {
      const QSignalBlocker block(list_);
      item->setText(item->data(StoredTextRole).toString());
      showFeedback(tr("A prompt cannot be empty: the old text is kept."), true);
      return;
    }
    // Show what the store made of it: trimmed text, and the source that says it was edited.
    for (const auto& p : store.prompts(productId_)) {
      if (p.id == id) fillItem(item, p);
    }
    showFeedback(tr("Prompt saved."), false);
    Q_EMIT promptsChanged();
  } catch (const std::exception& e) {
    refresh();  // the stored state again
    Q_EMIT errorOccurred(tr("Could not save the prompt"), QString::fromUtf8(e.what()));
  }
}

bool PromptsPanel::addPrompt(const QString& text) {
  if (!project_ || !productId_) {
    showFeedback(tr("Choose a product first: prompts belong to a product."), true);
    return false;
  }
  const QString trimmed = text.trimmed();
  if (trimmed.isEmpty()) {
    showFeedback(tr("Type a prompt first: an empty prompt is not added."), true);
    input_->setFocus();
    return false;
  }
  qint64 id = 0;
  try {
    id = project_->store().addPrompt({0, productId_, trimmed.toStdString(), "user", false});
  } catch (const std::exception& e) {
    Q_EMIT errorOccurred(tr("Could not add the prompt"), QString::fromUtf8(e.what()));  // the input keeps the text
    return false;
  }
  input_->clear();
  refresh();
  for (int i = 0; i < list_->count(); ++i) {
    if (list_->item(i)->data(IdRole).toLongLong() == id) {
      list_->setCurrentRow(i);
      list_->scrollToItem(list_->item(i));
    }
  }
  showFeedback(tr("Prompt added."), false);
  Q_EMIT promptsChanged();
  return true;
}

bool PromptsPanel::deleteSelectedPrompt() {
  const auto selected = list_->selectedItems();
  if (!project_ || selected.isEmpty()) return false;
  QListWidgetItem* item = selected.front();
  const int row = list_->row(item);
  try {
    project_->store().deletePrompt(item->data(IdRole).toLongLong());
  } catch (const std::exception& e) {
    refresh();
    Q_EMIT errorOccurred(tr("Could not delete the prompt"), QString::fromUtf8(e.what()));
    return false;
  }
  {
    const QSignalBlocker block(list_);
    delete list_->takeItem(row);
  }
  if (list_->count() > 0) list_->setCurrentRow(std::min(row, list_->count() - 1));
  list_->viewport()->update();
  updateActions();
  showFeedback(tr("Prompt deleted. Variants made with it keep its text."), false);
  Q_EMIT promptsChanged();
  return true;
}

void PromptsPanel::showFeedback(const QString& text, bool problem) {
  feedback_->setText(text);
  // Problems in a red that reads on the light and the dark theme; news in the palette's quiet grey.
  feedback_->setStyleSheet(problem ? QStringLiteral("color: #d64541;") : QStringLiteral("color: palette(mid);"));
  feedback_->setVisible(!text.isEmpty());
}

void PromptsPanel::updateActions() {
  const bool product = project_ && productId_;
  input_->setEnabled(product);
  add_->setEnabled(product);
  const bool selected = !list_->selectedItems().isEmpty();
  edit_->setEnabled(selected);
  delete_->setEnabled(selected);
}

}  // namespace caig::ui
