// Icons and themes in a real X server: every studio icon resolves and draws, the main window's
// actions carry them, View > Theme switches to a dark palette (icons redrawn light), the choice
// persists in QSettings and comes back in a new window, and Light restores a light palette.
// Screenshots of both themes go to CAIG_SCREENSHOT_DIR.

#include <QAction>
#include <QApplication>
#include <QDockWidget>
#include <QLabel>
#include <QMenu>
#include <QPainter>
#include <QPushButton>
#include <QSettings>
#include <QTemporaryDir>
#include <QToolBar>
#include <QtTest>
#include <cmath>
#include <memory>

#include "widgets/icons.h"
#include "widgets/main_window.h"
#include "widgets/theme.h"

using caig::ui::MainWindow;
using caig::ui::Theme;

namespace {

// The icons the studio's code asks for (main window, Generate dock, variant grid).
const QStringList kUsedIcons = {"new-project", "open-project", "import-shot", "cutout", "generate", "cancel",
                                "export", "compare", "undo", "redo", "zoom-in", "zoom-out", "fit", "pan",
                                "keep-brush", "remove-brush", "favourite", "models", "training", "gpu-hud",
                                "theme"};

struct Ink {
  int opaque = 0;        // pixels with alpha > 200
  double lightness = 0;  // their mean HSL lightness
};

Ink inkOf(const QIcon& icon, int side, QIcon::Mode mode = QIcon::Normal) {
  const QImage image = icon.pixmap(QSize(side, side), mode).toImage().convertToFormat(QImage::Format_ARGB32);
  Ink ink;
  double sum = 0;
  for (int y = 0; y < image.height(); ++y) {
    for (int x = 0; x < image.width(); ++x) {
      const QColor c = image.pixelColor(x, y);
      if (c.alpha() <= 200) continue;
      ++ink.opaque;
      sum += c.lightness();
    }
  }
  if (ink.opaque) ink.lightness = sum / ink.opaque;
  return ink;
}

QAction* action(QWidget& window, const QString& name) { return window.findChild<QAction*>(name); }

}  // namespace

class ThemeTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    // Settings in a private folder under a private name: the user's own theme is never touched.
    QVERIFY(settingsDir_.isValid());
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settingsDir_.path());
    QCoreApplication::setOrganizationName(QStringLiteral("CAIG Theme Test %1").arg(QCoreApplication::applicationPid()));
    QCoreApplication::setApplicationName("caig-studio-theme-test");
    QVERIFY(!QSettings().contains("ui/theme"));
    QCOMPARE(caig::ui::savedTheme(), Theme::System);
  }

  void everyIconResolves() {
    const QStringList bundled = caig::ui::iconNames();
    for (const QString& name : kUsedIcons) QVERIFY2(bundled.contains(name), qPrintable(name));
    for (const QString& name : bundled) {  // the used ones and any other bundled icon
      const QIcon icon = caig::ui::icon(name);
      QVERIFY2(!icon.isNull(), qPrintable(name));
      const QPixmap pixmap = icon.pixmap(QSize(48, 48));
      QCOMPARE(pixmap.size(), QSize(48, 48));
      const Ink ink = inkOf(icon, 48);
      QVERIFY2(ink.opaque > 40, qPrintable(QStringLiteral("%1: %2 opaque pixels").arg(name).arg(ink.opaque)));
      QVERIFY2(ink.opaque < 48 * 48 / 2, qPrintable(name));  // a line drawing, not a filled square
    }
    // A 2x pixmap is drawn at its own resolution, not scaled up from 1x.
    const QPixmap sharp = caig::ui::icon("undo").pixmap(QSize(24, 24), 2.0);
    QCOMPARE(sharp.size(), QSize(48, 48));
  }

  // A sheet of every icon at 48 px (2x) on the light and the dark window colour, to look at.
  void iconSheet() {
    const int cell = 64;
    const QStringList names = caig::ui::iconNames();
    QImage sheet(cell * names.size(), cell * 2, QImage::Format_ARGB32);
    QPainter painter(&sheet);
    for (Theme theme : {Theme::Light, Theme::Dark}) {
      caig::ui::applyTheme(*qApp, theme);
      const int row = theme == Theme::Dark ? 1 : 0;
      painter.fillRect(0, row * cell, sheet.width(), cell, qApp->palette().color(QPalette::Window));
      for (int i = 0; i < names.size(); ++i) {
        painter.drawPixmap(i * cell + 8, row * cell + 8, caig::ui::icon(names[i]).pixmap(QSize(48, 48)));
      }
      const Ink ink = inkOf(caig::ui::icon("cutout"), 48);
      if (theme == Theme::Dark) QVERIFY(ink.lightness > 160);  // redrawn in the dark palette's text colour
      else QVERIFY(ink.lightness < 130);
      // Disabled icons fade towards the window colour in both themes.
      const int window = qApp->palette().color(QPalette::Window).lightness();
      const Ink disabled = inkOf(caig::ui::icon("cutout"), 48, QIcon::Disabled);
      QVERIFY(std::abs(disabled.lightness - window) < std::abs(ink.lightness - window));
    }
    painter.end();
    caig::ui::applyTheme(*qApp, Theme::System);
    QVERIFY(sheet.save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_theme_icons.png")));
  }

  void unknownIconIsEmpty() {
    QTest::ignoreMessage(QtWarningMsg, "caig::ui::icon: no icon named 'no-such-icon'");
    QVERIFY(caig::ui::icon("no-such-icon").isNull());
    QTest::ignoreMessage(QtWarningMsg, "caig::ui::icon: no icon named ''");
    QVERIFY(caig::ui::icon(QString()).isNull());
  }

  void windowActionsHaveIcons() {
    QTemporaryDir tmp;
    MainWindow window;
    QVERIFY(window.openProject(tmp.filePath("p")));
    auto* toolbar = window.findChild<QToolBar*>("mainToolbar");
    QVERIFY(toolbar);
    int withIcons = 0;
    for (QAction* a : toolbar->actions()) {
      if (a->isSeparator()) continue;
      QVERIFY2(!a->icon().isNull(), qPrintable(a->text()));
      ++withIcons;
    }
    QVERIFY(withIcons >= 15);
    for (const char* name : {"openModelManager", "showTraining", "toggleGpuHud", "cancelGenerationAction",
                             "compareAction"}) {
      QVERIFY2(action(window, name) && !action(window, name)->icon().isNull(), name);
    }
    for (const char* name : {"favouriteButton", "compareButton", "exportButton", "generateButton", "cancelButton"}) {
      auto* button = window.findChild<QPushButton*>(name);
      QVERIFY2(button && !button->icon().isNull(), name);
    }
    auto* themeMenu = window.findChild<QMenu*>("themeMenu");
    QVERIFY(themeMenu && !themeMenu->menuAction()->icon().isNull());
    QCOMPARE(themeMenu->actions().size(), 3);
    QVERIFY(action(window, "theme_system")->isChecked());  // nothing stored yet
  }

  void darkThemePersistsAndLightRestores() {
    QTemporaryDir tmp;
    {
      auto window = std::make_unique<MainWindow>();
      showDemo(*window, tmp);
      if (QTest::currentTestFailed()) return;

      action(*window, "theme_dark")->trigger();
      QCOMPARE(caig::ui::currentTheme(), Theme::Dark);
      QCOMPARE(QSettings().value("ui/theme").toString(), QStringLiteral("dark"));
      checkDark(*window);
      QVERIFY(window->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_theme_dark.png")));
    }  // the window closes; the choice stays in the settings

    // A fresh start in the default look, then a new window: it comes back dark.
    caig::ui::applyTheme(*qApp, Theme::Light);
    QVERIFY(qApp->palette().color(QPalette::Window).lightness() > 200);
    MainWindow window;
    showDemo(window, tmp);
    if (QTest::currentTestFailed()) return;
    QVERIFY(action(window, "theme_dark")->isChecked());
    checkDark(window);
    // The View menu in the dark theme, with its Theme submenu open, to look at.
    auto* viewMenu = window.findChild<QMenu*>("themeMenu")->menuAction()->associatedObjects().value(0);
    if (auto* menu = qobject_cast<QMenu*>(viewMenu)) {
      menu->popup(window.mapToGlobal(QPoint(60, 30)));
      QVERIFY(QTest::qWaitForWindowExposed(menu));
      QVERIFY(menu->grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_theme_menu.png")));
      menu->close();
    }

    // Back to Light: a light palette, dark text, slate icons; stored.
    action(window, "theme_light")->trigger();
    QCoreApplication::processEvents();
    QCOMPARE(QSettings().value("ui/theme").toString(), QStringLiteral("light"));
    const QPalette palette = window.palette();
    QVERIFY(palette.color(QPalette::Window).lightness() > 200);
    QVERIFY(palette.color(QPalette::Base).lightness() > 230);
    QVERIFY(palette.color(QPalette::WindowText).lightness() < 60);
    QVERIFY(palette.color(QPalette::Disabled, QPalette::WindowText) != palette.color(QPalette::WindowText));
    QVERIFY(toolbarInk(window).lightness < 130);
    checkStyledLabels(window);
    QVERIFY(window.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_theme_light.png")));

    // Tools > Training brings a closed Training dock back.
    auto* trainingDock = window.findChild<QDockWidget*>("trainingDock");
    trainingDock->close();
    QVERIFY(!trainingDock->isVisible());
    action(window, "showTraining")->trigger();
    QVERIFY(QTest::qWaitFor([&] { return trainingDock->isVisible(); }));

    action(window, "theme_system")->trigger();
    QCOMPARE(caig::ui::savedTheme(), Theme::System);
  }

  void themeNamesRoundTrip() {
    for (Theme t : {Theme::System, Theme::Light, Theme::Dark}) {
      QCOMPARE(caig::ui::themeFromName(caig::ui::themeName(t)), t);
    }
    QCOMPARE(caig::ui::themeFromName("purple"), Theme::System);  // a bad stored value falls back
  }

 private:
  static void showDemo(MainWindow& window, const QTemporaryDir& tmp) {
    QVERIFY(window.openProject(tmp.filePath("p")));
    QVERIFY(window.ensureDemoProducts());
    window.resize(1280, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
  }

  // The mean ink of the toolbar's icons, as they are now.
  static Ink toolbarInk(QWidget& window) {
    Ink total;
    double sum = 0;
    for (QAction* a : window.findChild<QToolBar*>("mainToolbar")->actions()) {
      if (a->isSeparator()) continue;
      const Ink ink = inkOf(a->icon(), 24);
      total.opaque += ink.opaque;
      sum += ink.lightness * ink.opaque;
    }
    if (total.opaque) total.lightness = sum / total.opaque;
    return total;
  }

  // Labels coloured palette(mid) / palette(dark) by a style sheet show the current palette's colour.
  static void checkStyledLabels(MainWindow& window) {
    int styled = 0;
    for (QLabel* label : window.findChildren<QLabel*>()) {
      const QString sheet = label->styleSheet();
      for (auto [name, role] : {std::pair{"palette(mid)", QPalette::Mid}, std::pair{"palette(dark)", QPalette::Dark}}) {
        if (!sheet.contains(QLatin1String(name))) continue;
        ++styled;
        QCOMPARE(label->palette().color(label->foregroundRole()), qApp->palette().color(role));
      }
    }
    QVERIFY(styled > 0);
  }

  static void checkDark(MainWindow& window) {
    QCoreApplication::processEvents();  // widgets take the new palette from posted events
    const QPalette palette = window.palette();
    QVERIFY(palette.color(QPalette::Window).lightness() < 80);
    QVERIFY(palette.color(QPalette::Base).lightness() < 80);
    QVERIFY(palette.color(QPalette::WindowText).lightness() > 180);
    QVERIFY(palette.color(QPalette::Text).lightness() > 180);
    QVERIFY(palette.color(QPalette::ButtonText).lightness() > 180);
    QVERIFY(palette.color(QPalette::Disabled, QPalette::WindowText).lightness() <
            palette.color(QPalette::WindowText).lightness());
    // The icons were redrawn for the dark window: light ink.
    const Ink ink = toolbarInk(window);
    QVERIFY2(ink.opaque > 0 && ink.lightness > 160, qPrintable(QString::number(ink.lightness)));
    // Disabled actions (Cancel with nothing running) are drawn clearly dimmer than enabled ones.
    const QIcon cancel = action(window, "cancelGenerationAction")->icon();
    QVERIFY(inkOf(cancel, 24, QIcon::Disabled).lightness < inkOf(cancel, 24).lightness - 50);
    // Secondary text set by style sheets (palette(mid), palette(dark)) takes the dark palette's colours.
    checkStyledLabels(window);
    for (QLabel* label : window.findChildren<QLabel*>()) {
      if (!label->styleSheet().contains("color") || !label->isVisible()) continue;
      const int text = label->palette().color(label->foregroundRole()).lightness();
      QVERIFY2(text > 110, qPrintable(label->text() + QStringLiteral(": text lightness %1").arg(text)));
    }
    // The rendered window really is dark: most of a grab is dark pixels.
    const QImage shot = window.grab().toImage();
    int dark = 0, samples = 0;
    for (int y = 0; y < shot.height(); y += 7) {
      for (int x = 0; x < shot.width(); x += 7, ++samples) dark += shot.pixelColor(x, y).lightness() < 90;
    }
    QVERIFY2(dark > samples * 6 / 10, qPrintable(QStringLiteral("%1 of %2 dark").arg(dark).arg(samples)));
  }

  QTemporaryDir settingsDir_;
};

QTEST_MAIN(ThemeTest)
#include "test_theme.moc"
