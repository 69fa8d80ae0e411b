#include "widgets/jobs_panel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>

#include "widgets/job_queue.h"

namespace caig::ui {

// One job: two lines of text over a progress bar, buttons on the right.
class JobRow : public QWidget {
 public:
  JobRow(JobQueue* queue, int id, QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("job%1").arg(id));
    title_ = new QLabel(this);
    title_->setObjectName("jobTitle");
    title_->setWordWrap(true);
    bar_ = new QProgressBar(this);
    bar_->setRange(0, 1000);
    bar_->setMaximumHeight(14);
    bar_->setTextVisible(false);
    status_ = new QLabel(this);
    status_->setObjectName("jobStatus");
    status_->setWordWrap(true);
    status_->setStyleSheet("color: palette(dark);");
    auto button = [this](const QString& icon, const QString& name, const QString& tip, auto slot) {
      auto* b = new QToolButton(this);
      b->setText(icon);
      b->setObjectName(name);
      b->setToolTip(tip);
      b->setAutoRaise(true);
      connect(b, &QToolButton::clicked, this, slot);
      return b;
    };
    up_ = button(QStringLiteral("▲"), "jobUp", tr("Run sooner"), [queue, id] { queue->moveUp(id); });
    down_ = button(QStringLiteral("▼"), "jobDown", tr("Run later"), [queue, id] { queue->moveDown(id); });
    cancel_ = button(QStringLiteral("✕"), "jobCancel", tr("Cancel"), [queue, id] { queue->cancel(id); });
    retry_ = button(QStringLiteral("↻"), "jobRetry", tr("Retry"), [queue, id] { queue->retry(id); });
    auto* text = new QVBoxLayout;
    text->setSpacing(2);
    text->addWidget(title_);
    text->addWidget(bar_);
    text->addWidget(status_);
    auto* row = new QHBoxLayout(this);
    row->setContentsMargins(4, 3, 4, 3);
    row->addLayout(text, 1);
    for (QToolButton* b : {up_, down_, cancel_, retry_}) row->addWidget(b);
  }

  void display(const JobInfo& info) {
    title_->setText(info.title);
    bar_->setValue(static_cast<int>(info.progress * 1000));
    QString status = describe(info.state);
    if (!info.note.isEmpty()) status += QStringLiteral(" · ") + info.note;
    if (info.state == JobState::Running && info.etaSeconds >= 0) {
      status += tr(" · about %1 s left").arg(info.etaSeconds, 0, 'f', 0);
    }
    if (info.state != JobState::Queued && info.elapsedSeconds > 0 && info.state != JobState::Running) {
      status += tr(" · %1 s").arg(info.elapsedSeconds, 0, 'f', 1);
    }
    if (!info.error.isEmpty()) status += QStringLiteral("\n") + info.error;
    status_->setText(status);
    // A red that reads on both the light and the dark theme.
    status_->setStyleSheet(info.state == JobState::Failed ? "color: #e5534b;" : "color: palette(dark);");
    const bool queued = info.state == JobState::Queued;
    bar_->setVisible(info.state == JobState::Running || info.state == JobState::Queued);
    up_->setVisible(queued);
    down_->setVisible(queued);
    cancel_->setVisible(queued || info.state == JobState::Running);
    retry_->setVisible(info.state == JobState::Failed || info.state == JobState::Cancelled);
  }

 private:
  QLabel* title_;
  QProgressBar* bar_;
  QLabel* status_;
  QToolButton *up_, *down_, *cancel_, *retry_;
};

JobsPanel::JobsPanel(JobQueue* queue, QWidget* parent) : QWidget(parent), queue_(queue) {
  list_ = new QListWidget(this);
  list_->setObjectName("jobList");
  list_->setSelectionMode(QAbstractItemView::NoSelection);
  overall_ = new QProgressBar(this);
  overall_->setObjectName("overallProgress");
  overall_->setRange(0, 1000);
  overall_->setFormat(tr("All jobs %p%"));
  auto* clear = new QPushButton(tr("Clear Finished"), this);
  clear->setObjectName("clearFinished");
  connect(clear, &QPushButton::clicked, queue_, &JobQueue::clearFinished);
  auto* bottom = new QHBoxLayout;
  bottom->addWidget(overall_, 1);
  bottom->addStretch();  // keeps the button its own size while the bar is hidden
  bottom->addWidget(clear);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(list_, 1);
  layout->addLayout(bottom);

  connect(queue_, &JobQueue::jobAdded, this, &JobsPanel::addRow);
  connect(queue_, &JobQueue::jobChanged, this, &JobsPanel::updateRow);
  connect(queue_, &JobQueue::jobRemoved, this, &JobsPanel::removeRow);
  connect(queue_, &JobQueue::orderChanged, this, &JobsPanel::reorder);
  connect(queue_, &JobQueue::idle, this, &JobsPanel::updateOverall);
  updateOverall();
}

QWidget* JobsPanel::rowFor(int jobId) const {
  auto it = rows_.find(jobId);
  return it == rows_.end() ? nullptr : it->second.second;
}

void JobsPanel::addRow(int id) {
  auto* item = new QListWidgetItem(list_);
  auto* row = new JobRow(queue_, id, list_);
  rows_[id] = {item, row};
  list_->setItemWidget(item, row);
  updateRow(id);
  list_->scrollToItem(item);
}

void JobsPanel::updateRow(int id) {
  auto it = rows_.find(id);
  const JobInfo* info = queue_->job(id);
  if (it == rows_.end() || !info) return;
  it->second.second->display(*info);
  it->second.first->setSizeHint(it->second.second->sizeHint());
  updateOverall();
}

void JobsPanel::removeRow(int id) {
  auto it = rows_.find(id);
  if (it == rows_.end()) return;
  delete it->second.first;  // also drops the row widget
  rows_.erase(it);
  updateOverall();
}

// Item widgets cannot move between items, so the rows are rebuilt in the queue's order.
void JobsPanel::reorder() {
  for (auto& [id, row] : rows_) delete row.first;
  rows_.clear();
  list_->clear();
  for (int id : queue_->jobIds()) addRow(id);
}

void JobsPanel::updateOverall() {
  overall_->setValue(static_cast<int>(queue_->overallProgress() * 1000));
  const double eta = queue_->overallEtaSeconds();
  overall_->setFormat(eta < 0 ? tr("All jobs %p%")
                      : eta < 90 ? tr("All jobs %p% · about %1 s left").arg(eta, 0, 'f', 0)
                                 : tr("All jobs %p% · about %1 min left").arg(eta / 60.0, 0, 'f', 0));
  overall_->setVisible(!queue_->isIdle());
}

}  // namespace caig::ui
