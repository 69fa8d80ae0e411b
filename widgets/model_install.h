#pragma once
// Installing models from the Hugging Face Hub in the studio (core/model_files/model_installer.h):
// InstallRunner runs an install on a worker thread and reports on the GUI thread;
// ModelInstallDialog (Tools > Models > Install...) lists the catalogue with sizes, licences and
// what is already installed, takes any other repository, and shows bytes, rate and time left with
// Cancel. Nothing touches the network until the user presses Install.

#include <QDialog>
#include <QObject>
#include <QStringList>
#include <atomic>
#include <memory>
#include <vector>

#include "core/model_files/hf_hub.h"
#include "core/model_files/model_catalogue.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTreeWidget;

namespace caig::ui {

class InstallRunner : public QObject {
  Q_OBJECT
 public:
  explicit InstallRunner(QObject* parent = nullptr);
  ~InstallRunner() override;  // cancels and waits for the worker

  // Installs `models` (their catalogue patterns, or `include` when given) with the settings of the
  // environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE). False when one is already running.
  bool start(const std::vector<CatalogueModel>& models, const std::vector<std::string>& include = {});
  void cancel();
  bool running() const { return running_; }
  // The snapshots of the last install, in order.
  const std::vector<hf::InstallResult>& results() const { return results_; }

 Q_SIGNALS:
  void progress(int permille, const QString& text);
  void finished(bool ok, const QString& message);  // message: what was installed, or the error

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  bool running_ = false;
  std::vector<hf::InstallResult> results_;
};

class ModelInstallDialog : public QDialog {
  Q_OBJECT
 public:
  explicit ModelInstallDialog(QWidget* parent = nullptr);
  // Opens one over `parent`, deleted when closed (Tools > Install Models, the model manager's Install...).
  static ModelInstallDialog* openOver(QWidget* parent);

  // Ticks these catalogue ids (a pack's id ticks its models); what the dialog's rows do.
  void selectModels(const QStringList& ids);
  void setRepository(const QString& repoId, const QString& include = {});
  bool install();  // what "Install" does; false when nothing is selected or one runs
  InstallRunner* runner() const { return runner_; }
  QString message() const;
  QTreeWidget* list() const { return list_; }
  void refreshInstalled();  // the "installed" column against the cache

 Q_SIGNALS:
  void installed();  // after a successful install: the model lists need a rescan

 private:
  void updateSummary();
  std::vector<CatalogueModel> chosen() const;

  ModelCatalogue catalogue_;
  QTreeWidget* list_ = nullptr;
  QLineEdit* repo_ = nullptr;
  QLineEdit* include_ = nullptr;
  QLabel* summary_ = nullptr;
  QProgressBar* bar_ = nullptr;
  QLabel* status_ = nullptr;
  QPushButton* install_ = nullptr;
  QPushButton* cancel_ = nullptr;
  InstallRunner* runner_ = nullptr;
};

}  // namespace caig::ui
