#include "widgets/training_panel.h"
#include "models/io/json_file.h"

#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>
#include <QValueAxis>
#include <nlohmann/json.hpp>

#include "core/clicks/click_data.h"
#include "core/clicks/click_pairs.h"
#include "core/project/project.h"
#include "core/ranking/builtin_ranker.h"
#include "core/training/neural_training_jobs.h"  // plain options (torch-free); the run needs CAIG_HAVE_NEURAL_TRAINING
#include "core/training/rm_training.h"
#include "core/training/style_preferences.h"
#include "core/training/training_bundle.h"
#include "widgets/job_queue.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }
QString percent(double share) { return QString::number(100.0 * share, 'f', 1) + '%'; }

}  // namespace

TrainingPanel::TrainingPanel(JobQueue* jobs, QWidget* parent) : QWidget(parent), jobs_(jobs) {
  import_ = new QPushButton(tr("Import clicks…"), this);
  import_->setObjectName("importClicksButton");
  import_->setToolTip(tr("A CSV export (creative id, image, product, impressions, clicks) or a CreativeRanking JSON"));
  train_ = new QPushButton(tr("Train built-in ranker"), this);
  train_->setObjectName("trainRankerButton");
  train_->setToolTip(tr("Fit the built-in ranker to the click pairs; held-out products measure it"));
  style_ = new QPushButton(tr("Run style rounds"), this);
  style_->setObjectName("styleRoundsButton");
  style_->setToolTip(tr("Let the ranker teach the prompt planner which backdrop styles to favour"));
  cancel_ = new QPushButton(tr("Stop"), this);
  cancel_->setObjectName("cancelTrainingButton");
  cancel_->setToolTip(tr("Stop the running training (a neural run keeps a checkpoint)"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(import_);
  buttons->addWidget(train_);
  buttons->addWidget(style_);
  buttons->addWidget(cancel_);
  // Fine-tuning on a bigger machine: the run written out for it, its result taken back.
  exportBundle_ = new QPushButton(tr("Export for a server…"), this);
  exportBundle_->setObjectName("exportBundleButton");
  importResult_ = new QPushButton(tr("Import server result…"), this);
  importResult_->setObjectName("importResultButton");
  importResult_->setToolTip(
      tr("A training bundle after its run on the server, or the adapter or standalone reward "
         "model folder it wrote"));
  auto* serverButtons = new QHBoxLayout;
  serverButtons->addWidget(exportBundle_);
  serverButtons->addWidget(importResult_);
  serverButtons->addStretch(1);

  // Which reward model the Train button trains: the built-in ranker, or an installed LLaVA
  // reward model fine-tuned with LoRA (its settings shown only then; CAIG's defaults).
  rewardModel_ = new QComboBox(this);
  rewardModel_->setObjectName("rewardModelCombo");
  rewardModel_->addItem(tr("Built-in feature ranker"), QString());
  neuralRow_ = new QWidget(this);
  steps_ = new QSpinBox(neuralRow_);
  steps_->setObjectName("neuralStepsSpin");
  steps_->setRange(1, 100000);
  steps_->setValue(100);
  batch_ = new QSpinBox(neuralRow_);
  batch_->setObjectName("neuralBatchSpin");
  batch_->setRange(1, 256);
  batch_->setValue(4);
  rank_ = new QSpinBox(neuralRow_);
  rank_->setObjectName("loraRankSpin");
  rank_->setRange(1, 1024);
  rank_->setValue(128);
  rank_->setToolTip(tr("LoRA rank (alpha = 2 × rank, as CAIG's 128 / 256)"));
  learningRate_ = new QDoubleSpinBox(neuralRow_);
  learningRate_->setObjectName("learningRateSpin");
  learningRate_->setDecimals(6);
  learningRate_->setRange(1e-6, 1e-2);
  learningRate_->setSingleStep(1e-5);
  learningRate_->setValue(2e-5);
  auto* neuralForm = new QHBoxLayout(neuralRow_);
  neuralForm->setContentsMargins(0, 0, 0, 0);
  const std::initializer_list<std::pair<QString, QWidget*>> neuralFields = {
      {tr("Steps"), steps_}, {tr("Batch"), batch_}, {tr("LoRA rank"), rank_}, {tr("Learning rate"), learningRate_}};
  for (const auto& [label, field] : neuralFields) {
    neuralForm->addWidget(new QLabel(label, neuralRow_));
    neuralForm->addWidget(field, 1);
  }
  resume_ = new QCheckBox(tr("Resume"), neuralRow_);
  resume_->setObjectName("resumeTraining");
  resume_->setToolTip(tr("Continue the stopped run of this model from its last checkpoint, up to Steps in total "
                         "(off: start afresh, which clears that run's checkpoints)"));
  neuralForm->addWidget(resume_);
  merge_ = new QCheckBox(tr("Standalone"), neuralRow_);
  merge_->setObjectName("mergeTrained");
  merge_->setChecked(true);
  merge_->setToolTip(tr("Also save the fine-tuned reward model as a standalone folder (the adapter merged in), "
                        "which the Generate dock then offers as a ranker; as large as the base model on disk"));
  neuralForm->addWidget(merge_);
  auto* modelForm = new QFormLayout;
  modelForm->addRow(tr("Reward model"), rewardModel_);
  modelForm->addRow(neuralRow_);

  summary_ = new QLabel(this);
  summary_->setObjectName("pairsSummary");
  summary_->setWordWrap(true);
  result_ = new QLabel(this);
  result_->setObjectName("trainingResult");
  result_->setWordWrap(true);
  result_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  chart_ = new QChart;
  chart_->setTitle(tr("No run yet"));
  chart_->legend()->setAlignment(Qt::AlignBottom);
  chart_->setMargins(QMargins(4, 4, 4, 4));
  const auto makeSeries = [this](const QString& name) {
    auto* s = new QLineSeries;
    s->setName(name);
    chart_->addSeries(s);
    return s;
  };
  loss_ = makeSeries(tr("loss"));
  valLoss_ = makeSeries(tr("held-out loss"));
  accuracy_ = makeSeries(tr("accuracy"));
  valAccuracy_ = makeSeries(tr("held-out accuracy"));
  x_ = new QValueAxis;
  x_->setTitleText(tr("step"));
  x_->setLabelFormat("%d");
  x_->setRange(0, 4);  // whole steps before the first run too (the default 0..1 labels "0 0 0 0 1")
  x_->setTickCount(5);
  yLoss_ = new QValueAxis;
  yLoss_->setTitleText(tr("loss"));
  yAccuracy_ = new QValueAxis;
  yAccuracy_->setTitleText(tr("accuracy"));
  yAccuracy_->setRange(0, 1);
  chart_->addAxis(x_, Qt::AlignBottom);
  chart_->addAxis(yLoss_, Qt::AlignLeft);
  chart_->addAxis(yAccuracy_, Qt::AlignRight);
  for (auto* s : {loss_, valLoss_, accuracy_, valAccuracy_}) s->attachAxis(x_);
  for (auto* s : {loss_, valLoss_}) s->attachAxis(yLoss_);
  for (auto* s : {accuracy_, valAccuracy_}) s->attachAxis(yAccuracy_);
  view_ = new QChartView(chart_, this);
  view_->setObjectName("trainingChart");
  view_->setRenderHint(QPainter::Antialiasing);
  view_->setMinimumHeight(220);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(modelForm);
  layout->addLayout(buttons);
  layout->addLayout(serverButtons);
  layout->addWidget(summary_);
  layout->addWidget(view_, 1);
  layout->addWidget(result_);

  poll_ = new QTimer(this);
  poll_->setInterval(250);
  connect(poll_, &QTimer::timeout, this, [this] { showLog(watched_); });
  connect(import_, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Import Click Data"), {},
                                                      tr("Click data (*.csv *.tsv *.txt *.json);;All files (*)"));
    if (!file.isEmpty()) importClicks(file);
  });
  connect(train_, &QPushButton::clicked, this, &TrainingPanel::trainRanker);
  connect(style_, &QPushButton::clicked, this, &TrainingPanel::runStyleRounds);
  connect(cancel_, &QPushButton::clicked, this, &TrainingPanel::cancelTraining);
  connect(exportBundle_, &QPushButton::clicked, this, [this] {
    const QString suggested = QDir(q(project_->dir().parent_path().string()))
                                  .filePath(q(project_->dir().filename().string()) + "-training-bundle");
    const QString dir = QFileDialog::getSaveFileName(this, tr("Export Training Bundle"), suggested, {}, nullptr,
                                                     QFileDialog::ShowDirsOnly);
    if (dir.isEmpty()) return;
    bool replace = false;
    if (QFileInfo::exists(dir)) {
      if (QMessageBox::question(this, tr("Replace %1?").arg(QFileInfo(dir).fileName()),
                                tr("%1 already exists. Replace it with the new training bundle?").arg(dir)) !=
          QMessageBox::Yes)
        return;
      replace = true;
    }
    exportBundle(dir, replace);
  });
  connect(importResult_, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Import Server Result"));
    if (dir.isEmpty()) return;
    const QString name = q(caig::trainingResultName(dir.toStdString()));
    const bool taken =
        !name.isEmpty() && QFileInfo::exists(q(project_->absolute("models/" + name.toStdString()).string()));
    if (taken && QMessageBox::question(this, tr("Replace %1?").arg(name),
                                       tr("The project already has a model named %1. Replace it with the server's "
                                          "result?")
                                           .arg(name)) != QMessageBox::Yes)
      return;
    importResult(dir, taken);
  });
  connect(rewardModel_, &QComboBox::currentIndexChanged, this, &TrainingPanel::updateModelRows);
  updateModelRows();
  setProject(nullptr);
}

