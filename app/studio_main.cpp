// caig-studio: the desktop application. With no arguments it reopens the last project, or the
// demo project (created on first run with the bundled demo product shots).

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QSettings>
#include <QStandardPaths>
#include <QTimer>
#include <cstdio>

#include "widgets/main_window.h"
#include "widgets/theme.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("CAIG Studio");
  QApplication::setApplicationName("caig-studio");
  QApplication::setApplicationVersion(CAIG_VERSION);

  QCommandLineParser cli;
  cli.setApplicationDescription("CTR-driven advertising backgrounds for product photos.");
  cli.addHelpOption();
  cli.addVersionOption();
  QCommandLineOption projectOpt("project",
                                "Project folder to open or create (default: the last one, else the demo project).", "dir");
  QCommandLineOption screenshotOpt("screenshot", "Save a picture of the window to <png> once shown, then quit.",
                                   "png");
  cli.addOption(projectOpt);
  cli.addOption(screenshotOpt);
  cli.addPositionalArgument("shots", "Product shots to import into the project.", "[shots...]");
  cli.process(app);
  caig::ui::applyTheme(app, caig::ui::savedTheme());  // View > Theme, remembered

  QString projectDir = cli.value(projectOpt);
  bool reopened = false;  // the user's own last project never gets the demo products added
  if (projectDir.isEmpty()) {
    const QString last = QSettings().value("project/last").toString();
    if (!last.isEmpty() && QFileInfo::exists(QDir(last).filePath("project.caig"))) {
      projectDir = last;
      reopened = true;
    }
  }
  if (projectDir.isEmpty()) {
    projectDir = QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)).filePath("Demo Project");
  }

  caig::ui::MainWindow window;
  QString error;
  if (!window.openProject(projectDir, &error)) {
    std::fprintf(stderr, "caig-studio: %s\n", qPrintable(error));
    return 1;
  }
  for (const QString& shot : cli.positionalArguments()) {
    if (!window.importProductShot(shot, &error)) {
      std::fprintf(stderr, "caig-studio: cannot import '%s': %s\n", qPrintable(shot), qPrintable(error));
    }
  }
  if (!reopened && !window.ensureDemoProducts(&error)) {
    std::fprintf(stderr, "caig-studio: demo products unavailable: %s\n", qPrintable(error));
  }
  window.show();

  if (cli.isSet(screenshotOpt)) {
    const QString path = cli.value(screenshotOpt);
    QTimer::singleShot(1500, &window, [&window, path] {
      const bool ok = window.grab().save(path);
      std::fprintf(ok ? stdout : stderr, "%s %s\n", ok ? "saved" : "cannot save", qPrintable(path));
      QApplication::exit(ok ? 0 : 1);
    });
  }
  return app.exec();
}
