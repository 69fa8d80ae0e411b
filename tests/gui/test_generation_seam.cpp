// The studio's Generate dock runs an engine that neither widgets/ nor app/ know: the test-only
// flat colour generator (tests/flat_colour_generator.h), registered before the window opens, is
// offered in the engine list with its own setting, renders through the job queue with previews,
// is stored and ranked, and "same seed again" makes its pixels again. Saves screenshots.

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QGroupBox>
#include <QListWidget>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "../flat_colour_generator.h"
#include "core/project/export.h"
#include "core/project/project.h"
#include "gui_demo_window.h"
#include "gui_test_support.h"
#include "widgets/export_dialog.h"
#include "widgets/job_queue.h"
#include "widgets/main_window.h"

using caig::ui::MainWindow;

class GenerationSeamTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void aThirdEngineRunsFromTheGenerateDock() {
    QTemporaryDir tmp;
    qputenv("CAIG_ISNET_DIR", tmp.filePath("no-isnet").toUtf8());  // GrabCut: fast, no weights
    qputenv("CAIG_MODELS_DIR", tmp.filePath("models").toUtf8());
    caig::test::registerFlatColourGenerator();
    MainWindow window;
    caig::test::openDemoWindow(window, tmp.filePath("Seam Project"), QSize(1500, 950));
    if (QTest::currentTestFailed()) return;
    const qint64 product = window.currentProductId();
    QVERIFY(product > 0);

    // The engine is offered, and its one setting appears as a widget when chosen.
    auto* engine = window.findChild<QComboBox*>("engineCombo");
    QVERIFY(engine);
    const int flat = engine->findText("Flat colour (test)");
    QVERIFY2(flat > 0, qPrintable(engine->itemText(engine->count() - 1)));
    auto* box = window.findChild<QGroupBox*>("flatSettings");
    QVERIFY(box && !box->isVisible());
    engine->setCurrentIndex(flat);
    QVERIFY(box->isVisible());
    auto* grey = box->findChild<QSpinBox*>("greySpin");
    QVERIFY(grey);
    QCOMPARE(grey->value(), 128);
    grey->setValue(40);
    window.findChild<QSpinBox*>("variantCount")->setValue(2);
    auto* preset = window.findChild<QComboBox*>("presetCombo");
    preset->setCurrentIndex(preset->findData(QStringLiteral("1:1-512")));
    caig::test::screenshot(window, "gui_seam_dock.png");

    QStringList previews;
    connect(&window, &MainWindow::previewShown, this, [&](qint64, const QString& note) { previews << note; });
    QSignalSpy generated(&window, &MainWindow::generationFinished);
    QSignalSpy ranked(&window, &MainWindow::rankingFinished);
    QTest::mouseClick(window.findChild<QPushButton*>("generateButton"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!ranked.isEmpty() && window.jobQueue()->isIdle(), 120000);
    QCOMPARE(generated.at(0).at(0).toInt(), 2);
    QVERIFY2(generated.at(0).at(1).toString().isEmpty(), qPrintable(generated.at(0).at(1).toString()));
    QCOMPARE(ranked.at(0).at(0).toInt(), 2);
    QVERIFY2(previews.contains("variant 2/2, step 2/2"), qPrintable(previews.join(" | ")));

    const auto variants = window.project()->store().variants(product);
    QCOMPARE(variants.size(), 2u);
    for (const auto& v : variants) {
      const auto params = nlohmann::json::parse(v.paramsJson);
      QCOMPARE(QString::fromStdString(params.at("engine").get<std::string>()), QStringLiteral("flat"));
      QCOMPARE(params.at("settings").at("grey").get<int>(), 40);
      QVERIFY(v.rank.has_value());
      const QImage image(QString::fromStdString(window.project()->absolute(v.imagePath).string()));
      QCOMPARE(image.size(), QSize(512, 512));
      QCOMPARE(qGray(image.pixel(2, 2)), 40);  // the corner is background
    }
    caig::test::screenshot(window, "gui_seam_generated.png");

    // Same seed again on the flat variant: the same file again.
    window.regenerateVariant(variants[1].id);
    QTRY_VERIFY_WITH_TIMEOUT(ranked.size() == 2 && window.jobQueue()->isIdle(), 120000);
    const auto all = window.project()->store().variants(product);
    QCOMPARE(all.size(), 3u);
    QCOMPARE(all.back().imagePath, variants[1].imagePath);
    QCOMPARE(all.back().promptId, variants[1].promptId);
  }

