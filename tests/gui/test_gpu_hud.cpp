// The GPU HUD in a real X server: Dear ImGui drawn in a QOpenGLWidget overlaid on a canvas,
// fed with stats, clicked, and the QLabel fallback used where OpenGL is not.

#include <QLabel>
#include <QWheelEvent>
#include <QtTest>

#include "widgets/gpu_hud.h"

using caig::ui::GpuHud;
using caig::ui::HudStats;

namespace {

HudStats busyGpuStats() {
  HudStats s;
  s.cuda = true;
  s.device = "cuda:0";
  s.deviceName = "NVIDIA H100 80GB HBM3";
  s.vramTotal = 80ull << 30;
  s.vramUsed = 14ull << 30;
  s.vramFree = s.vramTotal - s.vramUsed;
  s.allocatorStats = true;
  s.allocatorReserved = 12ull << 30;
  s.allocatorAllocated = 9ull << 30;
  s.cpuThreads = 16;
  s.jobName = "Generate: Teal Mug, 4 variants";
  s.stepSeconds = 0.125;
  s.itPerSecond = 8.0;
  s.queueLength = 3;
  s.processRss = 3ull << 30;
  return s;
}

// A stand-in for the product canvas (a plain QWidget, as ProductCanvas is): a flat colour.
QWidget* makeCanvas(QColor colour) {
  auto* canvas = new QWidget;
  canvas->setAutoFillBackground(true);
  QPalette p = canvas->palette();
  p.setColor(QPalette::Window, colour);
  canvas->setPalette(p);
  canvas->resize(800, 500);
  return canvas;
}

// Pixels of `rect` in `image` that are far from `background`.
int pixelsUnlike(const QImage& image, QRect rect, QColor background, int* bright = nullptr) {
  int count = 0;
  if (bright) *bright = 0;
  for (int y = rect.top(); y <= rect.bottom(); ++y) {
    for (int x = rect.left(); x <= rect.right(); ++x) {
      const QColor c = image.pixelColor(x, y);
      const int d = std::abs(c.red() - background.red()) + std::abs(c.green() - background.green()) +
                    std::abs(c.blue() - background.blue());
      count += d > 60;
      if (bright && c.lightness() > 180) ++*bright;
    }
  }
  return count;
}

}  // namespace

class GpuHudTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void linesCoverEveryFigure() {
    const QStringList gpu = caig::ui::hudLines(busyGpuStats());
    const QString text = gpu.join('\n');
    QVERIFY(text.contains("NVIDIA H100 80GB HBM3 (cuda:0)"));
    QVERIFY(text.contains("VRAM: 14 GiB used, 66 GiB free"));
    QVERIFY(text.contains("Job: Generate: Teal Mug, 4 variants"));
    QVERIFY(text.contains("Step: 125 ms, 8.00 it/s"));
    QVERIFY(text.contains("Queue: 3 waiting"));
    QVERIFY(text.contains("CPU fallback: no"));
    QVERIFY(text.contains("RSS: 3.0 GiB"));

