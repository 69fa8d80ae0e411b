// The Training dock's server side: the chosen reward model's run written out as a training
// bundle, and a server's result taken back (core/training/training_bundle.h does both; this
// file only queues them and shows what happened).

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>

#include "core/model_files/hf_cache.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/training/neural_training_jobs.h"
#include "core/training/training_bundle.h"
#include "widgets/job_queue.h"
#include "widgets/training_panel.h"

namespace caig::ui {

namespace {
QString q(const std::string& s) {
  return QString::fromStdString(s);
}
}  // namespace

caig::NeuralRmJobOptions TrainingPanel::dockJobOptions(const QString& modelDir) const {
  caig::NeuralRmJobOptions options;
  options.modelDir = modelDir.toStdString();
  options.steps = steps_->value();
  options.batchSize = batch_->value();
  options.loraRank = rank_->value();
  options.learningRate = learningRate_->value();
  options.evalEvery = std::max(1, steps_->value() / 10);  // about ten held-out points on the chart
  options.merge = merge_->isChecked();
  return options;
}

QString TrainingPanel::rewardModelProblem(const QString& modelDir) const {
  // The folder may have changed since the model list was read: check it again (headers only)
  // and refuse with the reason, rather than fail inside a queued job.
  const caig::InstalledModel model = caig::ModelRegistry::inspect(modelDir.toStdString());
  if (model.status != caig::ModelStatus::Ok)
    return tr("The model folder %1 is %2: %3").arg(modelDir, q(caig::modelStatusName(model.status)), q(model.reason));
  if (model.kind != caig::ModelKind::RewardModel)
    return tr("%1 is not a LLaVA reward model (it holds: %2).").arg(modelDir, q(caig::modelKindName(model.kind)));
  return {};
}

int TrainingPanel::exportBundle(const QString& dir, bool replace) {
  if (!project_) return 0;
  const QString modelDir = rewardModel_->currentData().toString();
  const QString title = tr("Cannot export a training bundle");
  QString problem =
      modelDir.isEmpty() ? tr("Choose the LLaVA reward model to fine-tune first.") : rewardModelProblem(modelDir);
  if (problem.isEmpty() && QFileInfo::exists(dir) && !replace) problem = tr("%1 already exists.").arg(dir);
  if (!problem.isEmpty()) {
    tell(title, problem, true);
    Q_EMIT bundleExported(false, problem);
    return 0;
  }
  const std::filesystem::path project = project_->dir(), out = dir.toStdString();
  const caig::NeuralRmJobOptions options = dockJobOptions(modelDir);
  setBusy(true);
  const int id = jobs_->enqueue(
      "bundle", tr("Export a training bundle to %1").arg(QFileInfo(dir).fileName()), [=](JobContext& ctx) -> JobApply {
        caig::Project own = caig::Project::open(project);
        const caig::TrainingBundleExport r =
            caig::exportTrainingBundle(own, options, out, replace, [&](int done, int total) {
              ctx.progress(total ? double(done) / total : 0, tr("%1/%2").arg(done).arg(total));
            });
        return [=] {
          setBusy(false);
          const QString text = tr("Training bundle for %1 in %2: %3 pairs from %4 creatives of %5 products "
                                  "(%6). Copy the folder to the server and run there:\n%7\n(add --nproc N "
                                  "for N GPUs or processes; README.txt in the folder has the details). Then "
                                  "bring the folder back and use Import server result.")
                                   .arg(QFileInfo(modelDir).fileName(), q(r.dir.string()))
                                   .arg(r.pairs)
                                   .arg(r.records)
                                   .arg(r.products)
                                   .arg(q(hf::formatBytes(r.bytes)))
                                   .arg(q(r.command));
          result_->setText(tr("Training bundle in %1 (%2 pairs); on the server: %3")
                               .arg(q(r.dir.string()))
                               .arg(r.pairs)
                               .arg(q(r.command)));
          tell(tr("Training bundle written"), text, false);
          Q_EMIT bundleExported(true, text);
        };
      });
  jobs_->onNotDone(id, this, [this, title](const QString& error) {
    setBusy(false);
    result_->setText(tr("Export failed: %1").arg(error));
    if (error != QObject::tr("cancelled")) tell(title, error, true);
    Q_EMIT bundleExported(false, error);
  });
  return id;
}

int TrainingPanel::importResult(const QString& dir, bool replace) {
  if (!project_) return 0;
  const std::filesystem::path project = project_->dir(), from = dir.toStdString();
  const QString title = tr("Cannot import %1").arg(QFileInfo(dir).fileName());
  setBusy(true);
  const int id = jobs_->enqueue("bundle", tr("Import the server result %1").arg(QFileInfo(dir).fileName()),
                                [=](JobContext& ctx) -> JobApply {
                                  ctx.progress(0, tr("checking and copying"));
                                  caig::Project own = caig::Project::open(project);
                                  caig::TrainingResultImportOptions options;
                                  options.replace = replace;
                                  const caig::TrainingResultImport r = caig::importTrainingResult(own, from, options);
                                  return [=] {
                                    setBusy(false);
                                    if (!r.logFile.empty()) showLog(q(r.logFile.string()));  // the server's curves
                                    updateModelRows();
                                    const QString text = q(r.summary);
                                    result_->setText(text);
                                    tell(tr("Server result imported"), text, false);
                                    Q_EMIT resultImported(true, text);
                                  };
                                });
  jobs_->onNotDone(id, this, [this, title](const QString& error) {
    setBusy(false);
    result_->setText(tr("Import failed: %1").arg(error));
    if (error != QObject::tr("cancelled")) tell(title, error, true);
    Q_EMIT resultImported(false, error);
  });
  return id;
}

}  // namespace caig::ui
