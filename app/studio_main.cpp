// caig-studio: the desktop application. With no arguments it reopens the last project, or the
// demo project (created on first run with the bundled demo product shots).

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QSettings>
#include <QStandardPaths>
#include <QTimer>
#include <cstdio>

#include "app/build_commit.h"
#include "core/base/version.h"
#include "models/cpu_allocator.h"
#include "models/device_info.h"
#include "widgets/main_window.h"
#include "widgets/theme.h"

namespace {

void describeCommandLine(QCommandLineParser& cli) {
  QCoreApplication::setOrganizationName("CAIG Studio");
  QCoreApplication::setApplicationName("caig-studio");
  QCoreApplication::setApplicationVersion(QString::fromStdString(caig::studioVersionLine()));
  cli.setApplicationDescription("CTR-driven advertising backgrounds for product photos.");
  cli.addHelpOption();
  cli.addVersionOption();
  cli.addOption({"project", "Project folder to open or create (default: the last one, else the demo project).", "dir"});
  cli.addOption({"screenshot", "Save a picture of the window to <png> once shown, then quit.", "png"});
  cli.addPositionalArgument("shots", "Product shots to import into the project.", "[shots...]");
}

// --help and --version print and quit: they need no display (a package build, the man page
// generator, a terminal over ssh).
bool printsOnly(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const QByteArray a(argv[i]);
    if (a == "--help" || a == "-h" || a == "--help-all" || a == "--version" || a == "-v") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  caig::setStudioCommit(caigBuildCommit());
  QCommandLineParser cli;
  if (printsOnly(argc, argv)) {
    QCoreApplication app(argc, argv);
    describeCommandLine(cli);
    cli.process(app);  // prints and exits
    return 0;
  }
  QApplication app(argc, argv);
  caig::configureCpuThreads();  // once, before any job thread starts
  caig::useCachingCpuAllocator();  // large blocks reused from step to step (models/cpu_allocator.h)
  QApplication::setWindowIcon(QIcon(":/app/caig-studio.svg"));
  QGuiApplication::setDesktopFileName("io.github.caigstudio.CaigStudio");  // Wayland and task bars match the entry
  describeCommandLine(cli);
  cli.process(app);
  caig::ui::applyTheme(app, caig::ui::savedTheme());  // View > Theme, remembered

  QString projectDir = cli.value("project");
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
  if (!cli.isSet("screenshot")) window.maybeShowFirstRunSetup();  // once: what to generate with

  if (cli.isSet("screenshot")) {
    const QString path = cli.value("screenshot");
    QTimer::singleShot(1500, &window, [&window, path] {
      const bool ok = window.grab().save(path);
      std::fprintf(ok ? stdout : stderr, "%s %s\n", ok ? "saved" : "cannot save", qPrintable(path));
      QApplication::exit(ok ? 0 : 1);
    });
  }
  return app.exec();
}