    HudStats cpu;  // from this machine's device info (CPU here unless LibTorch sees a GPU)
    caig::ui::applyDeviceInfo(cpu, caig::queryDeviceInfo());
    cpu.cpuFallback = true;
    cpu.fallbackReason = "no CUDA device";
    const QString cpuText = caig::ui::hudLines(cpu).join('\n');
    if (!cpu.cuda) QVERIFY(cpuText.contains("VRAM: CPU (no GPU)"));
    QVERIFY(cpuText.contains("Job: idle"));
    QVERIFY(cpuText.contains("CPU fallback: yes (no CUDA device)"));
    QVERIFY(cpu.processRss > 0);
  }

  void stepMeterMeasuresSteps() {
    caig::ui::StepMeter meter;
    meter.step(10.0);
    QCOMPARE(meter.stepSeconds(), 0.0);  // one moment is no step yet
    meter.step(10.5);
    QCOMPARE(meter.stepSeconds(), 0.5);
    QCOMPARE(meter.itPerSecond(), 2.0);
    meter.step(10.75);
    QCOMPARE(meter.stepSeconds(), 0.25);
    QVERIFY(meter.itPerSecond() > 2.0 && meter.itPerSecond() < 4.0);  // smoothed towards 4
    meter.reset();
    QCOMPARE(meter.itPerSecond(), 0.0);
  }

  void drawsWithImGuiOverTheCanvas() {
    QString why;
    if (!GpuHud::openGlUsable(&why)) QSKIP(qPrintable("no usable OpenGL here: " + why));
    const QColor teal(20, 110, 120);
    std::unique_ptr<QWidget> canvas(makeCanvas(teal));
    auto* hud = new GpuHud;
    hud->attachTo(canvas.get());
    canvas->show();
    QVERIFY(QTest::qWaitForWindowExposed(canvas.get()));
    QVERIFY2(hud->usingImGui(), qPrintable(hud->fallbackReason()));
    hud->setStats(busyGpuStats());
    auto* view = hud->glView();
    QTRY_VERIFY(view->framesDrawn() >= 3);
    // Sized to the ImGui window and kept in the top-right corner.
    QTRY_COMPARE(hud->size(), view->contentSize());
    QCOMPARE(hud->geometry().right(), canvas->width() - 8 - 1);
    QCOMPARE(hud->y(), 8);
    canvas->resize(900, 520);
    QTRY_COMPARE(hud->geometry().right(), canvas->width() - 8 - 1);

    QTest::qWait(250);
    const QImage shot = canvas->grab().toImage();
    QVERIFY(shot.save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_gpu_hud.png")));
    int bright = 0;
    const int drawn = pixelsUnlike(shot, hud->geometry(), teal, &bright);
    QVERIFY2(drawn > hud->width() * hud->height() / 2, "the HUD panel is not drawn over the canvas");
    QVERIFY2(bright > 300, "no text drawn in the HUD");  // light glyphs on the dark panel
    QCOMPARE(pixelsUnlike(shot, QRect(20, 300, 200, 100), teal), 0);  // the canvas elsewhere

    // Clicking the "Details" checkbox goes through the Qt -> ImGui bridge.
    const QRect toggle = view->detailsToggleRect();
    QVERIFY(!toggle.isEmpty());
    const int heightBefore = view->contentSize().height();
    QTest::mouseMove(view, toggle.center());
    QTest::mouseClick(view, Qt::LeftButton, Qt::NoModifier, toggle.center());
    QTRY_VERIFY(view->detailsShown());
    QTRY_VERIFY(view->contentSize().height() > heightBefore);
    QTRY_COMPARE(hud->size(), view->contentSize());
    QTest::qWait(200);
    QVERIFY(canvas->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_gpu_hud_details.png")));
    QTest::mouseClick(view, Qt::LeftButton, Qt::NoModifier, view->detailsToggleRect().center());
    QTRY_VERIFY(!view->detailsShown());

    // Wheel and keys reach ImGui without disturbing it.
    QWheelEvent wheel(QPointF(10, 10), view->mapToGlobal(QPointF(10, 10)), QPoint(), QPoint(0, 120), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(view, &wheel);
    QTest::keyClick(view, Qt::Key_A);
    QTest::keyClick(view, Qt::Key_Tab, Qt::ControlModifier);
    const int frames = view->framesDrawn();
    QTRY_VERIFY(view->framesDrawn() > frames);

    // Toggling visibility.
    hud->hide();
    QVERIFY(!view->isVisible());
    hud->show();
    QTRY_VERIFY(view->framesDrawn() > frames + 1);
  }

  void twoHudsKeepTheirOwnImGuiContexts() {
    if (!GpuHud::openGlUsable()) QSKIP("no usable OpenGL here");
    std::unique_ptr<QWidget> canvas(makeCanvas(Qt::darkGray));
    auto* a = new GpuHud;
    auto* b = new GpuHud(canvas.get());
    a->attachTo(canvas.get());
    b->move(10, 10);
    HudStats other = busyGpuStats();
    other.jobName = "Rank: 8 variants";
    a->setStats(busyGpuStats());
    b->setStats(other);
    canvas->show();
    QVERIFY(QTest::qWaitForWindowExposed(canvas.get()));
    QVERIFY(a->usingImGui() && b->usingImGui());
    QTRY_VERIFY(a->glView()->framesDrawn() >= 3 && b->glView()->framesDrawn() >= 3);
    // The second HUD was created after the first: both still open "Details" independently.
    QTest::mouseClick(b->glView(), Qt::LeftButton, Qt::NoModifier, b->glView()->detailsToggleRect().center());
    QTRY_VERIFY(b->glView()->detailsShown());
    QTest::qWait(200);
    QVERIFY(!a->glView()->detailsShown());
  }

  void fallbackLabelShowsTheSameText() {
    std::unique_ptr<QWidget> canvas(makeCanvas(QColor(90, 60, 40)));
    auto* hud = new GpuHud(nullptr, GpuHud::Mode::ForceFallback);
    hud->attachTo(canvas.get());
    hud->setStats(busyGpuStats());
    canvas->show();
    QVERIFY(QTest::qWaitForWindowExposed(canvas.get()));
    QVERIFY(!hud->usingImGui());
    QVERIFY(hud->fallbackLabel() && hud->fallbackLabel()->isVisible());
    QCOMPARE(hud->fallbackLabel()->text(), hud->text());
    QVERIFY(hud->text().contains("Queue: 3 waiting"));
    HudStats s = busyGpuStats();
    s.queueLength = 5;
    s.cpuFallback = true;
    hud->setStats(s);
    QCOMPARE(hud->fallbackLabel()->text(), hud->text());
    QVERIFY(hud->fallbackLabel()->text().contains("Queue: 5 waiting"));
    QVERIFY(hud->fallbackLabel()->text().contains("CPU fallback: yes"));
    QCOMPARE(hud->geometry().right(), canvas->width() - 8 - 1);
    QVERIFY(canvas->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_gpu_hud_fallback.png")));
  }

  void devicePollingKeepsTheDeviceFields() {
    GpuHud hud(nullptr, GpuHud::Mode::ForceFallback);
    hud.show();
    QVERIFY(QTest::qWaitForWindowExposed(&hud));
    hud.startDevicePolling(50);
    QVERIFY(hud.stats().processRss > 0);
    QVERIFY(hud.stats().cpuThreads >= 1);
    HudStats job;  // what a job queue knows: no device fields
    job.jobName = "Cutout: Perfume";
    job.queueLength = 2;
    hud.setStats(job);
    QVERIFY(hud.stats().processRss > 0);
    QCOMPARE(hud.stats().jobName, job.jobName);
    QCOMPARE(hud.fallbackLabel()->text(), hud.text());
    QVERIFY(hud.text().contains("Job: Cutout: Perfume"));
  }

  void environmentVariableForcesTheFallback() {
    qputenv("CAIG_HUD_NO_GL", "1");
    GpuHud hud;
    qunsetenv("CAIG_HUD_NO_GL");
    QVERIFY(!hud.usingImGui());
    QVERIFY(hud.fallbackReason().contains("CAIG_HUD_NO_GL"));
    hud.setStats(busyGpuStats());
    hud.show();
    QVERIFY(QTest::qWaitForWindowExposed(&hud));
    QCOMPARE(hud.fallbackLabel()->text(), hud.text());
  }
};

QTEST_MAIN(GpuHudTest)
#include "test_gpu_hud.moc"
