// The Training dock's server round trip, in a real X server: with the tiny LLaVA reward model
// chosen, "Export for a server…" writes a training bundle (the dialog tells the one command), the
// bundle's run.sh trains it with the caig binary under test in another folder with its own copy
// of the model, and "Import server result…" brings the adapter and the standalone model back:
// the chart shows the server's curves and the project offers the model as a ranker. Export is
// off for the built-in ranker; a folder that holds no result is refused with a dialog.

#include <QChart>
#include <QComboBox>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>
#include <cstdlib>
#include <filesystem>

#include "core/clicks/click_data.h"
#include "core/clicks/synthetic_clicks.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "tests/tiny_models.h"
#include "widgets/job_queue.h"
#include "widgets/training_panel.h"

using caig::ui::TrainingPanel;
namespace fs = std::filesystem;

class TrainingBundleTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void exportsTrainsElsewhereAndImportsTheResult() {
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    const fs::path model = caig::test::assembleTinyRewardModel(CAIG_TEST_DATA, root / "models" / "tiny-rm", true);
    caig::SyntheticClickOptions synth;
    synth.products = 6;
    synth.variantsPerProduct = 4;
    synth.shotSize = 96;
    const auto data = caig::writeSyntheticClicks(root / "synth", synth);
    caig::Project project = caig::Project::create(root / "project");
    caig::importClicks(project, data.csvFile);

    caig::ui::JobQueue jobs;
    TrainingPanel panel(&jobs);
    panel.resize(820, 700);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.setProject(&project);
    panel.setInstalledModels(caig::ModelRegistry(root / "models").scan());
    auto* exportButton = panel.findChild<QPushButton*>("exportBundleButton");
    auto* importButton = panel.findChild<QPushButton*>("importResultButton");
    QVERIFY(exportButton && importButton);
    QVERIFY(!exportButton->isEnabled());  // the built-in ranker trains here
    QVERIFY(importButton->isEnabled());
    auto* combo = panel.rewardModelCombo();
    combo->setCurrentIndex(combo->findData(QString::fromStdString(model.string())));
    QVERIFY(exportButton->isEnabled());
    panel.findChild<QSpinBox*>("neuralStepsSpin")->setValue(4);
    panel.findChild<QSpinBox*>("loraRankSpin")->setValue(4);

    // Export: a job; the dialog says what to run on the server.
    QSignalSpy exported(&panel, &TrainingPanel::bundleExported);
    const QString bundle = tmp.filePath("bundle");
    QVERIFY(panel.exportBundle(bundle) > 0);
    QVERIFY(exported.wait(60000));
    QVERIFY2(exported.at(0).at(0).toBool(), qPrintable(exported.at(0).at(1).toString()));
    QTRY_VERIFY(panel.lastDialog());
    QVERIFY2(panel.lastDialog()->text().contains("MODEL=/path/to/tiny-rm sh bundle/run.sh") &&
                 panel.lastDialog()->text().contains("pairs from 24 creatives of 6 products"),
             qPrintable(panel.lastDialog()->text()));
    QTest::qWait(100);
    QVERIFY(panel.lastDialog()->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_training_bundle_exported.png")));
    panel.lastDialog()->close();
    // The same folder again is refused while it exists (the button asks before replacing).
    QVERIFY(panel.exportBundle(bundle) == 0);
    QVERIFY(panel.lastDialog() && panel.lastDialog()->text().contains("already exists"));
    panel.lastDialog()->close();

    // A folder with no result yet: a dialog, nothing imported.
    QSignalSpy imported(&panel, &TrainingPanel::resultImported);
    QVERIFY(panel.importResult(bundle) > 0);
    QVERIFY(imported.wait(60000));
    QVERIFY(!imported.at(0).at(0).toBool());
    QTRY_VERIFY(panel.lastDialog());
    QVERIFY2(panel.lastDialog()->text().contains("holds no result yet"), qPrintable(panel.lastDialog()->text()));
    panel.lastDialog()->close();

    // The server: its own copy of the model, the bundle's one command.
    fs::copy(model, root / "server-rm", fs::copy_options::recursive);
    const std::string command = "MODEL='" + (root / "server-rm").string() + "' CAIG='" CAIG_CLI "' sh '" +
                                (root / "bundle" / "run.sh").string() + "' >'" + (root / "server.log").string() +
                                "' 2>&1";
    QCOMPARE(std::system(command.c_str()), 0);

    // Back: the result imports, the chart shows the server's run, the model is the project's.
    QVERIFY(panel.importResult(bundle) > 0);
    QVERIFY(imported.wait(60000));
    QVERIFY2(imported.at(1).at(0).toBool(), qPrintable(imported.at(1).at(1).toString()));
    QVERIFY2(panel.resultText().contains("Imported 'tiny-rm-ft'") && panel.resultText().contains("Held-out accuracy"),
             qPrintable(panel.resultText()));
    QVERIFY(panel.chartPoints() >= 4);
    QVERIFY2(panel.chart()->title().contains("finished"), qPrintable(panel.chart()->title()));
    const auto trained = caig::ModelRegistry::projectModels(project.dir());
    QCOMPARE(trained.size(), std::size_t{1});
    QCOMPARE(trained[0].path, project.absolute("models/tiny-rm-ft/merged"));
    QVERIFY2(trained[0].status == caig::ModelStatus::Ok, trained[0].reason.c_str());
    QTRY_VERIFY(panel.lastDialog());
    panel.lastDialog()->close();
    QTest::qWait(200);
    QVERIFY(panel.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_training_bundle_imported.png")));
    QVERIFY(jobs.isIdle());
  }
};

QTEST_MAIN(TrainingBundleTest)
#include "test_training_bundle.moc"
