#pragma once
// The Prompts dock: the current product's background prompts, each with who wrote it ("builtin",
// "llava: <model>", "user", "user (edited from builtin)"). The user pins one (its checkbox: SD
// generation uses pinned prompts first), edits one in place (double-click or F2), adds their own
// and deletes one (Delete key or button). Every change goes to the project store at once.

#include <QWidget>

#include "core/project/project_store.h"

namespace caig {
class Project;
}

class QLabel;
class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QPushButton;

namespace caig::ui {

class PromptList;

class PromptsPanel : public QWidget {
  Q_OBJECT
 public:
  // Item data besides the text (Qt::DisplayRole, the prompt itself): what the store holds.
  enum Role { IdRole = Qt::UserRole, SourceRole, PinnedRole, StoredTextRole };

  explicit PromptsPanel(QWidget* parent = nullptr);

  // The project is not owned; null = none. A new project shows no product until setProduct().
  void setProject(caig::Project* project);
  // 0 = no product. Both setters re-read the list.
  void setProduct(qint64 productId);
  qint64 productId() const { return productId_; }
  // Re-reads the product's prompts from the store, keeping the selected prompt selected.
  void refresh();

  // What the Add button does with the input's text: false, with an inline message and nothing
  // changed, for empty text or when no product is shown.
  bool addPrompt(const QString& text);
  // What the Delete key and button do: removes the selected prompt; false when none is selected.
  bool deleteSelectedPrompt();

  QListWidget* list() const;
  // The inline message under the input ("" when none).
  QString feedback() const;

 Q_SIGNALS:
  // A prompt was added, edited, pinned or deleted in the store.
  void promptsChanged();
  // A write to the store failed; the list shows the stored state again. The window tells the user.
  void errorOccurred(const QString& what, const QString& why);

 private:
  void onItemChanged(QListWidgetItem* item);
  void fillItem(QListWidgetItem* item, const caig::PromptRecord& prompt);
  void showFeedback(const QString& text, bool problem);
  void updateActions();

  caig::Project* project_ = nullptr;
  qint64 productId_ = 0;
  PromptList* list_;
  QLineEdit* input_;
  QPushButton* add_;
  QPushButton* edit_;
  QPushButton* delete_;
  QLabel* feedback_;
};

}  // namespace caig::ui