  // An inpainting engine's variant exported to a story through the Export dialog's "Outpainted"
  // choice: the square kept whole in the 9:16 frame, the strips above and below painted.
  void anInpaintingEnginesVariantIsOutpaintedOnExport() {
    QTemporaryDir tmp;
    qputenv("CAIG_ISNET_DIR", tmp.filePath("no-isnet").toUtf8());
    qputenv("CAIG_MODELS_DIR", tmp.filePath("models").toUtf8());
    caig::test::registerNoiseInpaintingGenerator();
    MainWindow window;
    caig::test::openDemoWindow(window, tmp.filePath("Outpaint Project"), QSize(1500, 950));
    if (QTest::currentTestFailed()) return;
    const qint64 product = window.currentProductId();
    auto* engine = window.findChild<QComboBox*>("engineCombo");
    const int noise = engine->findText("Seeded noise inpainting (test)");
    QVERIFY(noise > 0);
    engine->setCurrentIndex(noise);
    window.findChild<QSpinBox*>("variantCount")->setValue(1);
    auto* preset = window.findChild<QComboBox*>("presetCombo");
    preset->setCurrentIndex(preset->findData(QStringLiteral("1:1-1080")));
    QSignalSpy ranked(&window, &MainWindow::rankingFinished);
    QTest::mouseClick(window.findChild<QPushButton*>("generateButton"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!ranked.isEmpty() && window.jobQueue()->isIdle(), 120000);
    const auto variants = window.project()->store().variants(product);
    QCOMPARE(variants.size(), 1u);

    const QString out = tmp.filePath("ads");
    bool dialogSeen = false;
    caig::test::onNextModal([&](QWidget* modal) {
      auto* dialog = qobject_cast<caig::ui::ExportDialog*>(modal);
      if (!dialog) return;
      dialogSeen = true;
      for (const char* id : {"preset_1:1-1080", "preset_4:5", "preset_1.91:1"}) {
        if (auto* box = dialog->findChild<QCheckBox*>(id)) box->setChecked(false);
      }
      auto* frames = dialog->findChild<QComboBox*>("exportFrames");
      frames->setCurrentIndex(frames->findData(QStringLiteral("outpaint")));
      dialog->setFolder(out);
      caig::test::screenshot(*dialog, "gui_outpaint_export_dialog.png");
      dialog->accept();
    });
    QSignalSpy exported(&window, &MainWindow::exportFinished);
    auto* grid = window.findChild<QListWidget*>("variantList");
    QVERIFY(grid && grid->count() == 1);
    grid->item(0)->setSelected(true);
    QTest::mouseClick(window.findChild<QPushButton*>("exportButton"), Qt::LeftButton);
    QVERIFY(dialogSeen);
    QVERIFY(exported.wait(60000));
    QVERIFY2(exported.at(0).at(1).toString().isEmpty(), qPrintable(exported.at(0).at(1).toString()));
    QCOMPARE(exported.at(0).at(0).toInt(), 1);
    const QStringList files = QDir(out).entryList({"*9x16*.png"}, QDir::Files);
    QCOMPARE(files.size(), 1);
    const QString file = QDir(out).filePath(files[0]);
    const auto meta = caig::readExportMetadata(file.toStdString());
    QCOMPARE(QString::fromStdString(meta.at("caig:frame")), QStringLiteral("outpainted"));
    // The square's middle rows are the stored variant's pixels exactly.
    const QImage story(file),
        square(QString::fromStdString(window.project()->absolute(variants[0].imagePath).string()));
    QCOMPARE(story.size(), QSize(1080, 1920));
    for (int y : {460, 960, 1460}) {
      for (int x = 0; x < 1080; x += 7) QCOMPARE(story.pixel(x, y), square.pixel(x, y - 420));
    }
    QFile::remove(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_outpaint_9x16.png"));
    QVERIFY(QFile::copy(file, QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_outpaint_9x16.png")));
  }
};

QTEST_MAIN(GenerationSeamTest)
#include "test_generation_seam.moc"
