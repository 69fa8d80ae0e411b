#include "widgets/generate_panel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSpinBox>
#include <QStandardItemModel>

#include "core/composition.h"
#include "widgets/icons.h"
#ifdef CAIG_HAVE_SD
#include "core/sd_generation.h"
#endif

namespace caig::ui {

namespace {

std::vector<std::string> samplerNames() {
#ifdef CAIG_HAVE_SD
  return caig::sdSamplerNames();
#else
  return {"euler_a"};  // unused: the SD engine is not offered without the generator
#endif
}

QString q(const std::string& s) { return QString::fromStdString(s); }

// Refills `combo` with its first (built-in) entry plus one per model of `kind`, keeping the
// current folder selected when it is still there.
void fillModels(QComboBox* combo, const std::vector<InstalledModel>& models, ModelKind kind, const QString& prefix) {
  const QString current = combo->currentData().toString();
  while (combo->count() > 1) combo->removeItem(combo->count() - 1);
  for (const auto& m : models) {
    if (m.kind != kind || m.status != ModelStatus::Ok || m.path.empty()) continue;
    combo->addItem(prefix + q(m.name), q(m.path.string()));
    combo->setItemData(combo->count() - 1, q(m.path.string()), Qt::ToolTipRole);
  }
  combo->setCurrentIndex(std::max(0, combo->findData(current)));
}

}  // namespace

GeneratePanel::GeneratePanel(QWidget* parent) : QWidget(parent) {
  engine_ = new QComboBox(this);
  engine_->setObjectName("engineCombo");
  engine_->addItem(tr("Built-in backdrops (procedural)"), QString());
  engine_->addItem(tr("Stable Diffusion 1.5 + ControlNet (no model installed)"), QString());
  // Not selectable until a pipeline folder is installed: say so instead of failing later.
  if (auto* model = qobject_cast<QStandardItemModel*>(engine_->model())) model->item(1)->setEnabled(false);

  preset_ = new QComboBox(this);
  preset_->setObjectName("presetCombo");
  for (const auto& p : caig::adPresets()) {
    preset_->addItem(QStringLiteral("%1  (%2×%3)").arg(q(p.label)).arg(p.size.width).arg(p.size.height), q(p.id));
  }
  preset_->setCurrentIndex(std::max(0, preset_->findData(QStringLiteral("1:1-1080"))));

  variants_ = new QSpinBox(this);
  variants_->setObjectName("variantCount");
  variants_->setRange(1, 16);
  variants_->setValue(4);
  seed_ = new QSpinBox(this);
  seed_->setObjectName("seedSpin");
  seed_->setRange(0, 2147483647);
  seed_->setValue(1);
  seedMode_ = new QComboBox(this);
  seedMode_->setObjectName("seedMode");
  seedMode_->addItem(tr("fixed"), QStringLiteral("fixed"));
  seedMode_->addItem(tr("increment"), QStringLiteral("increment"));
  seedMode_->addItem(tr("random"), QStringLiteral("random"));
  seedMode_->setCurrentIndex(1);
  auto* seedRow = new QHBoxLayout;
  seedRow->addWidget(seed_, 1);
  seedRow->addWidget(seedMode_);

  // The SD settings, shown only with the SD engine.
  sdBox_ = new QGroupBox(tr("Stable Diffusion"), this);
  sdBox_->setObjectName("sdSettings");
  controlnet_ = new QComboBox(sdBox_);
  controlnet_->setObjectName("controlnetCombo");
  controlnet_->addItem(tr("The pipeline's own controlnet/"), QString());
  sampler_ = new QComboBox(sdBox_);
  sampler_->setObjectName("samplerCombo");
  for (const auto& s : samplerNames()) sampler_->addItem(q(s), q(s));
  sampler_->setCurrentIndex(std::max(0, sampler_->findData(QStringLiteral("euler_a"))));
  steps_ = new QSpinBox(sdBox_);
  steps_->setObjectName("stepsSpin");
  steps_->setRange(1, 150);
  steps_->setValue(30);
  guidance_ = new QDoubleSpinBox(sdBox_);
  guidance_->setObjectName("cfgSpin");
  guidance_->setRange(1.0, 30.0);
  guidance_->setSingleStep(0.5);
  guidance_->setValue(7.5);
  controlnetScale_ = new QDoubleSpinBox(sdBox_);
  controlnetScale_->setObjectName("controlnetScaleSpin");
  controlnetScale_->setRange(0.0, 2.0);
  controlnetScale_->setSingleStep(0.1);
  controlnetScale_->setValue(1.0);
  clipSkip_ = new QSpinBox(sdBox_);
  clipSkip_->setObjectName("clipSkipSpin");
  clipSkip_->setRange(1, 2);
  clipSkip_->setValue(1);
  clipSkip_->setToolTip(tr("Clip skip as in A1111: 2 uses the penultimate CLIP text layer, as many SD1.5 "
                           "fine-tunes' model cards ask"));
  perPrompt_ = new QSpinBox(sdBox_);
  perPrompt_->setObjectName("variantsPerPrompt");
  perPrompt_->setRange(1, 8);
  perPrompt_->setValue(1);
  // Smaller is faster and blurrier (a quick look on the CPU); larger than 768 repeats objects.
  workingSize_ = new QSpinBox(sdBox_);
  workingSize_->setObjectName("workingSizeSpin");
  workingSize_->setRange(64, 1024);
  workingSize_->setSingleStep(64);
  workingSize_->setSuffix(tr(" px"));
  workingSize_->setValue(512);
  workingSize_->setToolTip(tr("The generator's long side (a multiple of 8); the ad is resized to its preset after"));
  auto* sdForm = new QFormLayout(sdBox_);
  sdForm->addRow(tr("ControlNet"), controlnet_);
  sdForm->addRow(tr("Sampler"), sampler_);
  sdForm->addRow(tr("Steps"), steps_);
  sdForm->addRow(tr("CFG scale"), guidance_);
  sdForm->addRow(tr("ControlNet scale"), controlnetScale_);
  sdForm->addRow(tr("Clip skip"), clipSkip_);
  sdForm->addRow(tr("Variants per prompt"), perPrompt_);
  sdForm->addRow(tr("Working size"), workingSize_);

  promptWriter_ = new QComboBox(this);
  promptWriter_->setObjectName("promptWriterCombo");
  promptWriter_->addItem(tr("Built-in planner"), QString());
  promptCount_ = new QSpinBox(this);
  promptCount_->setObjectName("promptCount");
  promptCount_->setRange(1, 16);
  promptCount_->setValue(4);
  writePrompts_ = new QPushButton(tr("Write prompts"), this);
  writePrompts_->setObjectName("writePromptsButton");
  auto* promptRow = new QHBoxLayout;
  promptRow->addWidget(promptWriter_, 1);
  promptRow->addWidget(promptCount_);
  promptRow->addWidget(writePrompts_);

  ranker_ = new QComboBox(this);
  ranker_->setObjectName("rankerCombo");
  ranker_->addItem(tr("Built-in ranker"), QString());

  generate_ = new QPushButton(tr("Generate"), this);
  generate_->setObjectName("generateButton");
  generate_->setDefault(true);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName("cancelButton");
  cancel_->setEnabled(false);
  setIcon(generate_, QStringLiteral("generate"));
  setIcon(cancel_, QStringLiteral("cancel"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(generate_, 1);
  buttons->addWidget(cancel_);

  auto* form = new QFormLayout(this);
  form->addRow(tr("Engine"), engine_);
  form->addRow(tr("Ad size"), preset_);
  form->addRow(tr("Variants"), variants_);
  form->addRow(tr("Seed"), seedRow);
  form->addRow(sdBox_);
  form->addRow(tr("Prompts"), promptRow);
  form->addRow(tr("Ranker"), ranker_);
  form->addRow(buttons);

  connect(engine_, &QComboBox::currentIndexChanged, this, &GeneratePanel::updateEngineRows);
  connect(ranker_, &QComboBox::currentIndexChanged, this, &GeneratePanel::rankerChanged);
  connect(generate_, &QPushButton::clicked, this, [this] { Q_EMIT generateRequested(settings()); });
  connect(cancel_, &QPushButton::clicked, this, &GeneratePanel::cancelRequested);
  connect(writePrompts_, &QPushButton::clicked, this, &GeneratePanel::writePromptsRequested);
  updateEngineRows();
}

void GeneratePanel::updateEngineRows() {
  const bool sd = !engine_->currentData().toString().isEmpty();
  sdBox_->setVisible(sd);
  variants_->setToolTip(sd ? tr("Prompts to render (each gives the variants per prompt)") : tr("Variants to render"));
}

void GeneratePanel::setInstalledModels(const std::vector<InstalledModel>& models, bool sdAvailable) {
  const QString current = engine_->currentData().toString();
  while (engine_->count() > 1) engine_->removeItem(engine_->count() - 1);
  int sdModels = 0;
  for (const auto& m : models) {
    if (m.kind != ModelKind::StableDiffusion || m.status != ModelStatus::Ok || m.path.empty()) continue;
    ++sdModels;
    engine_->addItem(tr("SD1.5 + ControlNet: %1").arg(q(m.name)), q(m.path.string()));
    engine_->setItemData(engine_->count() - 1, q(m.path.string()), Qt::ToolTipRole);
    if (!sdAvailable) {
      if (auto* model = qobject_cast<QStandardItemModel*>(engine_->model())) {
        model->item(engine_->count() - 1)->setEnabled(false);
        model->item(engine_->count() - 1)->setText(tr("SD1.5: %1 (this build has no SD generator)").arg(q(m.name)));
      }
    }
  }
  if (sdModels == 0) {
    engine_->addItem(tr("Stable Diffusion 1.5 + ControlNet (no model installed)"), QString());
    if (auto* model = qobject_cast<QStandardItemModel*>(engine_->model())) model->item(1)->setEnabled(false);
  }
  const int keep = current.isEmpty() ? 0 : engine_->findData(current);
  engine_->setCurrentIndex(keep > 0 && sdAvailable ? keep : 0);
  fillModels(controlnet_, models, ModelKind::ControlNet, QString());
  fillModels(promptWriter_, models, ModelKind::Llava, tr("LLaVA: "));
  fillModels(ranker_, models, ModelKind::RewardModel, tr("Reward model: "));
  updateEngineRows();
}

GenerateSettings GeneratePanel::settings() const {
  GenerateSettings s;
  s.presetId = preset_->currentData().toString();
  s.variants = variants_->value();
  s.seed = static_cast<std::uint64_t>(seed_->value());
  s.seedMode = seedMode_->currentData().toString();
  s.sdModelDir = engine_->currentData().toString();
  s.engine = s.sdModelDir.isEmpty() ? QStringLiteral("builtin") : QStringLiteral("sd15");
  s.controlnetDir = controlnet_->currentData().toString();
  s.sampler = sampler_->currentData().toString();
  s.steps = steps_->value();
  s.guidance = guidance_->value();
  s.controlnetScale = controlnetScale_->value();
  s.clipSkip = clipSkip_->value();
  s.variantsPerPrompt = perPrompt_->value();
  s.workingLongSide = (workingSize_->value() + 4) / 8 * 8;  // typed values snap to the latent grid
  return s;
}

QString GeneratePanel::promptModelDir() const { return promptWriter_->currentData().toString(); }
QString GeneratePanel::rankerModelDir() const { return ranker_->currentData().toString(); }
int GeneratePanel::promptCount() const { return promptCount_->value(); }

// Generate stays enabled while a job runs: another click queues another job.
void GeneratePanel::setRunning(bool running) { cancel_->setEnabled(running); }

void GeneratePanel::advanceSeed() {
  const QString mode = seedMode_->currentData().toString();
  if (mode == "increment") seed_->setValue((seed_->value() + 1) % seed_->maximum());
  if (mode == "random") seed_->setValue(static_cast<int>(QRandomGenerator::global()->bounded(seed_->maximum())));
}

}  // namespace caig::ui
