// The Place tool in the real studio window (X server): the product on the Generate dock's ad
// frame with CAIG's 0.78 guide, a mouse drag and wheel steps stored as the product's placement,
// undo/redo, the 10% clamp, reset, one placement for every ad size, and a built-in generation
// that puts the product where it was placed. Saves screenshots to look at.

#include <QAction>
#include <QComboBox>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QRegularExpression>
#include <QUndoStack>
#include <QWheelEvent>
#include <QtTest>

#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/generation/composition.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/base/resources.h"
#include "widgets/generate_panel.h"
#include "widgets/main_window.h"
#include "widgets/placement_view.h"
#include "widgets/product_canvas.h"
#include "widgets/qt_image.h"

using caig::PlacementOverride;
using caig::ui::MainWindow;
using caig::ui::ProductCanvas;

namespace {

// The demo alpha of the shot the product was imported from (the demo shots are deterministic).
cv::Mat demoAlphaFor(const cv::Mat& shot) {
  for (const char* name : {"perfume", "mug", "jar"}) {
    const auto dir = caig::resourceDir() / "demo";
    const cv::Mat demo = caig::loadImage(dir / (std::string(name) + ".png"));
    if (demo.size() != shot.size() || demo.type() != shot.type() || cv::norm(demo, shot, cv::NORM_INF) != 0) continue;
    cv::Mat alpha = caig::loadImage(dir / (std::string(name) + ".alpha.png"));
    if (alpha.channels() > 1) cv::extractChannel(alpha, alpha, 0);
    return alpha;
  }
  return {};
}

void choosePreset(MainWindow& window, const QString& id) {
  auto* presets = window.generatePanel()->findChild<QComboBox*>("presetCombo");
  QVERIFY(presets);
  const int index = presets->findData(id);
  QVERIFY(index >= 0);
  presets->setCurrentIndex(index);
}

void wheel(QWidget* widget, QPointF pos, int notches) {
  QWheelEvent event(pos, widget->mapToGlobal(pos), QPoint(), QPoint(0, 120 * notches), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QApplication::sendEvent(widget, &event);
}

QPointF centreOf(const QRect& r) { return QPointF(r.x() + r.width() / 2.0, r.y() + r.height() / 2.0); }

}  // namespace

class PlacementTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("CAIG Studio Tests");
    QCoreApplication::setApplicationName("caig-studio-test");
  }

  void placeDragScaleUndoAndGenerate() {
    QTemporaryDir tmp;
    MainWindow window;
    QString error;
    QVERIFY2(window.openProject(tmp.filePath("p"), &error), qPrintable(error));
    QVERIFY2(window.ensureDemoProducts(&error), qPrintable(error));
    window.resize(1500, 950);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const qint64 id = window.currentProductId();
    QVERIFY(id > 0);
    auto& store = window.project()->store();
    const auto product = store.product(id);
    QVERIFY(product.has_value());
    const cv::Mat shot = caig::loadImage(window.project()->absolute(product->imagePath));
    const cv::Mat alpha = demoAlphaFor(shot);
    QVERIFY2(!alpha.empty(), "the first product is not a demo shot");
    window.applyMask(id, caig::ui::toQImage(alpha), QStringLiteral("demo"));
    QVERIFY(window.canvas()->hasMask());
    window.undoStack()->clear();

    // The Place tool frames the Generate dock's ad size around CAIG's default placement.
    choosePreset(window, "1:1-512");
    auto* canvas = window.canvas();
    auto* view = canvas->placementView();
    QCOMPARE(view->adSize(), QSize(512, 512));
    auto* place = window.findChild<QAction*>("PlaceTool");
    QVERIFY(place);
    QCOMPARE(place->shortcut(), QKeySequence(Qt::Key_P));
    place->trigger();
    QCOMPARE(canvas->tool(), ProductCanvas::Tool::Place);
    QVERIFY(canvas->placing());
    QVERIFY(view->hasProduct());
    const cv::Rect box = caig::productBox(alpha);
    const cv::Rect expected = caig::defaultPlacement(box, {512, 512}).target;
    QCOMPARE(view->productRect(), QRect(expected.x, expected.y, expected.width, expected.height));
    QCOMPARE(view->guideRect(), QRect(56, 56, 399, 399));  // floor(0.78 x 512), centred
    QVERIFY(!store.placement(id).has_value());
    QTest::qWait(50);
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_place_default.png")));

    // A drag right and up moves the product by the same distance on the ad.
    const double pixelsPerAd = view->toWidget({1, 0}).x() - view->toWidget({0, 0}).x();
    QVERIFY(pixelsPerAd > 0.2);
    const QPoint start = view->toWidget(centreOf(view->productRect())).toPoint();
    const QPoint drag(120, -40);
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, start);
    for (int i = 1; i <= 4; ++i) QTest::mouseMove(canvas, start + drag * i / 4);
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, start + drag);
    auto moved = store.placement(id);
    QVERIFY(moved.has_value());
    QCOMPARE(moved->scale, 1.0);
    QVERIFY2(std::abs(moved->dx - drag.x() / pixelsPerAd / 512) < 1.0 / 512, qPrintable(QString::number(moved->dx)));
    QVERIFY2(std::abs(moved->dy - drag.y() / pixelsPerAd / 512) < 1.0 / 512, qPrintable(QString::number(moved->dy)));
    QVERIFY(moved->dx > 0 && moved->dy < 0);
    QCOMPARE(window.undoStack()->count(), 1);

    // Two wheel notches scale it about its centre, one undo step.
    const QPointF centreBefore = centreOf(view->productRect());
    wheel(canvas, view->toWidget(centreBefore), 1);
    wheel(canvas, view->toWidget(centreBefore), 1);
    const auto scaled = store.placement(id);
    QVERIFY(scaled.has_value());
    QVERIFY2(std::abs(scaled->scale - 1.21) < 1e-9, qPrintable(QString::number(scaled->scale)));
    QCOMPARE(scaled->dx, moved->dx);
    const QPointF centreAfter = centreOf(view->productRect());
    QVERIFY(std::abs(centreAfter.x() - centreBefore.x()) <= 1.0 && std::abs(centreAfter.y() - centreBefore.y()) <= 1.0);
    QCOMPARE(window.undoStack()->count(), 2);

    // Undo (Ctrl+Z) restores the stored placement step by step; redo brings it back, by Ctrl+Y
    // and by Ctrl+Shift+Z (a key Qt finds twice is ambiguous and does nothing).
    QTest::failOnWarning(QRegularExpression("Ambiguous shortcut"));
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));
    QTest::keyClick(canvas, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(store.placement(id), moved);
    QCOMPARE(view->placementOverride(), moved);
    QTest::keyClick(canvas, Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(!store.placement(id).has_value());
    QVERIFY(!view->placementOverride().has_value());
    QCOMPARE(view->productRect(), QRect(expected.x, expected.y, expected.width, expected.height));
    QTest::keyClick(canvas, Qt::Key_Y, Qt::ControlModifier);
    QCOMPARE(store.placement(id), moved);
    QTest::keyClick(canvas, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(store.placement(id), scaled);

    // However far it is dragged, 10% of the product's width stays on the ad; undo takes it back.
    const QPoint from = view->toWidget(centreOf(view->productRect())).toPoint();
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, from);
    QTest::mouseMove(canvas, from + QPoint(5000, 0));
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, from + QPoint(5000, 0));
    const QRect far = view->productRect();
    const QRect visible = far & QRect(0, 0, 512, 512);
    QVERIFY2(visible.width() >= 0.1 * far.width() && visible.width() <= 0.1 * far.width() + 1,
             qPrintable(QStringLiteral("%1 of %2").arg(visible.width()).arg(far.width())));
    QVERIFY(store.placement(id)->dx > scaled->dx);
    window.undoStack()->undo();
    QCOMPARE(store.placement(id), scaled);

    // The same placement on another ad size: moved by the same fraction of that canvas.
    choosePreset(window, "9:16");
    QCOMPARE(view->adSize(), QSize(1080, 1920));
    const cv::Rect tall = caig::defaultPlacement(box, {1080, 1920}).target;
    const QPointF tallCentre = centreOf(view->productRect());
    QVERIFY(std::abs(tallCentre.x() - (tall.x + tall.width / 2.0) - scaled->dx * 1080) <= 1.5);
    QVERIFY(std::abs(tallCentre.y() - (tall.y + tall.height / 2.0) - scaled->dy * 1920) <= 1.5);
    choosePreset(window, "1:1-512");
    QTest::qWait(50);
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_placement.png")));
    QVERIFY(canvas->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_placement_canvas.png")));

    // Generating with the built-in engine puts the product where it was placed.
    QSignalSpy done(&window, &MainWindow::generationFinished);
    caig::ui::GenerateSettings settings;
    settings.presetId = "1:1-512";
    settings.variants = 1;
    settings.seed = 3;
    window.generateForCurrentProduct(settings);
    QVERIFY(done.wait(120000));
    QCOMPARE(done.at(0).at(0).toInt(), 1);
    const auto variants = store.variants(id);
    QCOMPARE(variants.size(), 1u);
    const auto params = nlohmann::json::parse(variants[0].paramsJson).at("placement");
    QCOMPARE(params.at("dx").get<double>(), scaled->dx);
    QCOMPARE(params.at("scale").get<double>(), scaled->scale);
    const cv::Mat image = caig::loadImage(window.project()->absolute(variants[0].imagePath));
    QCOMPARE(image.cols, 512);
    const caig::ProductShot prepared = caig::prepareProduct(shot, alpha);
    auto opaqueCore = [](const caig::Layout& layout) {
      cv::Mat core;
      cv::erode(layout.alpha == 255, core, cv::Mat::ones(5, 5, CV_8U));
      return core;
    };
    const caig::Layout placedLayout = caig::layoutProduct(
        prepared, {512, 512}, caig::productPlacement(caig::productBox(prepared.alpha), {512, 512}, scaled));
    const caig::Layout defaultLayout = caig::layoutProduct(prepared, {512, 512});
    QVERIFY(cv::countNonZero(opaqueCore(placedLayout)) > 500);
    // The product's own pixels are at the placed position, not at the default one.
    QCOMPARE(cv::norm(image, placedLayout.product, cv::NORM_INF, opaqueCore(placedLayout)), 0.0);
    QVERIFY(cv::norm(image, defaultLayout.product, cv::NORM_INF, opaqueCore(defaultLayout)) > 0.0);
    const cv::Rect placedBox = cv::boundingRect(placedLayout.alpha), defaultBox = cv::boundingRect(defaultLayout.alpha);
    QVERIFY(std::abs((placedBox.x + placedBox.width / 2.0) - (defaultBox.x + defaultBox.width / 2.0) -
                     scaled->dx * 512) <= 1.0);

    // A shown variant keeps the plain canvas; the product shot brings the ad frame back.
    window.showVariant(variants[0].id);
    QVERIFY(!canvas->placing());
    window.showProduct(id);
    QVERIFY(canvas->placing());
    QCOMPARE(view->placementOverride(), scaled);

    // A double-click returns to CAIG's default (undoable); so does the Reset Placement action.
    QTest::mouseDClick(canvas, Qt::LeftButton, Qt::NoModifier, view->toWidget({256, 256}).toPoint());
    QVERIFY(!store.placement(id).has_value());
    QCOMPARE(view->productRect(), QRect(expected.x, expected.y, expected.width, expected.height));
    window.undoStack()->undo();
    QCOMPARE(store.placement(id), scaled);
    auto* reset = window.findChild<QAction*>("resetPlacement");
    QVERIFY(reset);
    reset->trigger();
    QVERIFY(!store.placement(id).has_value());

    // "Same seed again" renders the variant where it was placed then, whatever the placement now.
    QSignalSpy again(&window, &MainWindow::generationFinished);
    window.regenerateVariant(variants[0].id);
    QVERIFY(again.wait(120000));
    QCOMPARE(again.at(0).at(0).toInt(), 1);
    const auto after = store.variants(id);
    QCOMPARE(after.size(), 2u);
    const auto& copy = after[0].id == variants[0].id ? after[1] : after[0];
    QCOMPARE(cv::norm(caig::loadImage(window.project()->absolute(copy.imagePath)), image, cv::NORM_INF), 0.0);

    // The corner handle scales about the centre: dragged outwards, the product grows and stays put.
    const QRect r = view->productRect();
    const QPoint corner = view->toWidget(QPointF(r.x() + r.width(), r.y() + r.height())).toPoint();
    QTest::mousePress(canvas, Qt::LeftButton, Qt::NoModifier, corner);
    QTest::mouseMove(canvas, corner + QPoint(30, 30));
    QTest::mouseRelease(canvas, Qt::LeftButton, Qt::NoModifier, corner + QPoint(30, 30));
    const auto grown = store.placement(id);
    QVERIFY(grown.has_value());
    QVERIFY2(grown->scale > 1.05, qPrintable(QString::number(grown->scale)));
    QCOMPARE(grown->dx, 0.0);
    QCOMPARE(grown->dy, 0.0);
  }
};

QTEST_MAIN(PlacementTest)
#include "test_placement.moc"