#ifdef CAIG_HAVE_NEURAL_TRAINING
bool TrainingPanel::neuralTrainingAvailable() { return true; }
#else
bool TrainingPanel::neuralTrainingAvailable() { return false; }
#endif

void TrainingPanel::setInstalledModels(const std::vector<caig::InstalledModel>& models) {
  const QString current = rewardModel_->currentData().toString();
  while (rewardModel_->count() > 1) rewardModel_->removeItem(rewardModel_->count() - 1);
  for (const auto& m : models) {
    if (m.kind != caig::ModelKind::RewardModel || m.status != caig::ModelStatus::Ok || m.path.empty()) continue;
    const QString path = q(m.path.string());
    rewardModel_->addItem(tr("LLaVA reward model: %1").arg(q(m.name)), path);
    rewardModel_->setItemData(rewardModel_->count() - 1, path, Qt::ToolTipRole);
    if (!neuralTrainingAvailable()) {  // say why it cannot be chosen instead of failing later
      if (auto* model = qobject_cast<QStandardItemModel*>(rewardModel_->model())) {
        model->item(rewardModel_->count() - 1)->setEnabled(false);
        model->item(rewardModel_->count() - 1)->setText(tr("%1 (this build has no neural training)").arg(q(m.name)));
      }
    }
  }
  const int keep = current.isEmpty() ? 0 : rewardModel_->findData(current);
  rewardModel_->setCurrentIndex(keep > 0 && neuralTrainingAvailable() ? keep : 0);
  updateModelRows();
}

