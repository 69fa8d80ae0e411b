#pragma once
// The Training dock: click data in (import with the rejected rows shown), the pairs the data
// gives (core/clicks/click_pairs.h), and the built-in learning runs as queued jobs: training the
// built-in ranker on the clicks (core/training/rm_training.h) and the built-in style-preference rounds
// (core/training/style_preferences.h). While a run works, its JSON-lines log (<project>/logs/...) is read
// back and drawn: loss and accuracy per step (held-out too), or planner agreement per round;
// the held-out accuracy before and after training is shown under the chart.
// The "Reward model" choice makes the same Train button fine-tune an installed LLaVA reward model
// instead (LoRA, core/training/neural_training_jobs.h; only in builds with the training library): the
// same log events and chart, the adapter saved under <project>/models/<model>-ft/.
//
// Each job opens its own connection to the project (SQLite in WAL mode), so that nothing on
// the worker thread touches the window's store.

#include <QMessageBox>
#include <QPointer>
#include <QString>
#include <QWidget>
#include <filesystem>
#include <vector>

#include "core/model_files/model_registry.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSpinBox;
class QCheckBox;
class QPushButton;
class QTimer;
class QChart;
class QChartView;
class QLineSeries;
class QValueAxis;

namespace caig {
class Project;
struct NeuralRmJobOptions;
}

namespace caig::ui {

class JobQueue;

class TrainingPanel : public QWidget {
  Q_OBJECT
 public:
  explicit TrainingPanel(JobQueue* jobs, QWidget* parent = nullptr);

  // The window's open project (or null); the panel never owns it.
  void setProject(caig::Project* project);
  void refreshSummary();

  // Offers the usable installed reward models (status ok) after the built-in ranker, keeping the
  // current choice when it is still installed.
  void setInstalledModels(const std::vector<caig::InstalledModel>& models);
  // Whether this build can fine-tune neural reward models (caig_core_training linked).
  static bool neuralTrainingAvailable();

  // Checks the file's columns here (a bad file shows a dialog and changes nothing), then
  // queues the import. Returns the job id, 0 when refused.
  int importClicks(const QString& path);
  // Trains the chosen reward model: the built-in ranker, or LoRA on the chosen LLaVA reward
  // model (a broken folder shows a dialog and queues nothing). Returns the job id, 0 when refused.
  int trainRanker();
  // Training on a server (core/training/training_bundle.h): writes the clicks and the chosen
  // reward model's settings to `dir` as a bundle with its run.sh (an existing folder only with
  // `replace`; the button asks first), and takes a server's result (the bundle after its run, an
  // adapter or a merged folder) back into the project. Jobs; returns the id, 0 when refused.
  int exportBundle(const QString& dir, bool replace = false);
  int importResult(const QString& dir, bool replace = false);
  // Asks the running training or style job to stop (a neural run keeps a checkpoint).
  void cancelTraining();
  int runStyleRounds();

  // Reads a JSON-lines run log into the chart (what the live view polls).
  void showLog(const QString& logFile);

  QMessageBox* lastDialog() const { return dialog_; }
  QChart* chart() const { return chart_; }
  QComboBox* rewardModelCombo() const { return rewardModel_; }
  int chartPoints() const;
  QString summaryText() const;
  QString resultText() const;

 Q_SIGNALS:
  void importFinished(bool ok, const QString& summaryOrError);
  void bundleExported(bool ok, const QString& summaryOrError);
  void resultImported(bool ok, const QString& summaryOrError);  // a trained model joined the project
  void trainingFinished(bool ok, const QString& summaryOrError);
  void styleRoundsFinished(bool ok, const QString& summaryOrError);

 private:
  void tell(const QString& title, const QString& text, bool warning);
  void watch(const QString& logFile);
  void stopWatching();
  void setBusy(bool busy);
  QString newLogFile(const QString& prefix) const;
  int trainNeural(const QString& modelDir);
  // The neural run the dock's fields describe (as Train runs it, and a bundle records it).
  caig::NeuralRmJobOptions dockJobOptions(const QString& modelDir) const;
  // The chosen model folder checked again; the problem (empty: usable) for a dialog.
  QString rewardModelProblem(const QString& modelDir) const;
  void updateModelRows();

  JobQueue* jobs_;
  caig::Project* project_ = nullptr;
  QPushButton* import_;
  QPushButton* train_;
  QPushButton* style_;
  QPushButton* cancel_;
  QPushButton* exportBundle_;
  QPushButton* importResult_;
  QComboBox* rewardModel_;
  QWidget* neuralRow_;
  QSpinBox* steps_;
  QCheckBox* resume_ = nullptr;  // continue the chosen model's stopped run from its checkpoint
  QCheckBox* merge_ = nullptr;   // also save a standalone reward model (offered as a ranker)
  QSpinBox* batch_;
  QSpinBox* rank_;
  QDoubleSpinBox* learningRate_;
  QLabel* summary_;
  QLabel* result_;
  QChart* chart_;
  QChartView* view_;
  QLineSeries* loss_;
  QLineSeries* valLoss_;
  QLineSeries* accuracy_;
  QLineSeries* valAccuracy_;
  QValueAxis* x_;
  QValueAxis* yLoss_;
  QValueAxis* yAccuracy_;
  QTimer* poll_;
  QString watched_;
  QPointer<QMessageBox> dialog_;
  int activeJob_ = 0;
};

}  // namespace caig::ui
