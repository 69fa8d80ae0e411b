// The studio's Generate dock runs an engine that neither widgets/ nor app/ know: the test-only
// flat colour generator (tests/flat_colour_generator.h), registered before the window opens, is
// offered in the engine list with its own setting, renders through the job queue with previews,
// is stored and ranked, and "same seed again" makes its pixels again. Saves screenshots.

#include <QComboBox>
#include <QGroupBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include "../flat_colour_generator.h"
#include "core/project/project.h"
#include "gui_demo_window.h"
#include "gui_test_support.h"
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
};

QTEST_MAIN(GenerationSeamTest)
#include "test_generation_seam.moc"