void TrainingPanel::updateModelRows() {
  const bool neural = !rewardModel_->currentData().toString().isEmpty();
  neuralRow_->setVisible(neural);
#ifdef CAIG_HAVE_NEURAL_TRAINING
  const bool resumable =
      neural && project_ && caig::hasNeuralRmCheckpoint(*project_, rewardModel_->currentData().toString().toStdString());
#else
  const bool resumable = false;
#endif
  resume_->setEnabled(resumable);
  if (!resumable) resume_->setChecked(false);
  exportBundle_->setEnabled(neural && project_ && cancel_ && !cancel_->isEnabled());
  exportBundle_->setToolTip(neural
                                ? tr("Write the clicks and these settings as a folder to fine-tune the reward model "
                                     "on a server (one command, several GPUs or machines), then import its result")
                                : tr("Choose a LLaVA reward model first: the built-in ranker trains here in seconds"));
  train_->setText(neural ? tr("Train reward model") : tr("Train built-in ranker"));
  train_->setToolTip(neural ? tr("Fine-tune the chosen LLaVA reward model on the click pairs (LoRA); held-out "
                                 "products measure it")
                            : tr("Fit the built-in ranker to the click pairs; held-out products measure it"));
}

void TrainingPanel::cancelTraining() {
  if (activeJob_) jobs_->cancel(activeJob_);
}

void TrainingPanel::setProject(caig::Project* project) {
  project_ = project;
  stopWatching();
  setBusy(false);
  refreshSummary();
  updateModelRows();
}

