#pragma once
// The first-run setup: "what do you want to use?" with the download sizes and the free space:
// the built-in engines only, the SD1.5 generator, CAIG's models, or models already on disk (the
// Hugging Face cache, ComfyUI, A1111, found or given). It installs what was chosen (InstallRunner)
// and says which model the Generate dock should start with (chosenModel()).

#include <QDialog>
#include <QString>
#include <filesystem>

#include "core/model_files/model_catalogue.h"

class QButtonGroup;
class QLabel;
class QProgressBar;
class QPushButton;
class QRadioButton;

namespace caig::ui {

class InstallRunner;

class FirstRunDialog : public QDialog {
  Q_OBJECT
 public:
  enum Choice { BuiltIn, Sd15, Caig, OnDisk };

  explicit FirstRunDialog(const std::filesystem::path& modelsDir, QWidget* parent = nullptr);

  void choose(Choice choice);
  Choice choice() const;
  // What Continue does: built-in and on-disk finish at once (accepted); the installs run and
  // accept when done (the dialog stays open with the error otherwise). False while one runs.
  bool proceed();
  // Adds a Hugging Face cache, ComfyUI or A1111 folder (what "Add folder..." does after its dialog).
  bool addLocation(const QString& folder);

  // The SD1.5 model the Generate dock should pick after the setup (empty: the built-in engine).
  QString chosenModel() const { return chosenModel_; }
  InstallRunner* runner() const { return runner_; }
  QString message() const;

 private:
  void finish();
  void updateFound();

  std::filesystem::path modelsDir_;
  ModelCatalogue catalogue_;
  QButtonGroup* group_ = nullptr;
  QLabel* found_ = nullptr;
  QLabel* status_ = nullptr;
  QProgressBar* bar_ = nullptr;
  QPushButton* continue_ = nullptr;
  QPushButton* addFolder_ = nullptr;
  InstallRunner* runner_ = nullptr;
  QString chosenModel_;
};

}  // namespace caig::ui
