// The Stable Diffusion engine through the studio, in a real X server: the tiny self-contained
// SD1.5 pipeline (tests/data/tiny-sd-e2e) installed in a temporary models folder, the demo
// project, the SD engine chosen in the Generate dock at a 64 px working size, 2 steps, 2 variants,
// the Generate button. Checks that denoising previews reached the canvas, that both variants are
// stored with engine "sd15" and ranked in the grid; then the model folder disappears and a second
// run gives a clear error dialog while the first variants stay. Screenshots go to the build folder.

#include <QApplication>
#include <QComboBox>
#include <QGroupBox>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/generation/generator_registry.h"
#include "core/generation/standard_generators.h"
#include "core/project/project.h"
#include "gui_demo_window.h"
#include "gui_test_support.h"
#include "widgets/job_queue.h"
#include "widgets/main_window.h"
#include "widgets/product_canvas.h"

using caig::ui::MainWindow;

using caig::test::onNextModal;
using caig::test::screenshot;

class StudioSdTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("CAIG Studio Tests");
    QCoreApplication::setApplicationName("caig-studio-sd-test");
    QSettings().clear();
    qputenv("CAIG_ISNET_DIR", tmp_.filePath("no-isnet").toUtf8());  // GrabCut: fast, no weights
    // The registry reads this folder: the tiny pipeline is "installed" as a link to the fixture.
    models_ = tmp_.filePath("models");
    QVERIFY(QDir().mkpath(models_));
    link_ = models_ + "/tiny-sd-e2e";
    std::filesystem::create_directory_symlink(CAIG_TEST_DATA "/tiny-sd-e2e", link_.toStdString());
    qputenv("CAIG_MODELS_DIR", models_.toUtf8());
  }

  void generatesWithSdAndReportsAMissingModel() {
    caig::registerStandardGenerators();
    QVERIFY(caig::hasGenerator("sd15"));
    MainWindow window;
    caig::test::openDemoWindow(window, tmp_.filePath("SD Project"), QSize(1500, 950));
    if (QTest::currentTestFailed()) return;
    const qint64 product = window.currentProductId();
    QVERIFY(product > 0);

    // The Generate dock offers the installed pipeline; choosing it shows the SD settings.
    auto* engine = window.findChild<QComboBox*>("engineCombo");
    auto* sdBox = window.findChild<QGroupBox*>("sd15Settings");
    QVERIFY(engine && sdBox);
    QVERIFY(!sdBox->isVisible());
    const int sdIndex = engine->findData(link_);
    QVERIFY2(sdIndex > 0, qPrintable(engine->itemText(1)));
    QVERIFY(engine->itemText(sdIndex).contains("tiny-sd-e2e"));
    engine->setCurrentIndex(sdIndex);
    QVERIFY(sdBox->isVisible());
    auto* workingSize = window.findChild<QSpinBox*>("workingSizeSpin");
    auto* steps = window.findChild<QSpinBox*>("stepsSpin");
    auto* count = window.findChild<QSpinBox*>("variantCount");
    auto* perPrompt = window.findChild<QSpinBox*>("variantsPerPrompt");
    auto* preset = window.findChild<QComboBox*>("presetCombo");
    QVERIFY(workingSize && steps && count && perPrompt && preset);
    QCOMPARE(workingSize->value(), 512);  // SD1.5's own size unless told otherwise
    QCOMPARE(workingSize->minimum(), 64);
    workingSize->setValue(64);
    steps->setValue(2);
    count->setValue(2);
    perPrompt->setValue(1);
    preset->setCurrentIndex(preset->findData(QStringLiteral("1:1-512")));

    // Every preview that reaches the canvas: the first one is photographed while denoising.
    const QImage shot = window.canvas()->image();
    QVERIFY(!shot.isNull());
    QStringList previewNotes;
    QSize previewSize;
    connect(&window, &MainWindow::previewShown, this, [&](qint64 id, const QString& note) {
      QCOMPARE(id, product);
      if (previewNotes.isEmpty()) {
        previewSize = window.canvas()->image().size();
        screenshot(window, "gui_sd_denoising.png");
      }
      previewNotes << note;
    });
    QSignalSpy generated(&window, &MainWindow::generationFinished);
    QSignalSpy ranked(&window, &MainWindow::rankingFinished);
    QTest::mouseClick(window.findChild<QPushButton*>("generateButton"), Qt::LeftButton);
    QVERIFY(window.generating());
    QTRY_VERIFY_WITH_TIMEOUT(!ranked.isEmpty() && window.jobQueue()->isIdle(), 300000);
    QCOMPARE(generated.size(), 1);
    QVERIFY2(generated.at(0).at(1).toString().isEmpty(), qPrintable(generated.at(0).at(1).toString()));
    QCOMPARE(generated.at(0).at(0).toInt(), 2);
    QCOMPARE(ranked.at(0).at(0).toInt(), 2);

    // Live previews: one per denoising step of each variant, at the working size.
    QVERIFY2(previewNotes.size() >= 2, qPrintable(previewNotes.join(" | ")));
    QVERIFY2(previewNotes.contains("variant 1/2, step 1/2"), qPrintable(previewNotes.join(" | ")));
    QVERIFY2(previewNotes.contains("variant 2/2, step 2/2"), qPrintable(previewNotes.join(" | ")));
    QCOMPARE(previewSize, QSize(64, 64));
    QCOMPARE(window.canvas()->image().size(), shot.size());  // the shot again once the job is done

    // Two SD variants at the ad size, with their parameters, ranked.
    const auto variants = window.project()->store().variants(product);
    QCOMPARE(variants.size(), 2u);
    std::vector<int> ranks;
    for (const auto& v : variants) {
      const auto params = nlohmann::json::parse(v.paramsJson);
      QCOMPARE(QString::fromStdString(params.value("engine", "")), QStringLiteral("sd15"));
      QCOMPARE(params.value("steps", 0), 2);
      QCOMPARE(params.at("workingSize"), nlohmann::json::array({64, 64}));
      QVERIFY2(v.rank.has_value(), "variant not ranked");
      ranks.push_back(*v.rank);
      const QImage image(QString::fromStdString(window.project()->absolute(v.imagePath).string()));
      QCOMPARE(image.size(), QSize(512, 512));
    }
    std::sort(ranks.begin(), ranks.end());
    QCOMPARE(ranks, (std::vector<int>{1, 2}));
    auto* grid = window.findChild<QListWidget*>("variantList");
    QVERIFY(grid);
    QCOMPARE(grid->count(), 2);
    QVERIFY2(grid->item(0)->text().startsWith("#1"), qPrintable(grid->item(0)->text()));
    QVERIFY2(grid->item(1)->text().startsWith("#2"), qPrintable(grid->item(1)->text()));
    grid->setCurrentRow(0);
    QTest::qWait(100);
    screenshot(window, "gui_sd_generated.png");

    // "Same seed again" on an SD variant: its recorded model folder, prompt, seed and settings give
    // the same pixels again, as a new variant on the same prompt record.
    const caig::Variant first = variants[0];
    const std::size_t promptRecords = window.project()->store().prompts(product).size();
    window.regenerateVariant(first.id);
    QTRY_VERIFY_WITH_TIMEOUT(generated.size() == 2 && ranked.size() == 2 && window.jobQueue()->isIdle(), 300000);
    QVERIFY2(generated.at(1).at(1).toString().isEmpty(), qPrintable(generated.at(1).at(1).toString()));
    QCOMPARE(generated.at(1).at(0).toInt(), 1);
    const auto withAgain = window.project()->store().variants(product);
    QCOMPARE(withAgain.size(), 3u);
    const caig::Variant again = *std::max_element(withAgain.begin(), withAgain.end(),
                                                  [](const caig::Variant& a, const caig::Variant& b) { return a.id < b.id; });
    QCOMPARE(again.seed, first.seed);
    QCOMPARE(again.promptId, first.promptId);
    QCOMPARE(window.project()->store().prompts(product).size(), promptRecords);
    const QImage firstImage(QString::fromStdString(window.project()->absolute(first.imagePath).string()));
    const QImage againImage(QString::fromStdString(window.project()->absolute(again.imagePath).string()));
    QVERIFY(!againImage.isNull());
    QVERIFY2(firstImage == againImage, "same seed again gave other pixels");

    // The model folder goes away (uninstalled, a drive unplugged): the next run says so in a
    // dialog that names the folder, and the variants made before are all still there.
    QVERIFY(QFile::remove(link_));
    QString shown;
    onNextModal([&](QWidget* modal) {
      if (auto* box = qobject_cast<QMessageBox*>(modal)) {
        shown = box->windowTitle() + "\n" + box->text();
        screenshot(*box, "gui_sd_missing_model.png");
        box->accept();
      }
    });
    QTest::mouseClick(window.findChild<QPushButton*>("generateButton"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(generated.size() == 3 && window.jobQueue()->isIdle(), 60000);
    QCOMPARE(generated.at(2).at(0).toInt(), 0);
    QVERIFY2(shown.contains("tiny-sd-e2e") && shown.contains("no such Stable Diffusion model folder"),
             qPrintable(shown));
    QCOMPARE(window.jobQueue()->jobIds().size(), 4u);  // refused before queuing: two generate and two rank jobs only
    QCOMPARE(window.project()->store().variants(product).size(), 3u);
    QCOMPARE(grid->count(), 3);
    // The dock no longer offers the vanished pipeline.
    QCOMPARE(engine->findData(link_), -1);
    QVERIFY(engine->currentData().toString().isEmpty());
  }

 private:
  QTemporaryDir tmp_;
  QString models_;
  QString link_;
};

QTEST_MAIN(StudioSdTest)
#include "test_studio_sd.moc"