void TrainingPanel::setBusy(bool busy) {
  for (auto* b : {import_, train_, style_, importResult_}) b->setEnabled(project_ && !busy);
  exportBundle_->setEnabled(project_ && !busy && !rewardModel_->currentData().toString().isEmpty());
  rewardModel_->setEnabled(!busy);
  cancel_->setEnabled(project_ && busy);
}

void TrainingPanel::refreshSummary() {
  if (!project_) {
    summary_->setText(tr("Open a project to import click data."));
    return;
  }
  try {
    const auto creatives = caig::loadClickCreatives(*project_);
    if (creatives.empty()) {
      summary_->setText(tr("No click data yet: import a CSV or JSON export of impressions and clicks."));
      return;
    }
    const caig::PairSet pairs = caig::buildPairs(creatives);
    const caig::PairStats& s = pairs.stats;
    summary_->setText(tr("%1 creatives of %2 products → %3 training pairs from %4 products "
                         "(of %5 candidates: %6 under the impression minimum, %7 too close, %8 too far apart)")
                          .arg(creatives.size())
                          .arg(s.products)
                          .arg(s.pairs)
                          .arg(s.productsWithPairs)
                          .arg(s.candidatePairs)
                          .arg(s.skippedImpressions)
                          .arg(s.skippedRatioLow)
                          .arg(s.skippedRatioHigh));
  } catch (const std::exception& e) {
    summary_->setText(tr("Could not read the click data: %1").arg(e.what()));
  }
}

void TrainingPanel::tell(const QString& title, const QString& text, bool warning) {
  if (dialog_) dialog_->close();
  // Window-modal but not blocking: the queue keeps running, and tests can read and close it.
  auto* box = new QMessageBox(warning ? QMessageBox::Warning : QMessageBox::Information, title, text, QMessageBox::Ok, this);
  box->setObjectName("trainingMessage");
  box->setAttribute(Qt::WA_DeleteOnClose);
  dialog_ = box;
  box->open();
}

int TrainingPanel::importClicks(const QString& path) {
  if (!project_) return 0;
  // The header and every row are checked here first: a file that cannot be imported at all
  // says why at once and the project stays as it is.
  caig::ClickFile parsed;
  try {
    parsed = caig::readClickFile(path.toStdString());
  } catch (const std::exception& e) {
    tell(tr("Cannot import %1").arg(QFileInfo(path).fileName()), q(e.what()), true);
    Q_EMIT importFinished(false, q(e.what()));
    return 0;
  }
  const std::filesystem::path dir = project_->dir(), file = path.toStdString();
  setBusy(true);
  const int id = jobs_->enqueue("clicks", tr("Import clicks from %1").arg(QFileInfo(path).fileName()),
                                [=](JobContext& ctx) -> JobApply {
                                  caig::Project own = caig::Project::open(dir);
                                  caig::ImportOptions options;
                                  options.progress = [&](int done, int total) {
                                    ctx.progress(total ? double(done) / total : 0, tr("%1/%2").arg(done).arg(total));
                                  };
                                  const caig::ImportReport report = caig::importClicks(own, file, options);
                                  return [=] {
                                    setBusy(false);
                                    refreshSummary();
                                    const QString text = q(report.summary());
                                    tell(report.rejected.empty() ? tr("Clicks imported")
                                                                 : tr("Clicks imported, %1 rows rejected").arg(report.rejected.size()),
                                         text, !report.rejected.empty());
                                    Q_EMIT importFinished(true, text);
                                  };
                                });
  jobs_->onNotDone(id, this, [this](const QString& error) {
    setBusy(false);
    Q_EMIT importFinished(false, error);
  });
  return id;
}

QString TrainingPanel::newLogFile(const QString& prefix) const {
  const QString logs = QString::fromStdString(project_->absolute("logs").string());
  QDir().mkpath(logs);
  return logs + "/" + prefix + "-" + QDateTime::currentDateTimeUtc().toString("yyyyMMdd-HHmmss-zzz") + ".jsonl";
}

