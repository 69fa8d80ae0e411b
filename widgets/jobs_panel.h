#pragma once
// The Jobs dock: every job of the queue as a row (title, state, progress bar with ETA, and
// cancel / retry / move buttons), and the overall progress at the bottom.

#include <QWidget>
#include <map>

class QListWidget;
class QListWidgetItem;
class QProgressBar;

namespace caig::ui {

class JobQueue;
class JobRow;

class JobsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit JobsPanel(JobQueue* queue, QWidget* parent = nullptr);
  // The row widget of a job (for tests), or nullptr.
  QWidget* rowFor(int jobId) const;

 private:
  void addRow(int id);
  void updateRow(int id);
  void removeRow(int id);
  void reorder();
  void updateOverall();

  JobQueue* queue_;
  QListWidget* list_;
  QProgressBar* overall_;
  std::map<int, std::pair<QListWidgetItem*, JobRow*>> rows_;
};

}  // namespace caig::ui
