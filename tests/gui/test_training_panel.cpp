// The Training dock in a real X server: a CSV with wrong columns is refused with a clear
// dialog and changes nothing; a synthetic click export imports (report dialog), the pairs
// summary counts its pairs; training the built-in ranker runs as a job, the chart gets the
// logged loss / accuracy points and the held-out accuracy before and after is shown.

#include <QChart>
#include <QMessageBox>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "core/clicks/click_pairs.h"
#include "core/project/project.h"
#include "core/training/rm_training.h"
#include "core/training/style_preferences.h"
#include "core/clicks/synthetic_clicks.h"
#include "widgets/job_queue.h"
#include "widgets/training_panel.h"

using caig::ui::TrainingPanel;

class TrainingPanelTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void importsTrainsAndCharts() {
    QTemporaryDir tmp;
    if (qEnvironmentVariableIsSet("CAIG_KEEP_TEST_DIR")) tmp.setAutoRemove(false), qInfo("dir %s", qPrintable(tmp.path()));
    caig::SyntheticClickOptions synth;
    synth.products = 8;
    synth.variantsPerProduct = 6;
    synth.shotSize = 192;
    const caig::SyntheticClickData data = caig::writeSyntheticClicks(tmp.filePath("synth").toStdString(), synth);
    caig::Project project = caig::Project::openOrCreate(tmp.filePath("p").toStdString());

    caig::ui::JobQueue jobs;
    TrainingPanel panel(&jobs);
    panel.resize(760, 620);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.setProject(&project);
    QVERIFY2(panel.summaryText().contains("No click data"), qPrintable(panel.summaryText()));

    // Wrong columns: a dialog naming what is missing, nothing queued, nothing written.
    QFile bad(tmp.filePath("wrong.csv"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("name,views,likes\nfoo,10,1\n");
    bad.close();
    QCOMPARE(panel.importClicks(bad.fileName()), 0);
    QVERIFY(panel.lastDialog());
    QCOMPARE(panel.lastDialog()->icon(), QMessageBox::Warning);
    QVERIFY2(panel.lastDialog()->text().contains("column", Qt::CaseInsensitive), qPrintable(panel.lastDialog()->text()));
    QVERIFY(panel.lastDialog()->windowTitle().contains("wrong.csv"));
    QVERIFY(jobs.jobIds().empty());
    QVERIFY(caig::loadClickCreatives(project).empty());
    panel.lastDialog()->close();

    QSignalSpy imported(&panel, &TrainingPanel::importFinished);
    QVERIFY(panel.importClicks(QString::fromStdString(data.csvFile.string())) > 0);
    QVERIFY(imported.wait(120000));
    QVERIFY2(imported.at(0).at(0).toBool(), qPrintable(imported.at(0).at(1).toString()));
    QCOMPARE(caig::loadClickCreatives(project).size(), data.creatives.size());
    QTRY_VERIFY(panel.lastDialog());
    QVERIFY2(panel.lastDialog()->text().contains("imported"), qPrintable(panel.lastDialog()->text()));
    panel.lastDialog()->close();
    const int pairs = caig::buildPairs(caig::loadClickCreatives(project)).stats.pairs;
    QVERIFY(pairs > 0);
    QVERIFY2(panel.summaryText().contains(QString("%1 training pairs").arg(pairs)), qPrintable(panel.summaryText()));

    QSignalSpy trained(&panel, &TrainingPanel::trainingFinished);
    QVERIFY(panel.trainRanker() > 0);
    QVERIFY(trained.wait(120000));
    QVERIFY2(trained.at(0).at(0).toBool(), qPrintable(trained.at(0).at(1).toString()));
    QVERIFY(panel.chartPoints() > 0);
    QVERIFY2(panel.chart()->title().contains("finished"), qPrintable(panel.chart()->title()));
    QVERIFY2(panel.resultText().contains("→") || panel.resultText().contains("training accuracy"),
             qPrintable(panel.resultText()));
    QVERIFY(caig::activeBuiltinRankerWeights(project).has_value());
    QTest::qWait(200);
    const QString shot = QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_training_panel.png");
    QVERIFY(panel.grab().save(shot));
    qInfo("screenshot: %s", qPrintable(shot));

    // The built-in style rounds (demo products: this project has none with a cutout), charted
    // as planner agreement per round.
    QSignalSpy styled(&panel, &TrainingPanel::styleRoundsFinished);
    QVERIFY(panel.runStyleRounds() > 0);
    QVERIFY(styled.wait(240000));
    QVERIFY2(styled.at(0).at(0).toBool(), qPrintable(styled.at(0).at(1).toString()));
    QVERIFY(panel.chartPoints() > 0);
    QVERIFY2(panel.resultText().contains("comparisons"), qPrintable(panel.resultText()));
    QVERIFY(QFileInfo::exists(QString::fromStdString(caig::styleWeightsFile(project).string())));
    QTRY_VERIFY2(panel.chart()->title().contains("finished"), qPrintable(panel.chart()->title()));
    QTest::qWait(200);  // the chart lays out its new title and axes lazily
    QVERIFY(panel.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_training_style.png")));
  }
};

QTEST_MAIN(TrainingPanelTest)
#include "test_training_panel.moc"