int TrainingPanel::trainRanker() {
  if (!project_) return 0;
  const QString neuralModel = rewardModel_->currentData().toString();
  if (!neuralModel.isEmpty()) return trainNeural(neuralModel);
  const std::filesystem::path dir = project_->dir();
  const QString log = newLogFile("train-rm");
  setBusy(true);
  watch(log);
  const int id = jobs_->enqueue("train", tr("Train the built-in ranker on the clicks"), [=](JobContext& ctx) -> JobApply {
    caig::Project own = caig::Project::open(dir);
    caig::RmTrainOptions options;
    options.logFile = log.toStdString();
    options.progress = [&](const caig::RmProgress& p) {
      const double share = p.maxSteps ? double(p.step) / p.maxSteps : 0;
      ctx.progress(p.phase == "features" ? 0.5 * share : 0.5 + 0.5 * share,
                   p.phase == "features" ? tr("features %1/%2").arg(p.step).arg(p.maxSteps)
                                         : tr("step %1/%2").arg(p.step).arg(p.maxSteps));
    };
    const caig::RmTrainResult r = caig::trainBuiltinRewardModel(own, options);
    return [=] {
      stopWatching();
      showLog(log);
      setBusy(false);
      QString text;
      if (r.validation && r.validationUntrained) {
        text = tr("Held-out accuracy: %1 before → %2 after training (%3 pairs of %4 products; log-loss %5 → %6). ")
                   .arg(percent(r.validationUntrained->accuracy), percent(r.validation->accuracy))
                   .arg(r.validationPairs)
                   .arg(r.validationProducts)
                   .arg(r.validationUntrained->logLoss, 0, 'f', 3)
                   .arg(r.validation->logLoss, 0, 'f', 3);
      } else {
        text = tr("No held-out products (too few): training accuracy %1. ").arg(percent(r.train.accuracy));
      }
      text += tr("%1 training pairs, %2 iterations; ranker %3 is now active.").arg(r.trainPairs).arg(r.iterations).arg(q(r.rankerId));
      result_->setText(text);
      Q_EMIT trainingFinished(true, text);
    };
  });
  jobs_->onNotDone(id, this, [this](const QString& error) {
    stopWatching();
    setBusy(false);
    result_->setText(tr("Training failed: %1").arg(error));
    Q_EMIT trainingFinished(false, error);
  });
  activeJob_ = id;
  return id;
}

int TrainingPanel::trainNeural(const QString& modelDir) {
  const QString name = QFileInfo(modelDir).fileName();
  const QString title = tr("Cannot train %1").arg(name);
#ifndef CAIG_HAVE_NEURAL_TRAINING
  tell(title, tr("This build of the studio has no neural training library."), true);
  Q_EMIT trainingFinished(false, tr("no neural training in this build"));
  return 0;
#else
  const QString problem = rewardModelProblem(modelDir);
  if (!problem.isEmpty()) {
    tell(title, problem, true);
    Q_EMIT trainingFinished(false, problem);
    return 0;
  }
  const std::filesystem::path dir = project_->dir();
  const QString log = newLogFile("train-rm-neural");
  caig::NeuralRmJobOptions options = dockJobOptions(modelDir);
  options.logFile = log.toStdString();
  options.resume = resume_->isChecked();
  setBusy(true);
  watch(log);
  // Set once the result is shown, so that a cancelled run that still finished its apply step
  // is not reported a second time as failed.
  auto reported = std::make_shared<bool>(false);
  const int id = jobs_->enqueue(
      "train", tr("Fine-tune %1 on the clicks (%2 steps, LoRA r %3)").arg(name).arg(options.steps).arg(options.loraRank),
      [=](JobContext& ctx) -> JobApply {
        caig::Project own = caig::Project::open(dir);
        caig::NeuralRmJobOptions o = options;
        o.cancel = ctx.cancelFlag();
        o.progress = [&](const caig::RmProgress& p) {
          const double share = p.maxSteps ? double(p.step) / p.maxSteps : 0;
          ctx.progress(p.phase == "features" ? 0.2 * share : 0.2 + 0.8 * share,
                       p.phase == "features" ? tr("pair images %1/%2").arg(p.step).arg(p.maxSteps)
                                             : tr("step %1/%2").arg(p.step).arg(p.maxSteps));
        };
        const caig::NeuralRmJobResult r = caig::runNeuralRewardModelTraining(own, o);
        return [=] {
          *reported = true;
          stopWatching();
          showLog(log);
          setBusy(false);
          updateModelRows();  // its checkpoint makes the run resumable
          if (r.cancelled) {
            const QString text = tr("Stopped at step %1 of %2; checkpoint %3 (nothing saved under models/).")
                                     .arg(r.steps)
                                     .arg(options.steps)
                                     .arg(q(r.lastCheckpoint.string()));
            result_->setText(text);
            Q_EMIT trainingFinished(false, text);
            return;
          }
          QString text;
          if (r.validationBefore && r.validationAfter) {
            text = tr("Held-out accuracy: %1 before → %2 after training (%3 pairs of %4 products; log-loss %5 → %6). ")
                       .arg(percent(r.validationBefore->accuracy), percent(r.validationAfter->accuracy))
                       .arg(r.validationPairs)
                       .arg(r.validationProducts)
                       .arg(r.validationBefore->logLoss, 0, 'f', 3)
                       .arg(r.validationAfter->logLoss, 0, 'f', 3);
          } else {
            text = tr("No held-out products (too few): training accuracy %1 → %2. ")
                       .arg(percent(r.trainBefore.accuracy), percent(r.trainAfter.accuracy));
          }
          if (r.resumedFromStep > 0) text += tr("Resumed from step %1. ").arg(r.resumedFromStep);
          text += tr("%1 training pairs, %2 steps on %3 in %4 s; adapter saved in %5.")
                      .arg(r.trainPairs)
                      .arg(r.steps)
                      .arg(q(r.device))
                      .arg(r.seconds, 0, 'f', 1)
                      .arg(q(r.adapterDir.string()));
          if (!r.mergedDir.empty()) {
            text += tr(" Standalone model in %1 (offered as a ranker in the Generate dock).").arg(q(r.mergedDir.string()));
          }
          result_->setText(text);
          Q_EMIT trainingFinished(true, text);
        };
      });
  jobs_->onNotDone(id, this, [this, reported, name](const QString& error) {
    if (*reported) return;
    stopWatching();
    showLog(watched_);
    setBusy(false);
    result_->setText(tr("Training failed: %1").arg(error));
    // e.g. a tokenizer missing from the folder, or no pairs under the rules
    if (error != QObject::tr("cancelled")) tell(tr("Training %1 failed").arg(name), error, true);
    Q_EMIT trainingFinished(false, error);
  });
  activeJob_ = id;
  return id;
#endif
}

