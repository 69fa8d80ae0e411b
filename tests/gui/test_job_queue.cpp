// The job queue on its own: order, reordering, cancellation, failures that keep the queue
// going, retry, and progress with an ETA. No window needed.

#include <QSignalSpy>
#include <QtTest>
#include <atomic>
#include <cmath>
#include <thread>

#include "widgets/job_queue.h"

using caig::ui::JobApply;
using caig::ui::JobContext;
using caig::ui::JobQueue;
using caig::ui::JobState;

namespace {
// A job that records its name (on the GUI thread) in `log` when it completes.
caig::ui::JobWork record(QStringList* log, const QString& name, int sleepMs = 0) {
  return [log, name, sleepMs](JobContext& ctx) -> JobApply {
    for (int i = 0; i < 10; ++i) {
      if (ctx.cancelled()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(sleepMs / 10));
      ctx.progress((i + 1) / 10.0, QStringLiteral("%1/10").arg(i + 1));
    }
    return [log, name] { log->append(name); };
  };
}

bool waitIdle(JobQueue& queue) {
  QSignalSpy idle(&queue, &JobQueue::idle);
  return queue.isIdle() || idle.wait(20000);
}
}  // namespace

class JobQueueTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void runsInOrderAndAFailureKeepsTheOthers() {
    JobQueue queue;
    QStringList log;
    QSignalSpy finished(&queue, &JobQueue::jobFinished);
    const int a = queue.enqueue("test", "a", record(&log, "a"));
    const int bad = queue.enqueue("test", "bad", [](JobContext&) -> JobApply { throw std::runtime_error("disk on fire"); });
    const int badApply = queue.enqueue("test", "bad apply", [](JobContext&) -> JobApply {
      return [] { throw std::runtime_error("store refused"); };
    });
    const int c = queue.enqueue("test", "c", record(&log, "c"));
    QVERIFY(!queue.isIdle());
    QVERIFY(waitIdle(queue));
    QCOMPARE(log, (QStringList{"a", "c"}));
    QCOMPARE(queue.job(a)->state, JobState::Done);
    QCOMPARE(queue.job(bad)->state, JobState::Failed);
    QCOMPARE(queue.job(bad)->error, QStringLiteral("disk on fire"));
    QCOMPARE(queue.job(badApply)->state, JobState::Failed);
    QCOMPARE(queue.job(badApply)->error, QStringLiteral("store refused"));
    QCOMPARE(queue.job(c)->state, JobState::Done);
    QCOMPARE(finished.count(), 4);
    QCOMPARE(queue.overallProgress(), 1.0);
  }

  void queuedJobsMoveAndCancel() {
    JobQueue queue;
    QStringList log;
    const int slow = queue.enqueue("test", "slow", record(&log, "slow", 300));
    const int b = queue.enqueue("test", "b", record(&log, "b"));
    const int c = queue.enqueue("test", "c", record(&log, "c"));
    const int d = queue.enqueue("test", "d", record(&log, "d"));
    QTRY_COMPARE(queue.job(slow)->state, JobState::Running);
    queue.moveUp(d);    // b d c
    queue.moveUp(d);    // d b c
    queue.moveUp(d);    // stays first among the queued: the running job is not overtaken
    queue.moveDown(b);  // d c b
    queue.cancel(c);
    QCOMPARE(queue.job(c)->state, JobState::Cancelled);
    QVERIFY(waitIdle(queue));
    QCOMPARE(log, (QStringList{"slow", "d", "b"}));
    QCOMPARE(queue.jobIds(), (std::vector<int>{slow, d, c, b}));
    // A cancelled job can be retried: it runs again as a new job.
    const int again = queue.retry(c);
    QVERIFY(again > d);
    QVERIFY(waitIdle(queue));
    QCOMPARE(log.last(), QStringLiteral("c"));
    QCOMPARE(queue.retry(b), 0);  // a finished job is not retried
    queue.clearFinished();
    QVERIFY(queue.jobIds().empty());
  }

  // Cancelling a running job stops its work early; its apply step still keeps what was done.
  void cancellingARunningJobKeepsItsPartialResult() {
    JobQueue queue;
    std::atomic_int steps{0};
    bool applied = false;
    const int id = queue.enqueue("test", "long", [&](JobContext& ctx) -> JobApply {
      while (!ctx.cancelled() && steps < 1000) {
        ++steps;
        ctx.progress(steps / 1000.0);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return [&] { applied = true; };
    });
    QTRY_VERIFY(steps > 5);
    QTRY_VERIFY(queue.job(id)->progress > 0.0);
    QVERIFY(queue.overallProgress() > 0.0 && queue.overallProgress() < 1.0);
    queue.cancel(id);
    QVERIFY(waitIdle(queue));
    QCOMPARE(queue.job(id)->state, JobState::Cancelled);
    QVERIFY(applied);
    QVERIFY(steps < 1000);
  }

  void progressGivesAnEta() {
    JobQueue queue;
    QStringList log;
    const int id = queue.enqueue("test", "timed", record(&log, "timed", 1000));
    QTRY_VERIFY(queue.job(id)->progress >= 0.3);
    QVERIFY(queue.job(id)->etaSeconds > 0);
    QVERIFY(queue.job(id)->etaSeconds < 10);
    QCOMPARE(queue.job(id)->note.isEmpty(), false);
    QVERIFY(queue.hasActive("test"));
    QVERIFY(waitIdle(queue));
    QVERIFY(!queue.hasActive("test"));
    QVERIFY(queue.job(id)->elapsedSeconds >= 0.5);
  }

  // A stage that reports 20 % and then works for a while: the estimate grows with the time spent
  // (elapsed x 4 at 20 %) instead of staying at what the first report implied (about 0 s).
  void etaMovesOnBetweenReports() {
    JobQueue queue;
    std::atomic_bool release{false};
    const int id = queue.enqueue("cutout", "slow stage", [&](JobContext& ctx) -> JobApply {
      ctx.progress(0.2, "cutting out");
      while (!release && !ctx.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return [] {};
    });
    QTRY_VERIFY(queue.job(id)->progress >= 0.2);
    QTRY_VERIFY_WITH_TIMEOUT(queue.job(id)->elapsedSeconds >= 2.0, 10000);
    QVERIFY2(queue.job(id)->etaSeconds >= 4 * 1.9, qPrintable(QStringLiteral("eta %1 after %2 s at 20 %")
                                                                  .arg(queue.job(id)->etaSeconds)
                                                                  .arg(queue.job(id)->elapsedSeconds)));
    // The overall bar agrees with the time left: spent / (spent + left) = 20 % here.
    QVERIFY2(std::abs(queue.overallProgress() - 0.2) < 0.02, qPrintable(QString::number(queue.overallProgress())));
    release = true;
    QVERIFY(waitIdle(queue));
  }

  // The batch's ETA: the running job's own estimate plus, per queued job, the mean duration of
  // the finished jobs of its kind; unknown until the running job has one.
  void overallEtaAddsTheQueuedJobs() {
    JobQueue queue;
    QStringList log;
    const int first = queue.enqueue("render", "1", record(&log, "1", 400));
    const int second = queue.enqueue("render", "2", record(&log, "2", 400));
    queue.enqueue("render", "3", record(&log, "3", 400));
    QCOMPARE(queue.overallEtaSeconds(), -1.0);  // nothing measured yet
    QTRY_VERIFY_WITH_TIMEOUT(queue.job(second)->state == JobState::Running && queue.job(second)->progress >= 0.3,
                             20000);
    const double eta = queue.overallEtaSeconds();
    const double perJob = queue.job(first)->elapsedSeconds;
    QVERIFY(perJob > 0);
    QVERIFY2(eta >= perJob, qPrintable(QStringLiteral("eta %1 < one queued job %2").arg(eta).arg(perJob)));
    QVERIFY(waitIdle(queue));
    QCOMPARE(queue.overallEtaSeconds(), 0.0);
  }
};

QTEST_GUILESS_MAIN(JobQueueTest)
#include "test_job_queue.moc"
