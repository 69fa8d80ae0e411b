// The studio window in a real X server: opens a project on the demo products, shows the shot on
// the canvas, zooms, persists edits, refuses bad shots, and saves a screenshot to look at.

#include <QAbstractButton>
#include <QAction>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <QSemaphore>
#include <QUndoStack>
#include <filesystem>

#include "core/base/resources.h"
#include "core/base/version.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "gui_demo_window.h"
#include "gui_test_support.h"
#include "tests/tiny_models.h"
#include "widgets/generate_panel.h"
#include "widgets/gpu_hud.h"
#include "widgets/job_queue.h"
#include "widgets/main_window.h"
#include "widgets/model_manager.h"
#include "widgets/product_canvas.h"
#include "widgets/product_panel.h"
#include "widgets/prompts_panel.h"

using caig::ui::MainWindow;

namespace {
// A shown window on a fresh project in `tmp` holding the three demo products.
void showDemo(MainWindow& window, const QTemporaryDir& tmp, QSize size = QSize(1280, 800)) {
  caig::test::openDemoWindow(window, tmp.filePath("p"), size);
}

// The demo products come cut out with their exact masks; the cutout tests start from none.
void forgetCutout(MainWindow& window) {
  const qint64 id = window.currentProductId();
  auto product = window.project()->store().product(id);
  QVERIFY(product && product->cutoutEngine == "alpha-file");
  product->cutoutPath.clear();
  product->cutoutEngine.clear();
  window.project()->store().updateProduct(*product);
  window.showProduct(id);
  QVERIFY(!window.canvas()->hasMask());
}
}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("CAIG Studio Tests");
    QCoreApplication::setApplicationName("caig-studio-test");
  }

  void opensOnTheDemoProducts() {
    QTemporaryDir tmp;
    MainWindow window;
    QString error;
    QVERIFY2(window.openProject(tmp.filePath("demo"), &error), qPrintable(error));
    QVERIFY2(window.ensureDemoProducts(&error), qPrintable(error));
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));

    QCOMPARE(window.project()->store().products().size(), 3u);
    QVERIFY(window.canvas()->hasImage());
    QCOMPARE(window.canvas()->image().size(), QSize(768, 768));
    auto* list = window.findChild<QListWidget*>("productList");
    QVERIFY(list);
    QCOMPARE(list->count(), 3);
    QVERIFY(window.canvas()->zoom() > 0.2 && window.canvas()->zoom() < 2.0);

    // The canvas really paints the shot: its centre is the product, not the empty backdrop.
    const QImage shown = window.canvas()->grab().toImage();
    const QColor centre = shown.pixelColor(shown.width() / 2, shown.height() / 2 + 60);
    QVERIFY2(centre != QColor(0x2b, 0x2d, 0x31), "canvas shows nothing");

    const QString shot = QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_main_window.png");
    QVERIFY(window.grab().save(shot));
    qInfo("screenshot: %s", qPrintable(shot));
  }

  void helpAboutShowsTheVersionAndTheProjectsWriters() {
    QTemporaryDir tmp;
    MainWindow window;
    showDemo(window, tmp);
    auto* about = window.findChild<QAction*>("showAbout");
    QVERIFY(about);
    about->trigger();
    auto* box = window.findChild<QMessageBox*>("aboutDialog");
    QVERIFY(box);
    QTRY_VERIFY(box->isVisible());
    const QString version = QString::fromStdString(caig::studioVersionLine());
    QVERIFY2(box->text().contains(version), qPrintable(box->text()));
    QVERIFY2(box->informativeText().contains("created with " + version), qPrintable(box->informativeText()));
    QVERIFY2(box->informativeText().contains(QString::fromStdString(caig::resourceDir().string())),
             qPrintable(box->informativeText()));
    QVERIFY(box->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_about.png")));
    box->accept();
  }

  // Help lists every action's keys, read from the actions themselves, and says how ranking works.
  void helpListsTheShortcutsAndExplainsTheRanking() {
    QTemporaryDir tmp;
    MainWindow window;
    showDemo(window, tmp);
    window.findChild<QAction*>("showShortcuts")->trigger();
    auto* table = window.findChild<QTableWidget*>("shortcutTable");
    QVERIFY(table);
    QTRY_VERIFY(table->isVisible());
    QStringList seen;
    for (QAction* a : window.findChildren<QAction*>()) {
      if (!a->shortcuts().isEmpty() && !a->text().isEmpty()) seen << a->text().remove('&').remove("...").remove(QChar(0x2026));
    }
    seen.removeDuplicates();
    QCOMPARE(table->rowCount(), seen.size());
    bool generate = false, redo = false;
    for (int r = 0; r < table->rowCount(); ++r) {
      const QString text = table->item(r, 0)->text(), keys = table->item(r, 1)->text();
      QVERIFY2(!keys.isEmpty(), qPrintable(text));
      generate = generate || (text.startsWith("Generate") && keys.contains("Ctrl+G"));
      redo = redo || (text == "Redo" && keys.contains("Ctrl+Y"));
    }
    QVERIFY(generate);
    QVERIFY(redo);
    QVERIFY(table->window()->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_help_shortcuts.png")));
    table->window()->close();

    window.findChild<QAction*>("showRankingHelp")->trigger();
    auto* box = window.findChild<QMessageBox*>("rankingHelp");
    QVERIFY(box);
    QTRY_VERIFY(box->isVisible());
    QVERIFY(box->informativeText().contains("Predicted CTR lift"));
    QVERIFY(box->informativeText().contains("uncalibrated"));
    QVERIFY(box->informativeText().contains("uncalibrated"));
    QVERIFY(box->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_help_ranking.png")));
    box->accept();
  }

  void zoomKeepsTheAnchorPixel() {
    QTemporaryDir tmp;
    MainWindow window;
    showDemo(window, tmp);
    if (QTest::currentTestFailed()) return;
    auto* canvas = window.canvas();
    const QPointF anchor(canvas->width() * 0.3, canvas->height() * 0.6);
    const QPointF before = canvas->toImage(anchor);
    const double zoom = canvas->zoom();
    canvas->zoomBy(2.0, anchor);
    QCOMPARE(canvas->zoom(), zoom * 2.0);
    const QPointF after = canvas->toImage(anchor);
    QVERIFY(std::abs(after.x() - before.x()) < 1e-6 && std::abs(after.y() - before.y()) < 1e-6);
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    QTest::keyClick(&window, Qt::Key_0, Qt::ControlModifier);  // the Fit to Window shortcut
    QCOMPARE(canvas->zoom(), zoom);
  }

  void editsPersistAcrossReopen() {
    QTemporaryDir tmp;
    const QString dir = tmp.filePath("p");
    {
      MainWindow window;
      QVERIFY(window.openProject(dir));
      QVERIFY(window.ensureDemoProducts());
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      auto* title = window.findChild<QLineEdit*>("productTitle");
      QVERIFY(title);
      QCOMPARE(title->text(), QStringLiteral("Amber Eau de Parfum 50 ml"));
      title->setFocus();
      title->selectAll();
      QTest::keyClicks(title, "Night Bloom 30 ml");
      QTest::keyClick(title, Qt::Key_Return);
    }
    MainWindow reopened;
    QVERIFY(reopened.openProject(dir));
    const auto products = reopened.project()->store().products();
    QCOMPARE(QString::fromStdString(products.front().title), QStringLiteral("Night Bloom 30 ml"));
    QCOMPARE(products.size(), 3u);  // reopening does not import the demo again
    QVERIFY(reopened.canvas()->hasImage());
  }

  // The Generate dock's counts, seed, seed mode, ad size and prompt count survive a restart (each
  // GUI test runs with settings of its own, so this starts from the defaults).
  void generateChoicesAreRememberedAcrossRestarts() {
    QTemporaryDir tmp;
    const QString dir = tmp.filePath("p");
    {
      MainWindow window;
      QVERIFY(window.openProject(dir));
      QCOMPARE(window.findChild<QSpinBox*>("seedSpin")->value(), 1);
      QCOMPARE(window.findChild<QSpinBox*>("variantCount")->value(), 4);
      window.findChild<QSpinBox*>("seedSpin")->setValue(77);
      window.findChild<QSpinBox*>("variantCount")->setValue(6);
      window.findChild<QSpinBox*>("variantsPerPrompt")->setValue(2);
      window.findChild<QSpinBox*>("promptCount")->setValue(7);
      auto* mode = window.findChild<QComboBox*>("seedMode");
      mode->setCurrentIndex(mode->findData(QStringLiteral("fixed")));
      auto* preset = window.findChild<QComboBox*>("presetCombo");
      preset->setCurrentIndex(preset->findData(QStringLiteral("9:16")));
    }
    {
      MainWindow reopened;
      QVERIFY(reopened.openProject(dir));
      QCOMPARE(reopened.findChild<QSpinBox*>("seedSpin")->value(), 77);
      QCOMPARE(reopened.findChild<QSpinBox*>("variantCount")->value(), 6);
      QCOMPARE(reopened.findChild<QSpinBox*>("variantsPerPrompt")->value(), 2);
      QCOMPARE(reopened.findChild<QSpinBox*>("promptCount")->value(), 7);
      QCOMPARE(reopened.findChild<QComboBox*>("seedMode")->currentData().toString(), QStringLiteral("fixed"));
      QCOMPARE(reopened.findChild<QComboBox*>("presetCombo")->currentData().toString(), QStringLiteral("9:16"));
    }
    QSettings().remove("generate");  // the later tests here expect the defaults
  }

  // Without ISNet weights the studio cuts out with GrabCut, says so, stores the mask, and the
  // brushes refine it with undo.
  void cutoutFallsBackToGrabCutAndBrushesRefineIt() {
    QTemporaryDir tmp;
    qputenv("CAIG_ISNET_DIR", tmp.filePath("no-isnet").toUtf8());
    MainWindow window;
    showDemo(window, tmp, QSize(1400, 900));
    if (QTest::currentTestFailed()) return;
    forgetCutout(window);
    if (QTest::currentTestFailed()) return;
    const qint64 id = window.currentProductId();

    QSignalSpy done(&window, &MainWindow::cutoutFinished);
    window.cutOutCurrentProduct();
    QVERIFY(window.cutoutRunning());
    QVERIFY(done.wait(60000));
    QCOMPARE(done.at(0).at(0).toBool(), true);
    QCOMPARE(done.at(0).at(1).toString(), QStringLiteral("grabcut"));
    QVERIFY(window.canvas()->hasMask());
    QCOMPARE(QString::fromStdString(window.project()->store().product(id)->cutoutEngine), QStringLiteral("grabcut"));

    // The mask agrees with the demo shot's exact alpha.
    cv::Mat truth = caig::loadImage(caig::resourceDir() / "demo" / "perfume.alpha.png");
    cv::extractChannel(truth, truth, 0);
    const cv::Mat got = window.project()->cutout(id);
    const double inter = cv::countNonZero((truth > 127) & (got > 127));
    const double uni = cv::countNonZero((truth > 127) | (got > 127));
    qInfo("GrabCut IoU on the demo perfume shot: %.3f", inter / uni);
    QVERIFY(inter / uni > 0.9);
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_cutout.png")));

    // A remove-brush stroke across the product's centre clears the mask there; undo restores it.
    auto* canvas = window.canvas();
    canvas->setTool(caig::ui::ProductCanvas::Tool::RemoveBrush);
    canvas->setBrushSize(40);
    const QPointF centreImage(384, 470);  // inside the bottle
    const QPoint centre = canvas->toWidget(centreImage).toPoint();
    QCOMPARE(qGray(canvas->mask().pixel(384, 470)), 255);
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, centre);
    QTest::mouseMove(canvas, centre + QPoint(10, 0));
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, centre + QPoint(10, 0));
    QCOMPARE(qGray(canvas->mask().pixel(384, 470)), 0);
    QCOMPARE(window.project()->cutout(id).at<uchar>(470, 384), uchar(0));
    QCOMPARE(QString::fromStdString(window.project()->store().product(id)->cutoutEngine), QStringLiteral("painted"));
    window.undoStack()->undo();
    QCOMPARE(qGray(canvas->mask().pixel(384, 470)), 255);
    QCOMPARE(window.project()->cutout(id).at<uchar>(470, 384), uchar(255));
    window.undoStack()->redo();
    QCOMPARE(qGray(canvas->mask().pixel(384, 470)), 0);
    qunsetenv("CAIG_ISNET_DIR");
  }

  // Generate on a product that has no cutout yet: the job cuts it out (GrabCut here), renders
  // the variants, stores them, and the grid shows them; a variant opens on the canvas.
  void generatesBuiltinVariantsIntoTheGrid() {
    QTemporaryDir tmp;
    qputenv("CAIG_ISNET_DIR", tmp.filePath("no-isnet").toUtf8());
    MainWindow window;
    showDemo(window, tmp, QSize(1500, 950));
    if (QTest::currentTestFailed()) return;
    forgetCutout(window);
    if (QTest::currentTestFailed()) return;
    const qint64 id = window.currentProductId();

    QSignalSpy done(&window, &MainWindow::generationFinished);
    QSignalSpy ranked(&window, &MainWindow::rankingFinished);
    caig::ui::GenerateSettings settings;
    settings.presetId = "1:1-512";
    settings.variants = 3;
    settings.seed = 7;
    window.generateForCurrentProduct(settings);
    QVERIFY(window.generating());
    QVERIFY(done.wait(120000));
    QCOMPARE(done.at(0).at(0).toInt(), 3);
    QVERIFY(done.at(0).at(1).toString().isEmpty());
    QCOMPARE(window.project()->store().variants(id).size(), 3u);
    QCOMPARE(QString::fromStdString(window.project()->store().product(id)->cutoutEngine), QStringLiteral("grabcut"));
    // Ranking follows generation: every variant gets a rank and P(beats the original).
    QVERIFY(ranked.count() > 0 || ranked.wait(60000));
    QCOMPARE(ranked.at(0).at(0).toInt(), 3);
    std::vector<int> ranks;
    for (const auto& v : window.project()->store().variants(id)) {
      QVERIFY(v.rank.has_value() && v.winProbability.has_value());
      ranks.push_back(*v.rank);
    }
    std::sort(ranks.begin(), ranks.end());
    QCOMPARE(ranks, (std::vector<int>{1, 2, 3}));
    auto* grid = window.findChild<QListWidget*>("variantList");
    QVERIFY(grid);
    QCOMPARE(grid->count(), 3);
    QVERIFY2(grid->item(0)->text().startsWith("#1"), qPrintable(grid->item(0)->text()));
    QVERIFY(!grid->item(0)->icon().isNull());
    grid->setCurrentRow(1);
    QCOMPARE(window.canvas()->image().size(), QSize(512, 512));
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_generate.png")));
    qunsetenv("CAIG_ISNET_DIR");
  }

  // Variants and products are deleted from the grid and the product list (Delete key, right
  // click), after a question that Cancel leaves unanswered; the files go with the records.
  void deletesVariantsAndProducts() {
    QTemporaryDir tmp;
    MainWindow window;
    showDemo(window, tmp, QSize(1400, 900));
    if (QTest::currentTestFailed()) return;
    caig::Project& project = *window.project();
    const qint64 id = window.currentProductId();
    for (int i = 0; i < 3; ++i) {
      const std::string file = "variants/v" + std::to_string(i) + ".png";
      caig::saveImage(project.absolute(file), cv::Mat(64, 64, CV_8UC3, cv::Scalar(40 * i, 90, 200)));
      caig::Variant v;
      v.productId = id;
      v.imagePath = file;
      v.seed = i;
      project.store().addVariant(v);
    }
    window.showProduct(id);
    auto* grid = window.findChild<QListWidget*>("variantList");
    QCOMPARE(grid->count(), 3);
    bool menuHasDelete = false;
    for (QAction* a : grid->actions()) menuHasDelete |= a->text().startsWith("Delete");
    QVERIFY(menuHasDelete);
    QCOMPARE(grid->contextMenuPolicy(), Qt::ActionsContextMenu);
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));

    // Cancel: nothing changes.
    grid->setFocus();
    grid->item(0)->setSelected(true);
    grid->item(1)->setSelected(true);
    caig::test::onNextModal([](QWidget* modal) {
      QVERIFY(modal->objectName() == "confirmDelete");
      QTest::keyClick(modal, Qt::Key_Escape);
    });
    QTest::keyClick(grid, Qt::Key_Delete);
    QCOMPARE(project.store().variants(id).size(), 3u);

    // Delete: two records and their files go.
    const QList<qint64> chosen = {grid->item(0)->data(Qt::UserRole).toLongLong(),
                                  grid->item(1)->data(Qt::UserRole).toLongLong()};
    caig::test::onNextModal([](QWidget* modal) {
      auto* box = qobject_cast<QMessageBox*>(modal);
      QVERIFY(box && box->text().contains("2 variants"));
      for (QAbstractButton* b : box->buttons()) {
        if (b->text() == "Delete") b->click();
      }
    });
    QTest::mouseClick(window.findChild<QPushButton*>("deleteVariantsButton"), Qt::LeftButton);  // the button this time
    const auto left = project.store().variants(id);
    QCOMPARE(left.size(), 1u);
    QVERIFY(!chosen.contains(left[0].id));
    QCOMPARE(grid->count(), 1);
    int files = 0;
    for (int i = 0; i < 3; ++i)
      files += std::filesystem::exists(project.absolute("variants/v" + std::to_string(i) + ".png"));
    QCOMPARE(files, 1);

    // The product: Delete in the product list; the window moves on to another product.
    auto* products = window.findChild<QListWidget*>("productList");
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    products->setFocus();
    const std::string shot = project.store().product(id)->imagePath;
    caig::test::onNextModal([](QWidget* modal) {
      auto* box = qobject_cast<QMessageBox*>(modal);
      QVERIFY(box && box->text().contains("1 variant"));
      for (QAbstractButton* b : box->buttons()) {
        if (b->text() == "Delete") b->click();
      }
    });
    QTest::keyClick(products, Qt::Key_Delete);
    QVERIFY(!project.store().product(id));
    QCOMPARE(products->count(), 2);
    QCOMPARE(project.store().products().size(), 2u);
    QVERIFY(window.currentProductId() != id && window.currentProductId() != 0);
    QVERIFY(!std::filesystem::exists(project.absolute(shot)));
    QVERIFY(!std::filesystem::exists(project.absolute("variants/v2.png")));
    QVERIFY(window.canvas()->hasImage());
    caig::test::screenshot(window, "gui_after_delete.png");
  }

  // With no cutout at all, the Keep brush paints a mask from nothing; undo removes it again.
  void keepBrushPaintsAMaskByHand() {
    QTemporaryDir tmp;
    MainWindow window;
    showDemo(window, tmp);
    if (QTest::currentTestFailed()) return;
    forgetCutout(window);
    if (QTest::currentTestFailed()) return;
    const qint64 id = window.currentProductId();
    auto* canvas = window.canvas();
    QVERIFY(!canvas->hasMask());
    canvas->setTool(caig::ui::ProductCanvas::Tool::KeepBrush);
    canvas->setBrushSize(30);
    const QPoint at = canvas->toWidget(QPointF(300, 300)).toPoint();
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, at);
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, at);
    QVERIFY(canvas->hasMask());
    QCOMPARE(qGray(canvas->mask().pixel(300, 300)), 255);
    QCOMPARE(qGray(canvas->mask().pixel(100, 100)), 0);
    QCOMPARE(window.project()->cutout(id).at<uchar>(300, 300), uchar(255));
    window.undoStack()->undo();
    QVERIFY(!canvas->hasMask());
    QVERIFY(window.project()->cutout(id).empty());
  }

  // View > GPU HUD overlays the HUD on the canvas (ImGui, or its label where GL is unusable)
  // and follows the job queue; Tools > Models opens the model manager.
  void gpuHudAndModelManagerOpenFromTheMenus() {
    QTemporaryDir tmp;
    qputenv("CAIG_MODELS_DIR", tmp.filePath("models").toUtf8());
    MainWindow window;
    showDemo(window, tmp);
    if (QTest::currentTestFailed()) return;
    auto* toggle = window.findChild<QAction*>("toggleGpuHud");
    QVERIFY(toggle);
    QVERIFY(toggle->isCheckable());
    QVERIFY(!window.hud());
    toggle->trigger();
    QVERIFY(window.hud());
    QTRY_VERIFY(window.hud()->isVisible());
    QCOMPARE(window.hud()->parentWidget(), static_cast<QWidget*>(window.canvas()));
    QVERIFY2(window.hud()->text().contains("Device"), qPrintable(window.hud()->text()));

    // A running job shows in the HUD by kind and title, with the queue behind it.
    QSemaphore release;
    window.jobQueue()->enqueue("test", "slow job", [&release](caig::ui::JobContext& ctx) -> caig::ui::JobApply {
      ctx.progress(0.5, "half");
      release.acquire();
      return {};
    });
    window.jobQueue()->enqueue("test", "waiting job", [](caig::ui::JobContext&) -> caig::ui::JobApply { return {}; });
    QTRY_VERIFY2(window.hud()->text().contains("test: slow job"), qPrintable(window.hud()->text()));
    QCOMPARE(window.hud()->stats().queueLength, 1);
    QTest::qWait(300);
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_hud.png")));
    release.release();
    QTRY_VERIFY(window.jobQueue()->isIdle());
    QTRY_VERIFY(window.hud()->stats().jobName.empty());
    toggle->trigger();
    QVERIFY(!window.hud()->isVisible());

    auto* models = window.findChild<QAction*>("openModelManager");
    QVERIFY(models);
    bool seen = false;
    QTimer::singleShot(200, [&seen] {
      for (QWidget* w : QApplication::topLevelWidgets()) {
        if (auto* dialog = qobject_cast<caig::ui::ModelManager*>(w); dialog && dialog->isVisible()) {
          seen = dialog->table() != nullptr;
          dialog->reject();
        }
      }
    });
    models->trigger();
    QVERIFY(seen);
    qunsetenv("CAIG_MODELS_DIR");
  }

  // The Generate dock offers neural engines only for installed, usable models; the built-in
  // ones stay first and selected. Writing prompts with the built-in planner fills the Prompts
  // dock with their source, and a checked prompt is pinned in the project.
  void neuralEnginesOnlyWhenInstalledAndPromptsArePinnable() {
    QTemporaryDir tmp;
    qputenv("CAIG_MODELS_DIR", tmp.filePath("models").toUtf8());
    MainWindow window;
    showDemo(window, tmp, QSize(1500, 950));
    if (QTest::currentTestFailed()) return;
    auto* panel = window.generatePanel();
    QVERIFY(panel);
    QCOMPARE(panel->engineCombo()->count(), 2);  // built-in + "no model installed"
    QCOMPARE(panel->settings().engine, QStringLiteral("builtin"));
    QCOMPARE(panel->promptWriterCombo()->count(), 1);
    QCOMPARE(panel->rankerCombo()->count(), 1);
    QVERIFY(!window.findChild<QWidget*>("sd15Settings")->isVisible());

    std::vector<caig::InstalledModel> models(5);
    const caig::ModelKind kinds[] = {caig::ModelKind::StableDiffusion, caig::ModelKind::ControlNet, caig::ModelKind::Llava,
                                     caig::ModelKind::RewardModel, caig::ModelKind::Llava};
    for (int i = 0; i < 5; ++i) {
      models[i].kind = kinds[i];
      models[i].name = "model" + std::to_string(i);
      models[i].path = tmp.filePath(QString("m%1").arg(i)).toStdString();
    }
    models[4].status = caig::ModelStatus::MissingFiles;  // not offered
    panel->setInstalledModels(models);
    QCOMPARE(panel->engineCombo()->count(), 2);
    QCOMPARE(panel->promptWriterCombo()->count(), 2);
    QCOMPARE(panel->rankerCombo()->count(), 2);
    QCOMPARE(panel->settings().engine, QStringLiteral("builtin"));
    panel->engineCombo()->setCurrentIndex(1);
    QCOMPARE(panel->settings().engine, QStringLiteral("sd15"));
    QCOMPARE(panel->settings().modelDir, tmp.filePath("m0"));
    QVERIFY(window.findChild<QWidget*>("sd15Settings")->isVisible());
    // LoRAs: none installed says where they go; an installed one is a row to tick at a weight,
    // and the tick and weight survive a rescan.
    auto* loraList = window.findChild<QWidget*>("lorasList");
    QVERIFY(loraList);
    QVERIFY(loraList->findChild<QLabel*>());
    QVERIFY(panel->settings().options["loras"].empty());
    caig::InstalledModel lora;
    lora.kind = caig::ModelKind::SdLora;
    lora.name = "marble-podium";
    lora.path = tmp.filePath("loras/marble-podium.safetensors").toStdString();
    models.push_back(lora);
    panel->setInstalledModels(models);
    panel->engineCombo()->setCurrentIndex(1);
    auto* tick = loraList->findChild<QCheckBox*>("lora0");
    QVERIFY(tick);
    QCOMPARE(tick->text(), QStringLiteral("marble-podium"));
    QVERIFY(panel->settings().options["loras"].empty());
    tick->setChecked(true);
    auto* slider = loraList->findChild<QSlider*>();
    QVERIFY(slider);
    slider->setValue(55);
    QCOMPARE(loraList->findChild<QDoubleSpinBox*>("lora0Weight")->value(), 0.55);
    auto chosen = panel->settings().options["loras"];
    QCOMPARE(chosen.size(), std::size_t(1));
    QCOMPARE(QString::fromStdString(chosen[0]["file"].get<std::string>()), QString::fromStdString(lora.path.string()));
    QCOMPARE(chosen[0]["weight"].get<double>(), 0.55);
    panel->setInstalledModels(models);
    panel->engineCombo()->setCurrentIndex(1);
    chosen = panel->settings().options["loras"];
    QCOMPARE(chosen.size(), std::size_t(1));
    QCOMPARE(chosen[0]["weight"].get<double>(), 0.55);
    // TAESD: the previews take the installed one until the user picks in that combo; VAE files
    // are offered, none chosen (the model's own).
    auto* previews = window.findChild<QComboBox*>("taesdCombo");
    QVERIFY(previews);
    QVERIFY(panel->settings().options["taesd"].is_null());
    caig::InstalledModel taesd, vaeFile;
    taesd.kind = caig::ModelKind::Taesd;
    taesd.name = "taesd_decoder";
    taesd.path = tmp.filePath("taesd_decoder.safetensors").toStdString();
    vaeFile.kind = caig::ModelKind::Vae;
    vaeFile.name = "vae-ft-mse";
    vaeFile.path = tmp.filePath("vae-ft-mse.safetensors").toStdString();
    models.push_back(taesd);
    models.push_back(vaeFile);
    panel->setInstalledModels(models);
    panel->engineCombo()->setCurrentIndex(1);
    QCOMPARE(QString::fromStdString(panel->settings().options["taesd"].get<std::string>()),
             QString::fromStdString(taesd.path.string()));
    QCOMPARE(window.findChild<QComboBox*>("vaeCombo")->count(), 2);
    QVERIFY(panel->settings().options["vae"].is_null());
    QCOMPARE(QString::fromStdString(panel->settings().options["vaeDecode"].get<std::string>()), QStringLiteral("vae"));
    previews->setCurrentIndex(0);
    Q_EMIT previews->activated(0);  // the user chose the rough colours: a rescan keeps that
    panel->setInstalledModels(models);
    panel->engineCombo()->setCurrentIndex(1);
    QVERIFY(panel->settings().options["taesd"].is_null());
    // Quality: picking a preset sets the options it stands for, where the user sees them.
    auto* quality = window.findChild<QComboBox*>("qualityCombo");
    QVERIFY(quality);
    quality->setCurrentIndex(quality->findData(QStringLiteral("fast")));
    Q_EMIT quality->activated(quality->currentIndex());
    auto fast = panel->settings().options;
    QCOMPARE(QString::fromStdString(fast["quality"].get<std::string>()), QStringLiteral("fast"));
    QCOMPARE(QString::fromStdString(fast["sampler"].get<std::string>()), QStringLiteral("lcm"));
    QCOMPARE(fast["steps"].get<int>(), 4);
    QCOMPARE(fast["cfg"].get<double>(), 1.0);
    QCOMPARE(QString::fromStdString(fast["vaeDecode"].get<std::string>()), QStringLiteral("taesd"));
    quality->setCurrentIndex(quality->findData(QStringLiteral("caig")));
    Q_EMIT quality->activated(quality->currentIndex());
    QCOMPARE(panel->settings().options["steps"].get<int>(), 30);
    QCOMPARE(QString::fromStdString(panel->settings().options["sampler"].get<std::string>()),
             QStringLiteral("euler_a"));
    // A single-file checkpoint holds no ControlNet: the installed one is picked for it, and the
    // folder pipeline goes back to its own.
    caig::InstalledModel checkpoint;
    checkpoint.kind = caig::ModelKind::StableDiffusion;
    checkpoint.name = "majicmix";
    checkpoint.path = tmp.filePath("majicmix.safetensors").toStdString();
    QFile(tmp.filePath("majicmix.safetensors")).open(QIODevice::WriteOnly);
    models.push_back(checkpoint);
    panel->setInstalledModels(models);
    auto* controlnet = window.findChild<QComboBox*>("controlnetCombo");
    QVERIFY(controlnet);
    panel->engineCombo()->setCurrentIndex(1);
    QCOMPARE(controlnet->currentIndex(), 0);  // the folder: its own controlnet/
    panel->engineCombo()->setCurrentIndex(2);
    QCOMPARE(panel->settings().modelDir, tmp.filePath("majicmix.safetensors"));
    QCOMPARE(QString::fromStdString(panel->settings().options["controlnet"].get<std::string>()), tmp.filePath("m1"));
    panel->engineCombo()->setCurrentIndex(1);
    QCOMPARE(controlnet->currentIndex(), 0);
    models.pop_back();
    models.pop_back();
    models.pop_back();
    models.pop_back();
    panel->setInstalledModels(models, {caig::generatorKind("builtin")});  // a build without the SD generator: not selectable
    QCOMPARE(panel->settings().engine, QStringLiteral("builtin"));
    window.refreshInstalledModels();  // the real (empty) models folder again
    QCOMPARE(panel->promptWriterCombo()->count(), 1);

    QSignalSpy written(&window, &MainWindow::promptsWritten);
    window.writePrompts();
    QVERIFY(written.wait(30000));
    QVERIFY2(written.at(0).at(1).toString().isEmpty(), qPrintable(written.at(0).at(1).toString()));
    const int n = written.at(0).at(0).toInt();
    QCOMPARE(n, panel->promptCount());
    auto* list = window.findChild<QListWidget*>("promptList");
    QCOMPARE(list->count(), n);
    QCOMPARE(list->item(0)->data(caig::ui::PromptsPanel::SourceRole).toString(), QStringLiteral("builtin"));
    list->item(1)->setCheckState(Qt::Checked);
    int pinned = 0;
    for (const auto& p : window.project()->store().prompts(window.currentProductId())) pinned += p.pinned;
    QCOMPARE(pinned, 1);
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_prompts.png")));
    qunsetenv("CAIG_MODELS_DIR");
  }

  void badShotsAreRefusedWithAReason() {
    QTemporaryDir tmp;
    MainWindow window;
    QVERIFY(window.openProject(tmp.filePath("p")));
    QFile fake(tmp.filePath("fake.png"));
    QVERIFY(fake.open(QIODevice::WriteOnly));
    fake.write("definitely not a png");
    fake.close();
    QString error;
    QVERIFY(!window.importProductShot(fake.fileName(), &error));
    QVERIFY2(error.contains("fake.png"), qPrintable(error));
    QVERIFY(window.project()->store().products().empty());
    QVERIFY(!window.canvas()->hasImage());

    QFile notProject(tmp.filePath("busy/file.txt"));
    QDir().mkpath(tmp.filePath("busy"));
    QVERIFY(notProject.open(QIODevice::WriteOnly));
    notProject.write("x");
    notProject.close();
    QVERIFY(!window.openProject(tmp.filePath("busy"), &error));
    QVERIFY(window.project() != nullptr);  // the open project stays open
  }

  // A reward model the project trained itself (models/<run>/merged) is offered as a ranker as
  // soon as the project opens.
  void projectTrainedRewardModelIsOfferedAsRanker() {
    namespace fs = std::filesystem;
    const fs::path data = CAIG_TEST_DATA;
    QTemporaryDir tmp;
    {
      MainWindow first;  // creates the project
      QVERIFY(first.openProject(tmp.filePath("p")));
    }
    const fs::path merged = caig::test::assembleTinyRewardModel(
        data, fs::path(tmp.filePath("p").toStdString()) / "models" / "shop-rm" / "merged");
    MainWindow window;
    QVERIFY(window.openProject(tmp.filePath("p")));
    auto* ranker = window.findChild<QComboBox*>("rankerCombo");
    QVERIFY(ranker);
    const int index = ranker->findData(QString::fromStdString(merged.string()));
    QVERIFY2(index > 0, qPrintable(ranker->itemText(ranker->count() - 1)));
    QVERIFY2(ranker->itemText(index).contains("shop-rm (project)"), qPrintable(ranker->itemText(index)));
  }

  // Edit > Paste Product Shot: image pixels and copied image files both become products;
  // a clipboard without either changes nothing.
  void pastesShotsFromTheClipboard() {
    QTemporaryDir tmp;
    MainWindow window;
    QVERIFY(window.openProject(tmp.filePath("p")));
    QImage pixels(120, 90, QImage::Format_ARGB32);
    pixels.fill(Qt::transparent);
    for (int y = 20; y < 70; ++y)
      for (int x = 30; x < 90; ++x) pixels.setPixel(x, y, qRgba(200, 40, 40, 255));
    QGuiApplication::clipboard()->setImage(pixels);
    QCOMPARE(window.pasteShots(), 1);
    auto products = window.project()->store().products();
    QCOMPARE(products.size(), std::size_t{1});
    QVERIFY(QString::fromStdString(products[0].title).startsWith("Pasted shot"));
    QCOMPARE(window.canvas()->image().size(), QSize(120, 90));

    auto* files = new QMimeData;
    files->setUrls({QUrl::fromLocalFile(QString::fromStdString((caig::resourceDir() / "demo" / "jar.png").string()))});
    QGuiApplication::clipboard()->setMimeData(files);
    QCOMPARE(window.pasteShots(), 1);
    QCOMPARE(window.project()->store().products().size(), std::size_t{2});

    QGuiApplication::clipboard()->setText("just words");
    QCOMPARE(window.pasteShots(), 0);
    QCOMPARE(window.project()->store().products().size(), std::size_t{2});
  }
};

QTEST_MAIN(MainWindowTest)
#include "test_main_window.moc"
