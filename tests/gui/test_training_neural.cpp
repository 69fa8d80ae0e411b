// The Training dock with a neural reward model, in a real X server: the tiny LLaVA reward model
// (tests/data/tiny-llava-hf + tiny-llava-rm's score head + tiny-llava-tok's tokenizer) installed
// in a temporary models folder, synthetic click data imported through the panel. A broken copy
// of the model is refused with a dialog before anything is queued; the good one trains a few
// LoRA steps on the CPU as a job, the chart fills from its JSON-lines log, the result shows the
// held-out accuracy before and after, and the adapter lands under <project>/models/. A long run
// stops on Stop with a checkpoint and nothing saved as a model.

#include <QCheckBox>
#include <QRegularExpression>
#include <QChart>
#include <QComboBox>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>

#include "core/clicks/click_data.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/clicks/synthetic_clicks.h"
#include "tests/tiny_models.h"
#include "widgets/job_queue.h"
#include "widgets/training_panel.h"

using caig::ui::TrainingPanel;
namespace fs = std::filesystem;

namespace {

fs::path installRewardModel(const fs::path& modelsDir, const std::string& name) {
  return caig::test::assembleTinyRewardModel(CAIG_TEST_DATA, modelsDir / name, /*withTokenizer=*/true);
}

}  // namespace

class TrainingNeuralTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void trainsTheLlavaRewardModel() {
    QVERIFY(TrainingPanel::neuralTrainingAvailable());
    QTemporaryDir tmp;
    if (qEnvironmentVariableIsSet("CAIG_KEEP_TEST_DIR")) tmp.setAutoRemove(false), qInfo("dir %s", qPrintable(tmp.path()));
    const fs::path modelsDir = tmp.filePath("models").toStdString();
    const fs::path good = installRewardModel(modelsDir, "tiny-rm");
    const fs::path broken = installRewardModel(modelsDir, "tiny-rm-broken");

    caig::SyntheticClickOptions synth;  // what `caig demo-clicks` writes, smaller
    synth.products = 8;
    synth.variantsPerProduct = 6;
    synth.shotSize = 192;
    const caig::SyntheticClickData data = caig::writeSyntheticClicks(tmp.filePath("synth").toStdString(), synth);
    caig::Project project = caig::Project::openOrCreate(tmp.filePath("p").toStdString());

    caig::ui::JobQueue jobs;
    TrainingPanel panel(&jobs);
    panel.resize(820, 680);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.setProject(&project);
    QSignalSpy imported(&panel, &TrainingPanel::importFinished);
    QVERIFY(panel.importClicks(QString::fromStdString(data.csvFile.string())) > 0);
    QVERIFY(imported.wait(120000));
    QVERIFY2(imported.at(0).at(0).toBool(), qPrintable(imported.at(0).at(1).toString()));
    QTRY_VERIFY(panel.lastDialog());
    panel.lastDialog()->close();

    // Both copies are offered after the built-in ranker; the neural settings show with them.
    panel.setInstalledModels(caig::ModelRegistry(modelsDir).scan());
    auto* combo = panel.rewardModelCombo();
    auto* train = panel.findChild<QPushButton*>("trainRankerButton");
    auto* steps = panel.findChild<QSpinBox*>("neuralStepsSpin");
    auto* rank = panel.findChild<QSpinBox*>("loraRankSpin");
    QVERIFY(train && steps && rank);
    QCOMPARE(combo->count(), 3);
    QCOMPARE(train->text(), QStringLiteral("Train built-in ranker"));
    QVERIFY(!steps->isVisible());
    const int goodIndex = combo->findData(QString::fromStdString(good.string()));
    const int brokenIndex = combo->findData(QString::fromStdString(broken.string()));
    QVERIFY(goodIndex > 0 && brokenIndex > 0);

