#pragma once
// The studio's job queue: cutout, generation, ranking and export run here, one at a time on a
// worker thread (the engines are memory-hungry, and one at a time keeps the queue's order the
// order things happen). Each job reports progress and can be cancelled, reordered while queued,
// and retried after a failure; a failing job never stops the ones behind it. The window never
// waits on a job: results come back as a function run on the GUI thread.

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <vector>

template <typename T>
class QFutureWatcher;
class QTimer;

namespace caig::ui {

// What a running job may ask of the queue (from its worker thread).
class JobContext {
 public:
  JobContext(std::function<void(double, QString)> report, std::shared_ptr<std::atomic_bool> cancel)
      : report_(std::move(report)), cancel_(std::move(cancel)) {}
  // `fraction` in [0, 1]; `note` says what is happening ("cutting out", "3/8").
  void progress(double fraction, const QString& note = {}) const { report_(fraction, note); }
  bool cancelled() const { return cancel_->load(); }
  // For engines that poll a flag themselves (e.g. within a denoising step).
  const std::atomic_bool* cancelFlag() const { return cancel_.get(); }

 private:
  std::function<void(double, QString)> report_;
  std::shared_ptr<std::atomic_bool> cancel_;
};

// Runs on the GUI thread after the work; may throw (the job then fails with that message).
using JobApply = std::function<void()>;
// Runs on a worker thread; must not touch widgets or the project database. May throw.
using JobWork = std::function<JobApply(JobContext&)>;

enum class JobState { Queued, Running, Done, Failed, Cancelled };
QString describe(JobState state);

struct JobInfo {
  int id = 0;
  QString kind;  // "cutout", "generate", "rank", "export"
  QString title;
  JobState state = JobState::Queued;
  double progress = 0;
  QString note;
  QString error;
  double elapsedSeconds = 0;
  double etaSeconds = -1;  // -1 = unknown
};

class JobQueue : public QObject {
  Q_OBJECT
 public:
  explicit JobQueue(QObject* parent = nullptr);
  // Cancels what is queued or running and waits for the running job's worker to return.
  ~JobQueue() override;

  int enqueue(const QString& kind, const QString& title, JobWork work);
  // Queued: removed from the run order at once. Running: asked to stop; its apply step still
  // runs so that the work finished so far is kept.
  void cancel(int id);
  // A failed or cancelled job again, as a new job at the end of the queue. Returns its id (0 if
  // the job cannot be retried).
  int retry(int id);
  // Queued jobs trade places with their queued neighbour (earlier = runs sooner).
  void moveUp(int id);
  void moveDown(int id);
  void clearFinished();
  // Calls `onFailure(error)` once, in `context`'s thread, if job `id` fails (its work or apply step threw).
  void onFailure(int id, QObject* context, std::function<void(const QString&)> onFailure);
  // The same, also when the job is cancelled (the error is then "cancelled"): for callers that
  // must leave a busy state however the job ends without its apply step.
  void onNotDone(int id, QObject* context, std::function<void(const QString&)> onNotDone);

  std::vector<int> jobIds() const { return order_; }  // display order
  const JobInfo* job(int id) const;
  bool isIdle() const;
  bool hasActive(const QString& kind) const;  // queued or running
  // The batch's share done (the jobs not finished plus those finished since the queue was last
  // idle): by time when overallEtaSeconds is known (seconds spent / (spent + left)), so the bar
  // and the time left tell the same story; else the mean of the jobs' own progress.
  double overallProgress() const;
  // Seconds until the batch is done, -1 when unknown: the running job's own estimate plus, for
  // each queued job, the mean duration of this batch's finished jobs of its kind (else of any
  // kind, else the running job's projected total).
  double overallEtaSeconds() const;

 Q_SIGNALS:
  void jobAdded(int id);
  void jobChanged(int id);
  void jobRemoved(int id);
  void orderChanged();
  void jobFinished(int id, caig::ui::JobState state, const QString& error);
  void idle();

 private:
  struct Job {
    JobInfo info;
    JobWork work;
    std::shared_ptr<std::atomic_bool> cancel;
    QElapsedTimer timer;
  };
  struct Outcome {
    JobApply apply;
    QString error;
  };
  void startNext();
  void finishRunning();
  // Once a second while a job runs: its elapsed time and estimate move on between its progress
  // reports (a long stage that reports rarely no longer reads "about 0 s left").
  void tick();
  void swapQueued(int id, int step);

  std::map<int, Job> jobs_;
  std::vector<int> order_;
  std::vector<int> batch_;  // jobs since the queue was last idle, for the overall progress
  int nextId_ = 1;
  int running_ = 0;
  QFutureWatcher<Outcome>* watcher_ = nullptr;
  QTimer* ticker_ = nullptr;
};

}  // namespace caig::ui