int TrainingPanel::runStyleRounds() {
  if (!project_) return 0;
  const std::filesystem::path dir = project_->dir();
  std::optional<std::filesystem::path> weights;
  try {
    weights = caig::activeBuiltinRankerWeights(*project_);
  } catch (const std::exception&) {
  }
  const QString log = newLogFile("pcpo");
  setBusy(true);
  watch(log);
  const int id = jobs_->enqueue("style", tr("Style preference rounds (built-in)"), [=](JobContext& ctx) -> JobApply {
    caig::Project own = caig::Project::open(dir);
    caig::BuiltinRanker ranker;
    if (weights) ranker.load(*weights);
    caig::StylePreferenceOptions options;
    options.logFile = log.toStdString();
    options.progress = [&](int done, int total) {
      ctx.progress(total ? double(done) / total : 0, tr("%1/%2 comparisons").arg(done).arg(total));
    };
    const caig::StylePreferenceResult r = caig::runStylePreferenceLoop(own, ranker, options);
    return [=] {
      stopWatching();
      showLog(log);
      setBusy(false);
      // The styles whose weight moved most, so the user sees what was learnt.
      std::vector<std::pair<double, std::string>> moves;
      for (const auto& [style, after] : r.after) {
        const auto before = r.before.count(style) ? r.before.at(style) : 1.0;
        moves.emplace_back(after / std::max(before, 1e-9), style);
      }
      std::sort(moves.rbegin(), moves.rend());
      QStringList up;
      for (std::size_t i = 0; i < std::min<std::size_t>(3, moves.size()); ++i) {
        up << QStringLiteral("%1 ×%2").arg(q(moves[i].second)).arg(moves[i].first, 0, 'f', 2);
      }
      const QString text = tr("%1 comparisons on %2 in %3 s; styles favoured more: %4")
                               .arg(r.comparisons.size())
                               .arg(q(r.productSource))
                               .arg(r.seconds, 0, 'f', 1)
                               .arg(up.join(", "));
      result_->setText(text);
      Q_EMIT styleRoundsFinished(true, text);
    };
  });
  jobs_->onNotDone(id, this, [this](const QString& error) {
    stopWatching();
    setBusy(false);
    result_->setText(tr("Style rounds failed: %1").arg(error));
    Q_EMIT styleRoundsFinished(false, error);
  });
  activeJob_ = id;
  return id;
}