    // A shard deleted after the list was read: a dialog with the reason, nothing queued.
    fs::remove(broken / "score-head.safetensors");
    combo->setCurrentIndex(brokenIndex);
    QCOMPARE(train->text(), QStringLiteral("Train reward model"));
    QVERIFY(steps->isVisible());
    QSignalSpy trained(&panel, &TrainingPanel::trainingFinished);
    QTest::mouseClick(train, Qt::LeftButton);
    QVERIFY(panel.lastDialog());
    QCOMPARE(panel.lastDialog()->icon(), QMessageBox::Warning);
    QVERIFY2(panel.lastDialog()->text().contains("tiny-rm-broken") && panel.lastDialog()->text().contains("score-head"),
             qPrintable(panel.lastDialog()->text()));
    QCOMPARE(trained.size(), 1);
    QVERIFY(!trained.at(0).at(0).toBool());
    QVERIFY(jobs.isIdle());
    QCOMPARE(jobs.jobIds().size(), 1u);  // the import only
    QTest::qWait(100);
    QVERIFY(panel.lastDialog()->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_training_neural_broken.png")));
    panel.lastDialog()->close();

    // The good model: a few LoRA steps on the CPU (the tiny model is random; the plumbing is real).
    combo->setCurrentIndex(goodIndex);
    steps->setValue(6);
    rank->setValue(4);
    QTest::mouseClick(train, Qt::LeftButton);
    QVERIFY(!train->isEnabled());  // one run at a time
    QVERIFY(trained.wait(300000));
    QCOMPARE(trained.size(), 2);
    QVERIFY2(trained.at(1).at(0).toBool(), qPrintable(trained.at(1).at(1).toString()));
    QVERIFY2(panel.chart()->title().contains("finished"), qPrintable(panel.chart()->title()));
    QVERIFY(panel.chartPoints() >= 6);  // the loss of every step, plus held-out points
    const QString result = panel.resultText();
    QVERIFY2(result.contains("Held-out accuracy:") && result.contains("before →") &&
                 result.contains("6 steps on cpu"),
             qPrintable(result));
    const fs::path adapter = project.absolute("models/tiny-rm-ft");
    QVERIFY(fs::is_regular_file(adapter / "adapter_model.safetensors"));
    QVERIFY(fs::is_regular_file(adapter / "adapter_config.json"));
    QVERIFY(fs::is_regular_file(adapter / "reward_heads.safetensors"));
    QVERIFY2(result.contains(QString::fromStdString(adapter.string())), qPrintable(result));
    // "Standalone" is on by default: the merged reward model is a usable folder of the project.
    QVERIFY(panel.findChild<QCheckBox*>("mergeTrained")->isChecked());
    QVERIFY2(result.contains("Standalone model in"), qPrintable(result));
    const auto trainedModels = caig::ModelRegistry::projectModels(project.dir());
    QCOMPARE(trainedModels.size(), std::size_t{1});
    QCOMPARE(trainedModels[0].kind, caig::ModelKind::RewardModel);
    QVERIFY2(trainedModels[0].status == caig::ModelStatus::Ok, trainedModels[0].reason.c_str());
    QCOMPARE(trainedModels[0].path, adapter / "merged");
    QTest::qWait(200);  // the chart lays out its new title and axes lazily
    QVERIFY(panel.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_training_neural.png")));

    // A long run stops on Stop, between steps, with a checkpoint; the adapter of the finished
    // run above is left as it was.
    const auto adapterTime = fs::last_write_time(adapter / "adapter_model.safetensors");
    steps->setValue(100000);
    QTest::mouseClick(train, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(panel.chartPoints() >= 2, 120000);
    auto* stop = panel.findChild<QPushButton*>("cancelTrainingButton");
    QVERIFY(stop && stop->isEnabled());
    QTest::mouseClick(stop, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(trained.size() == 3 && jobs.isIdle(), 120000);
    QVERIFY(!trained.at(2).at(0).toBool());
    QVERIFY2(panel.resultText().startsWith("Stopped at step"), qPrintable(panel.resultText()));
    QVERIFY2(panel.chart()->title().contains("stopped"), qPrintable(panel.chart()->title()));
    QVERIFY(fs::exists(project.absolute("checkpoints/tiny-rm-ft")));
    QVERIFY(fs::last_write_time(adapter / "adapter_model.safetensors") == adapterTime);
    QVERIFY(train->isEnabled());

    // Resume: the stopped run continues from its checkpoint up to the new total.
    auto* resume = panel.findChild<QCheckBox*>("resumeTraining");
    QVERIFY(resume && resume->isEnabled());
    const QRegularExpression stoppedAt("Stopped at step (\\d+)");
    const auto match = stoppedAt.match(panel.resultText());
    QVERIFY(match.hasMatch());
    const int stoppedStep = match.captured(1).toInt();
    QVERIFY(stoppedStep >= 1);
    steps->setValue(stoppedStep + 2);
    resume->setChecked(true);
    QTest::mouseClick(train, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(trained.size() == 4 && jobs.isIdle(), 300000);
    QVERIFY2(trained.at(3).at(0).toBool(), qPrintable(trained.at(3).at(1).toString()));
    const QString resumed = panel.resultText();
    QVERIFY2(resumed.contains(QStringLiteral("Resumed from step %1").arg(stoppedStep)) &&
                 resumed.contains(QStringLiteral("%1 steps on cpu").arg(stoppedStep + 2)),
             qPrintable(resumed));
    QVERIFY(fs::last_write_time(adapter / "adapter_model.safetensors") != adapterTime);
  }
};

QTEST_MAIN(TrainingNeuralTest)
#include "test_training_neural.moc"
