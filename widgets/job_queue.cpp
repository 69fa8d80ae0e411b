#include "widgets/job_queue.h"
#include "core/base/user_message.h"

#include <QFutureWatcher>
#include <QTimer>
#include <QtConcurrent>
#include <algorithm>
#include <map>

namespace caig::ui {

namespace {
// Time left at the pace so far; unknown before the first 2 %.
double etaFromProgress(double elapsed, double progress) {
  return progress > 0.02 ? elapsed * (1 - progress) / progress : -1;
}
}  // namespace

QString describe(JobState state) {
  switch (state) {
    case JobState::Queued: return QObject::tr("queued");
    case JobState::Running: return QObject::tr("running");
    case JobState::Done: return QObject::tr("done");
    case JobState::Failed: return QObject::tr("failed");
    case JobState::Cancelled: return QObject::tr("cancelled");
  }
  return {};
}

JobQueue::JobQueue(QObject* parent) : QObject(parent) {
  watcher_ = new QFutureWatcher<Outcome>(this);
  connect(watcher_, &QFutureWatcher<Outcome>::finished, this, &JobQueue::finishRunning);
  ticker_ = new QTimer(this);
  ticker_->setInterval(1000);
  connect(ticker_, &QTimer::timeout, this, &JobQueue::tick);
}

void JobQueue::tick() {
  auto it = jobs_.find(running_);
  if (it == jobs_.end() || it->second.info.state != JobState::Running) return;
  JobInfo& info = it->second.info;
  info.elapsedSeconds = it->second.timer.elapsed() / 1000.0;
  info.etaSeconds = etaFromProgress(info.elapsedSeconds, info.progress);
  Q_EMIT jobChanged(running_);
}

JobQueue::~JobQueue() {
  // The worker posts progress to this object: it must have returned before we are gone.
  watcher_->disconnect(this);
  for (auto& [id, job] : jobs_) job.cancel->store(true);
  watcher_->waitForFinished();
}

int JobQueue::enqueue(const QString& kind, const QString& title, JobWork work) {
  const int id = nextId_++;
  Job& job = jobs_[id];
  job.info.id = id;
  job.info.kind = kind;
  job.info.title = title;
  job.work = std::move(work);
  job.cancel = std::make_shared<std::atomic_bool>(false);
  order_.push_back(id);
  batch_.push_back(id);
  Q_EMIT jobAdded(id);
  // Started from the event loop so that a caller can connect to the job before it runs.
  QMetaObject::invokeMethod(this, &JobQueue::startNext, Qt::QueuedConnection);
  return id;
}

const JobInfo* JobQueue::job(int id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second.info;
}

bool JobQueue::isIdle() const {
  return running_ == 0 && std::none_of(jobs_.begin(), jobs_.end(), [](const auto& j) {
           return j.second.info.state == JobState::Queued;
         });
}

bool JobQueue::hasActive(const QString& kind) const {
  return std::any_of(jobs_.begin(), jobs_.end(), [&](const auto& j) {
    const JobState s = j.second.info.state;
    return j.second.info.kind == kind && (s == JobState::Queued || s == JobState::Running);
  });
}

double JobQueue::overallProgress() const {
  if (batch_.empty()) return 1.0;
  const double left = overallEtaSeconds();
  if (left >= 0) {
    double spent = 0;
    for (int id : batch_) {
      auto it = jobs_.find(id);
      if (it != jobs_.end() && it->second.info.state != JobState::Queued) spent += it->second.info.elapsedSeconds;
    }
    if (spent + left > 0) return spent / (spent + left);
  }
  double sum = 0;
  for (int id : batch_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    const JobState s = it->second.info.state;
    sum += (s == JobState::Queued || s == JobState::Running) ? it->second.info.progress : 1.0;
  }
  return sum / static_cast<double>(batch_.size());
}

double JobQueue::overallEtaSeconds() const {
  std::map<QString, std::pair<double, int>> doneByKind;  // kind -> (seconds, jobs)
  std::pair<double, int> doneAll{0, 0};
  double running = 0, runningTotal = -1;
  std::vector<const JobInfo*> queued;
  for (int id : batch_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    const JobInfo& info = it->second.info;
    if (info.state == JobState::Done) {
      auto& k = doneByKind[info.kind];
      k.first += info.elapsedSeconds;
      ++k.second;
      doneAll.first += info.elapsedSeconds;
      ++doneAll.second;
    } else if (info.state == JobState::Running) {
      if (info.etaSeconds < 0) return -1;
      running = info.etaSeconds;
      runningTotal = info.elapsedSeconds + info.etaSeconds;
    } else if (info.state == JobState::Queued) {
      queued.push_back(&info);
    }
  }
  double eta = running;
  for (const JobInfo* q : queued) {
    auto k = doneByKind.find(q->kind);
    if (k != doneByKind.end()) {
      eta += k->second.first / k->second.second;
    } else if (doneAll.second > 0) {
      eta += doneAll.first / doneAll.second;
    } else if (runningTotal >= 0) {
      eta += runningTotal;
    } else {
      return -1;
    }
  }
  return eta;
}

namespace {

void whenFinished(JobQueue* queue, int id, QObject* context, bool cancelToo, std::function<void(const QString&)> call) {
  auto connection = std::make_shared<QMetaObject::Connection>();
  *connection = QObject::connect(queue, &JobQueue::jobFinished, context,
                                 [connection, id, cancelToo, call](int finished, JobState state, const QString& error) {
                                   if (finished != id) return;
                                   QObject::disconnect(*connection);
                                   if (state == JobState::Failed) call(error);
                                   if (state == JobState::Cancelled && cancelToo) call(QObject::tr("cancelled"));
                                 });
}

}  // namespace

void JobQueue::onFailure(int id, QObject* context, std::function<void(const QString&)> onFailure) {
  whenFinished(this, id, context, false, std::move(onFailure));
}

void JobQueue::onNotDone(int id, QObject* context, std::function<void(const QString&)> onNotDone) {
  whenFinished(this, id, context, true, std::move(onNotDone));
}

void JobQueue::cancel(int id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  JobInfo& info = it->second.info;
  if (info.state == JobState::Queued) {
    info.state = JobState::Cancelled;
    Q_EMIT jobChanged(id);
    Q_EMIT jobFinished(id, info.state, {});
    if (isIdle()) Q_EMIT idle();
  } else if (info.state == JobState::Running) {
    it->second.cancel->store(true);
    info.note = tr("cancelling…");
    Q_EMIT jobChanged(id);
  }
}

int JobQueue::retry(int id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return 0;
  const JobState s = it->second.info.state;
  if (s != JobState::Failed && s != JobState::Cancelled) return 0;
  return enqueue(it->second.info.kind, it->second.info.title, it->second.work);
}

void JobQueue::moveUp(int id) { swapQueued(id, -1); }
void JobQueue::moveDown(int id) { swapQueued(id, +1); }

void JobQueue::swapQueued(int id, int step) {
  auto at = std::find(order_.begin(), order_.end(), id);
  if (at == order_.end() || jobs_[id].info.state != JobState::Queued) return;
  // The nearest queued neighbour in that direction; finished jobs in between stay put.
  for (auto i = at - order_.begin() + step; i >= 0 && i < static_cast<long>(order_.size()); i += step) {
    if (jobs_[order_[i]].info.state == JobState::Queued) {
      std::swap(*at, order_[i]);
      Q_EMIT orderChanged();
      return;
    }
  }
}

void JobQueue::clearFinished() {
  for (auto it = order_.begin(); it != order_.end();) {
    const JobState s = jobs_[*it].info.state;
    if (s == JobState::Done || s == JobState::Failed || s == JobState::Cancelled) {
      const int id = *it;
      jobs_.erase(id);
      batch_.erase(std::remove(batch_.begin(), batch_.end(), id), batch_.end());
      it = order_.erase(it);
      Q_EMIT jobRemoved(id);
    } else {
      ++it;
    }
  }
}

void JobQueue::startNext() {
  if (running_) return;
  auto next = std::find_if(order_.begin(), order_.end(), [this](int id) { return jobs_[id].info.state == JobState::Queued; });
  if (next == order_.end()) return;
  Job& job = jobs_[*next];
  running_ = job.info.id;
  job.info.state = JobState::Running;
  job.timer.start();
  ticker_->start();
  Q_EMIT jobChanged(running_);

  const int id = running_;
  // Progress crosses to the GUI thread as a queued call; the destructor waits for the worker,
  // so `this` outlives every call posted here.
  auto report = [this, id](double fraction, QString note) {
    QMetaObject::invokeMethod(this, [this, id, fraction, note] {
      auto it = jobs_.find(id);
      if (it == jobs_.end() || it->second.info.state != JobState::Running) return;
      JobInfo& info = it->second.info;
      info.progress = std::clamp(fraction, 0.0, 1.0);
      if (!note.isEmpty()) info.note = note;
      info.elapsedSeconds = it->second.timer.elapsed() / 1000.0;
      info.etaSeconds = etaFromProgress(info.elapsedSeconds, info.progress);
      Q_EMIT jobChanged(id);
    }, Qt::QueuedConnection);
  };
  watcher_->setFuture(QtConcurrent::run([work = job.work, cancel = job.cancel, report]() -> Outcome {
    Outcome out;
    try {
      JobContext ctx(report, cancel);
      out.apply = work(ctx);
    } catch (const std::exception& e) {
      out.error = QString::fromStdString(caig::userMessage(e));
    }
    return out;
  }));
}

void JobQueue::finishRunning() {
  const int id = running_;
  running_ = 0;
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    Outcome out = watcher_->result();
    Job& job = it->second;
    if (out.error.isEmpty() && out.apply) {
      try {
        out.apply();
      } catch (const std::exception& e) {
        out.error = QString::fromStdString(caig::userMessage(e));
      }
    }
    job.info.elapsedSeconds = job.timer.elapsed() / 1000.0;
    job.info.etaSeconds = -1;
    job.info.error = out.error;
    job.info.state = !out.error.isEmpty() ? JobState::Failed : job.cancel->load() ? JobState::Cancelled : JobState::Done;
    if (job.info.state == JobState::Done) job.info.progress = 1.0;
    job.info.note.clear();
    Q_EMIT jobChanged(id);
    Q_EMIT jobFinished(id, job.info.state, job.info.error);
  }
  startNext();
  if (isIdle()) {
    batch_.clear();
    ticker_->stop();
    Q_EMIT idle();
  }
}

}  // namespace caig::ui