void TrainingPanel::watch(const QString& logFile) {
  watched_ = logFile;
  for (auto* s : {loss_, valLoss_, accuracy_, valAccuracy_}) s->clear();
  chart_->setTitle(tr("Waiting for %1").arg(QFileInfo(logFile).fileName()));
  poll_->start();
}

void TrainingPanel::stopWatching() { poll_->stop(); }

void TrainingPanel::showLog(const QString& logFile) {
  QFile f(logFile);
  if (logFile.isEmpty() || !f.open(QIODevice::ReadOnly)) return;
  QList<QPointF> loss, valLoss, accuracy, valAccuracy;
  bool pcpo = false;
  QString state;
  while (!f.atEnd()) {
    const QByteArray line = f.readLine().trimmed();
    if (line.isEmpty()) continue;
    const auto j = io::parseJsonOrDiscarded(std::string_view(line.constData(), static_cast<std::size_t>(line.size())));
    if (j.is_discarded() || !j.is_object()) continue;  // a line still being written
    const std::string event = j.value("event", "");
    if (event == "step") {
      const double step = j.value("step", 0.0);
      if (j.contains("loss")) loss << QPointF(step, j["loss"].get<double>());
      if (j.contains("accuracy")) accuracy << QPointF(step, j["accuracy"].get<double>());
      if (j.contains("valLoss") && j["valLoss"].is_number()) valLoss << QPointF(step, j["valLoss"].get<double>());
      if (j.contains("valAccuracy") && j["valAccuracy"].is_number()) valAccuracy << QPointF(step, j["valAccuracy"].get<double>());
    } else if (event == "round") {  // style rounds: how often the planner already agreed
      pcpo = true;
      accuracy << QPointF(j.value("round", 0.0), j.value("plannerAgreement", 0.0));
    } else if (event == "end") {
      state = tr("finished");
    } else if (event == "cancelled") {
      state = tr("stopped at step %1").arg(j.value("step", 0));
    } else if (event == "failed") {
      state = tr("failed: %1").arg(q(j.value("error", "")));
    }
  }
  loss_->replace(loss);
  valLoss_->replace(valLoss);
  accuracy_->replace(accuracy);
  valAccuracy_->replace(valAccuracy);
  accuracy_->setName(pcpo ? tr("planner agreement") : tr("accuracy"));
  x_->setTitleText(pcpo ? tr("round") : tr("step"));
  for (auto* s : {loss_, valLoss_}) s->setVisible(!pcpo);
  valAccuracy_->setVisible(!pcpo);
  // A neural run logs no training accuracy per step: no empty entry in the legend for it.
  accuracy_->setVisible(pcpo || !accuracy.isEmpty() || loss.isEmpty());
  yLoss_->setVisible(!pcpo);
  yAccuracy_->setTitleText(pcpo ? tr("agreement with the ranker") : tr("accuracy"));
  double maxX = 1, maxLoss = 0.1;
  for (const auto* list : {&loss, &valLoss, &accuracy, &valAccuracy}) {
    for (const QPointF& p : *list) maxX = std::max(maxX, p.x());
  }
  for (const auto* list : {&loss, &valLoss}) {
    for (const QPointF& p : *list) maxLoss = std::max(maxLoss, p.y());
  }
  // Whole steps on the x axis: a tick every 1, 2, 5, 10... steps, never a fractional label.
  double interval = 1;
  while (maxX / interval > 8) interval *= (QString::number(interval).startsWith('2') ? 2.5 : 2);
  x_->setTickType(QValueAxis::TicksDynamic);
  x_->setTickAnchor(0);
  x_->setTickInterval(interval);
  x_->setRange(0, std::ceil(maxX / interval) * interval);
  yLoss_->setRange(0, maxLoss * 1.1);
  chart_->setTitle(QStringLiteral("%1%2").arg(QFileInfo(logFile).fileName(), state.isEmpty() ? QString() : " — " + state));
}

int TrainingPanel::chartPoints() const {
  return static_cast<int>(loss_->count() + valLoss_->count() + accuracy_->count() + valAccuracy_->count());
}
QString TrainingPanel::summaryText() const { return summary_->text(); }
QString TrainingPanel::resultText() const { return result_->text(); }

}  // namespace caig::ui
