#include "widgets/generate_panel.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSpinBox>
#include <QStandardItemModel>

#include "core/composition.h"

namespace caig::ui {

GeneratePanel::GeneratePanel(QWidget* parent) : QWidget(parent) {
  engine_ = new QComboBox(this);
  engine_->addItem(tr("Built-in backdrops (procedural)"), QStringLiteral("builtin"));
  engine_->addItem(tr("Stable Diffusion 1.5 + ControlNet (not installed)"), QStringLiteral("sd15"));
  // Not selectable until the neural generator exists: say so instead of failing later.
  if (auto* model = qobject_cast<QStandardItemModel*>(engine_->model())) model->item(1)->setEnabled(false);

  preset_ = new QComboBox(this);
  preset_->setObjectName("presetCombo");
  for (const auto& p : caig::adPresets()) {
    preset_->addItem(QStringLiteral("%1  (%2×%3)").arg(QString::fromStdString(p.label)).arg(p.size.width).arg(p.size.height),
                     QString::fromStdString(p.id));
  }
  preset_->setCurrentIndex(std::max(0, preset_->findData(QStringLiteral("1:1-1080"))));

  variants_ = new QSpinBox(this);
  variants_->setObjectName("variantCount");
  variants_->setRange(1, 16);
  variants_->setValue(4);
  seed_ = new QSpinBox(this);
  seed_->setRange(0, 2147483647);
  seed_->setValue(1);
  seedMode_ = new QComboBox(this);
  seedMode_->addItem(tr("fixed"));
  seedMode_->addItem(tr("increment"));
  seedMode_->addItem(tr("random"));
  seedMode_->setCurrentIndex(1);
  auto* seedRow = new QHBoxLayout;
  seedRow->addWidget(seed_, 1);
  seedRow->addWidget(seedMode_);

  generate_ = new QPushButton(tr("Generate"), this);
  generate_->setObjectName("generateButton");
  generate_->setDefault(true);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setEnabled(false);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(generate_, 1);
  buttons->addWidget(cancel_);

  auto* form = new QFormLayout(this);
  form->addRow(tr("Engine"), engine_);
  form->addRow(tr("Ad size"), preset_);
  form->addRow(tr("Variants"), variants_);
  form->addRow(tr("Seed"), seedRow);
  form->addRow(buttons);

  connect(generate_, &QPushButton::clicked, this, [this] { Q_EMIT generateRequested(settings()); });
  connect(cancel_, &QPushButton::clicked, this, &GeneratePanel::cancelRequested);
}

GenerateSettings GeneratePanel::settings() const {
  return {preset_->currentData().toString(), variants_->value(), static_cast<std::uint64_t>(seed_->value())};
}

void GeneratePanel::setRunning(bool running) {
  generate_->setEnabled(!running);
  cancel_->setEnabled(running);
}

void GeneratePanel::advanceSeed() {
  if (seedMode_->currentIndex() == 1) seed_->setValue((seed_->value() + 1) % seed_->maximum());
  if (seedMode_->currentIndex() == 2) seed_->setValue(static_cast<int>(QRandomGenerator::global()->bounded(seed_->maximum())));
}

}  // namespace caig::ui
