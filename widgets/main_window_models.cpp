// The window's model side: Tools > Models…, Install Models…, First-Run Setup…, and the installed
// models handed to the Generate and Training docks.

#include <QComboBox>
#include <QMenu>
#include <QSettings>
#include <QStatusBar>

#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "widgets/first_run_dialog.h"
#include "widgets/generate_panel.h"
#include "widgets/icons.h"
#include "widgets/main_window.h"
#include "widgets/model_install.h"
#include "widgets/model_manager.h"
#include "widgets/training_panel.h"

namespace caig::ui {

void MainWindow::createModelActions(QMenu* tools) {
  auto* models = tools->addAction(tr("&Models…"), this, [this] {
    ModelManager dialog(ModelRegistry::defaultModelsDir(), this);
    dialog.exec();
    refreshInstalledModels();  // folders added or removed there show in the Generate dock
  });
  models->setObjectName("openModelManager");
  setIcon(models, QStringLiteral("models"));
  auto* install = tools->addAction(tr("&Install Models…"), this, [this] {
    connect(ModelInstallDialog::openOver(this), &ModelInstallDialog::installed, this,
            &MainWindow::refreshInstalledModels);
  });
  install->setObjectName("openModelInstall");
  tools->addAction(tr("First-Run &Setup…"), this, &MainWindow::showFirstRunSetup)->setObjectName("openFirstRunSetup");
}

void MainWindow::showFirstRunSetup() {
  auto* dialog = new FirstRunDialog(caig::ModelRegistry::defaultModelsDir(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QDialog::finished, this, [this, dialog](int result) {
    QSettings().setValue("setup/done", true);  // "Decide later" too: Tools > First-Run Setup brings it back
    if (result != QDialog::Accepted) return;
    refreshInstalledModels();
    if (!dialog->chosenModel().isEmpty() && generatePanel_->selectModel(dialog->chosenModel())) {
      statusBar()->showMessage(tr("Generate is set up with %1").arg(generatePanel_->engineCombo()->currentText()),
                               10000);
    }
  });
  dialog->open();
}

bool MainWindow::maybeShowFirstRunSetup() {
  if (QSettings().value("setup/done").toBool()) return false;
  try {
    if (!caig::ModelRegistry().findUsable(caig::ModelKind::StableDiffusion).empty()) return false;
  } catch (const std::exception&) {  // an unreadable model list: the setup can say so
  }
  showFirstRunSetup();
  return true;
}

void MainWindow::refreshInstalledModels() {
  std::vector<caig::InstalledModel> models;
  try {
    models = caig::ModelRegistry().scan();
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("Could not read the model list: %1").arg(e.what()), 8000);
  }
  if (project_) {  // what this project trained (a merged reward model, PCPO's prompt models)
    for (auto& m : caig::ModelRegistry::projectModels(project_->dir())) models.push_back(std::move(m));
  }
  generatePanel_->setInstalledModels(models);
  if (trainingPanel_) trainingPanel_->setInstalledModels(models);
}

}  // namespace caig::ui
