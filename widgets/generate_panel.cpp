#include "widgets/generate_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include "core/generation/composition.h"
#include "widgets/icons.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

constexpr int kEngineRole = Qt::UserRole + 1;  // the engine's name; Qt::UserRole holds its model folder

// Refills `combo` with its first (built-in or "none") entry plus one per model of `kind`, keeping
// the current folder selected when it is still there.
void fillModels(QComboBox* combo, const std::vector<InstalledModel>& models, ModelKind kind, const QString& prefix) {
  const QString current = combo->currentData().toString();
  while (combo->count() > 1) combo->removeItem(combo->count() - 1);
  for (const auto& m : models) {
    if (m.kind != kind || m.status != ModelStatus::Ok || m.path.empty()) continue;
    combo->addItem(prefix + q(m.name), q(m.path.string()));
    combo->setItemData(combo->count() - 1, q(m.path.string()), Qt::ToolTipRole);
  }
  // An option that is better on (TAESD previews) takes the first installed model until the user
  // has chosen in this combo.
  const bool pick = current.isEmpty() && combo->property("pickFirstInstalled").toBool() &&
                    !combo->property("userChose").toBool() && combo->count() > 1;
  combo->setCurrentIndex(pick ? 1 : std::max(0, combo->findData(current)));
}

void addDisabledItem(QComboBox* combo, const QString& text) {
  combo->addItem(text, QString());
  if (auto* model = qobject_cast<QStandardItemModel*>(combo->model())) model->item(combo->count() - 1)->setEnabled(false);
}

}  // namespace

GeneratePanel::GeneratePanel(QWidget* parent) : QWidget(parent) {
  engine_ = new QComboBox(this);
  engine_->setObjectName("engineCombo");

  preset_ = new QComboBox(this);
  preset_->setObjectName("presetCombo");
  for (const auto& p : caig::adPresets()) {
    preset_->addItem(q(caig::adPresetText(p)), q(p.id));
  }
  preset_->setCurrentIndex(std::max(0, preset_->findData(QStringLiteral("1:1-1080"))));

  variants_ = new QSpinBox(this);
  variants_->setObjectName("variantCount");
  variants_->setRange(1, 16);
  variants_->setValue(4);
  variants_->setSuffix(tr(" prompts"));  // the counts say what they count
  variants_->setToolTip(tr("Prompts to render: the pinned and new ones of the Prompts dock first, the built-in "
                           "planner writes the rest"));
  perPrompt_ = new QSpinBox(this);
  perPrompt_->setObjectName("variantsPerPrompt");
  perPrompt_->setRange(1, 8);
  perPrompt_->setValue(1);
  perPrompt_->setPrefix(tr("× "));
  perPrompt_->setSuffix(tr(" each"));
  perPrompt_->setToolTip(tr("Variants of each prompt, each with its own seed"));
  auto* countRow = new QHBoxLayout;
  countRow->addWidget(variants_, 1);
  countRow->addWidget(perPrompt_);
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

  promptWriter_ = new QComboBox(this);
  promptWriter_->setObjectName("promptWriterCombo");
  promptWriter_->addItem(tr("Built-in planner"), QString());
  promptCount_ = new QSpinBox(this);
  promptCount_->setObjectName("promptCount");
  promptCount_->setRange(1, 16);
  promptCount_->setValue(4);
  promptCount_->setSuffix(tr(" new"));
  promptCount_->setToolTip(tr("How many prompts Write prompts adds to the Prompts dock"));
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
  form->addRow(tr("Render"), countRow);
  form->addRow(tr("Seed"), seedRow);
  for (const auto& kind : generatorKinds()) {
    if (QGroupBox* box = buildSettings(kind)) form->addRow(box);
  }
  form->addRow(tr("Prompts"), promptRow);
  form->addRow(tr("Ranker"), ranker_);
  form->addRow(buttons);

  // The counts, the seed and its mode, the ad size and the prompt count are kept across restarts
  // (QSettings "generate/..."); an out-of-range stored value is clamped by the spin box.
  const auto keepSpin = [this](QSpinBox* spin, const char* key) {
    spin->setValue(QSettings().value(key, spin->value()).toInt());
    connect(spin, &QSpinBox::valueChanged, this, [key](int v) { QSettings().setValue(key, v); });
  };
  const auto keepChoice = [this](QComboBox* combo, const char* key) {
    const int stored = combo->findData(QSettings().value(key).toString());
    if (stored >= 0) combo->setCurrentIndex(stored);
    connect(combo, &QComboBox::currentIndexChanged, this, [combo, key] { QSettings().setValue(key, combo->currentData()); });
  };
  keepSpin(variants_, "generate/prompts");
  keepSpin(perPrompt_, "generate/variantsPerPrompt");
  keepSpin(seed_, "generate/seed");
  keepSpin(promptCount_, "generate/promptCount");
  keepChoice(seedMode_, "generate/seedMode");
  keepChoice(preset_, "generate/preset");

  connect(engine_, &QComboBox::currentIndexChanged, this, &GeneratePanel::updateEngineRows);
  connect(ranker_, &QComboBox::currentIndexChanged, this, &GeneratePanel::rankerChanged);
  connect(generate_, &QPushButton::clicked, this, [this] { Q_EMIT generateRequested(settings()); });
  connect(cancel_, &QPushButton::clicked, this, &GeneratePanel::cancelRequested);
  connect(writePrompts_, &QPushButton::clicked, this, &GeneratePanel::writePromptsRequested);
  setInstalledModels({});
}

QGroupBox* GeneratePanel::buildSettings(const GeneratorKind& kind) {
  std::vector<const GeneratorOption*> shown;
  for (const auto& o : kind.options) {
    if (o.inStudio && !o.primaryModel && o.type != OptionType::File) shown.push_back(&o);
  }
  if (shown.empty()) return nullptr;
  auto* box = new QGroupBox(q(kind.label), this);
  box->setObjectName(q(kind.name + "Settings"));
  auto* layout = new QFormLayout(box);
  for (const GeneratorOption* o : shown) {
    QWidget* w = nullptr;
    const QString key = q(o->key);
    switch (o->type) {
      case OptionType::Integer: {
        auto* spin = new QSpinBox(box);
        spin->setObjectName(key + "Spin");
        spin->setRange(static_cast<int>(o->min), static_cast<int>(o->max));
        spin->setSingleStep(static_cast<int>(o->step));
        spin->setValue(o->defaultValue.get<int>());
        w = spin;
        break;
      }
      case OptionType::Number: {
        auto* spin = new QDoubleSpinBox(box);
        spin->setObjectName(key + "Spin");
        spin->setRange(o->min, o->max);
        spin->setSingleStep(o->step);
        spin->setValue(o->defaultValue.get<double>());
        w = spin;
        break;
      }
      case OptionType::Choice: {
        auto* combo = new QComboBox(box);
        combo->setObjectName(key + "Combo");
        for (const auto& c : o->choices) combo->addItem(q(c), q(c));
        combo->setCurrentIndex(std::max(0, combo->findData(q(o->defaultValue.get<std::string>()))));
        if (!o->presets.empty()) {
          // A preset choice sets the options it stands for, where the user sees them.
          const nlohmann::json presets = o->presets;
          connect(combo, QOverload<int>::of(&QComboBox::activated), box, [box, combo, presets] {
            const auto it = presets.find(combo->currentData().toString().toStdString());
            if (it == presets.end()) return;
            for (const auto& [k, v] : it->items()) {
              const QString name = QString::fromStdString(k);
              if (auto* spin = box->findChild<QSpinBox*>(name + "Spin"); spin && v.is_number_integer()) {
                spin->setValue(v.get<int>());
              } else if (auto* dspin = box->findChild<QDoubleSpinBox*>(name + "Spin"); dspin && v.is_number()) {
                dspin->setValue(v.get<double>());
              } else if (auto* choice = box->findChild<QComboBox*>(name + "Combo"); choice && v.is_string()) {
                choice->setCurrentIndex(std::max(0, choice->findData(QString::fromStdString(v.get<std::string>()))));
              }
            }
          });
        }
        w = combo;
        break;
      }
      case OptionType::Text: {
        auto* edit = new QLineEdit(box);
        edit->setObjectName(key + "Edit");
        if (o->defaultValue.is_string()) edit->setText(q(o->defaultValue.get<std::string>()));
        edit->setCursorPosition(0);
        w = edit;
        break;
      }
      case OptionType::Model: {
        auto* combo = new QComboBox(box);
        combo->setObjectName(key + "Combo");
        combo->addItem(o->noneLabel.empty() ? tr("None") : q(o->noneLabel), QString());
        combo->setProperty("pickFirstInstalled", o->pickFirstInstalled);
        combo->setProperty("pickFirstForFileModels", o->pickFirstForFileModels);
        connect(combo, QOverload<int>::of(&QComboBox::activated), combo,
                [combo] { combo->setProperty("userChose", true); });
        modelPickers_.emplace_back(combo, o->modelKind);
        w = combo;
        break;
      }
      case OptionType::LoraList: {
        auto* list = new QWidget(box);
        list->setObjectName(key + "List");
        auto* rows = new QVBoxLayout(list);
        rows->setContentsMargins(0, 0, 0, 0);
        loraLists_.push_back(list);
        w = list;
        break;
      }
      case OptionType::File: break;
    }
    w->setToolTip(q(o->help));
    layout->addRow(q(o->label), w);
  }
  box->setVisible(false);
  engineBoxes_[kind.name] = box;
  return box;
}

bool GeneratePanel::selectModel(const QString& path) {
  const QString wanted = QDir::cleanPath(path);
  for (int i = 0; i < engine_->count(); ++i) {
    if (!engine_->itemData(i, kEngineRole).toString().isEmpty() &&
        QDir::cleanPath(engine_->itemData(i).toString()) == wanted) {
      engine_->setCurrentIndex(i);
      updateEngineRows();
      return true;
    }
  }
  return false;
}

QString GeneratePanel::currentEngine() const {
  const QString name = engine_->currentData(kEngineRole).toString();
  return name.isEmpty() ? QStringLiteral("builtin") : name;
}

void GeneratePanel::updateEngineRows() {
  const std::string current = currentEngine().toStdString();
  for (auto& [name, box] : engineBoxes_) box->setVisible(name == current);
  // A model without a part of its own (a single-file checkpoint, or a pipeline folder such as
  // SD1.5's without a controlnet/ subfolder): such a picker takes the first installed model while
  // the user has not chosen in it.
  const QString modelPath = engine_->currentData().toString();
  const bool fileModel = QFileInfo(modelPath).isFile();
  for (auto& [combo, kind] : modelPickers_) {
    if (!combo->property("pickFirstForFileModels").toBool() || combo->property("userChose").toBool()) continue;
    const QString part = combo->objectName().chopped(int(qstrlen("Combo")));  // the option key: "controlnet"
    const bool lacksPart =
        fileModel || (QFileInfo(modelPath).isDir() && !QFileInfo(QDir(modelPath).filePath(part)).isDir());
    if (lacksPart && combo->currentIndex() == 0 && combo->count() > 1) combo->setCurrentIndex(1);
    if (!lacksPart && combo->property("autoPicked").toBool()) combo->setCurrentIndex(0);
    combo->setProperty("autoPicked", lacksPart && combo->currentIndex() > 0);
  }
}

void GeneratePanel::setInstalledModels(const std::vector<InstalledModel>& models,
                                       const std::vector<GeneratorKind>& engines) {
  const QString current = engine_->currentData().toString();
  const QString currentName = engine_->currentData(kEngineRole).toString();
  engine_->clear();
  for (const auto& kind : engines) {
    const GeneratorOption* model = kind.primaryModel();
    if (!model) {
      engine_->addItem(q(kind.label), QString());
      engine_->setItemData(engine_->count() - 1, q(kind.name), kEngineRole);
      continue;
    }
    int offered = 0;
    for (const auto& m : models) {
      if (m.kind != model->modelKind || m.status != ModelStatus::Ok || m.path.empty()) continue;
      ++offered;
      engine_->addItem(tr("%1: %2").arg(q(kind.label), q(m.name)), q(m.path.string()));
      engine_->setItemData(engine_->count() - 1, q(kind.name), kEngineRole);
      engine_->setItemData(engine_->count() - 1, q(m.path.string()), Qt::ToolTipRole);
    }
    // Not selectable until a model is installed: say so instead of failing later.
    if (offered == 0) addDisabledItem(engine_, tr("%1 (no model installed)").arg(q(kind.label)));
  }
  int keep = 0;
  for (int i = 0; i < engine_->count(); ++i) {
    if (engine_->itemData(i).toString() == current && engine_->itemData(i, kEngineRole).toString() == currentName &&
        !currentName.isEmpty()) {
      keep = i;
    }
  }
  engine_->setCurrentIndex(keep);
  for (auto& [combo, kind] : modelPickers_) fillModels(combo, models, kind, QString());
  for (QWidget* list : loraLists_) fillLoras(list, models);
  fillModels(promptWriter_, models, ModelKind::Llava, tr("LLaVA: "));
  fillModels(ranker_, models, ModelKind::RewardModel, tr("Reward model: "));
  updateEngineRows();
}

// A row per installed LoRA: ticked ones are merged at their weight (A1111's <lora:name:weight>).
// Ticks and weights survive a rescan of the models.
void GeneratePanel::fillLoras(QWidget* list, const std::vector<InstalledModel>& models) {
  std::map<QString, double> ticked;
  for (auto* box : list->findChildren<QCheckBox*>()) {
    if (!box->isChecked()) continue;
    if (auto* spin = list->findChild<QDoubleSpinBox*>(box->objectName() + "Weight"))
      ticked[box->property("file").toString()] = spin->value();
  }
  auto* rows = static_cast<QVBoxLayout*>(list->layout());
  while (QLayoutItem* item = rows->takeAt(0)) {
    delete item->widget();  // now: settings() must not see the old rows
    delete item;
  }
  int n = 0;
  for (const auto& m : models) {
    if (m.kind != ModelKind::SdLora || m.status != ModelStatus::Ok) continue;
    const QString file = q(m.path.string());
    auto* row = new QWidget(list);
    auto* h = new QHBoxLayout(row);
    h->setContentsMargins(0, 0, 0, 0);
    auto* box = new QCheckBox(q(m.name), row);
    box->setObjectName(QStringLiteral("lora%1").arg(n));
    box->setProperty("file", file);
    box->setToolTip(q(m.detail) + "\n" + file);
    auto* slider = new QSlider(Qt::Horizontal, row);
    slider->setRange(-200, 200);  // hundredths
    auto* spin = new QDoubleSpinBox(row);
    spin->setObjectName(box->objectName() + "Weight");
    spin->setRange(-2.0, 2.0);
    spin->setSingleStep(0.05);
    spin->setDecimals(2);
    connect(slider, &QSlider::valueChanged, spin, [spin](int v) { spin->setValue(v / 100.0); });
    connect(spin, &QDoubleSpinBox::valueChanged, slider, [slider](double v) { slider->setValue(qRound(v * 100)); });
    const auto was = ticked.find(file);
    spin->setValue(was != ticked.end() ? was->second : 0.8);  // CAIG's own lora_scale
    box->setChecked(was != ticked.end());
    h->addWidget(box, 2);
    h->addWidget(slider, 2);
    h->addWidget(spin, 0);
    rows->addWidget(row);
    ++n;
  }
  if (n == 0) {
    auto* none = new QLabel(tr("None installed: put LoRA .safetensors files in the models folder's loras/, or Add "
                               "file… in the model manager"),
                            list);
    none->setWordWrap(true);
    rows->addWidget(none);
  }
}

GenerateSettings GeneratePanel::settings() const {
  GenerateSettings s;
  s.presetId = preset_->currentData().toString();
  s.variants = variants_->value();
  s.variantsPerPrompt = perPrompt_->value();
  s.seed = static_cast<std::uint64_t>(seed_->value());
  s.seedMode = seedMode_->currentData().toString();
  s.engine = currentEngine();
  s.modelDir = engine_->currentData().toString();
  if (!hasGenerator(s.engine.toStdString())) return s;
  const GeneratorKind& kind = generatorKind(s.engine.toStdString());
  const auto box = engineBoxes_.find(kind.name);
  for (const auto& o : kind.options) {
    if (o.primaryModel) {
      if (!s.modelDir.isEmpty()) s.options[o.key] = s.modelDir.toStdString();
      continue;
    }
    if (box == engineBoxes_.end()) continue;
    const QString key = q(o.key);
    switch (o.type) {
      case OptionType::Integer:
        if (auto* spin = box->second->findChild<QSpinBox*>(key + "Spin")) {
          const int m = std::max(1, o.multiple);
          s.options[o.key] = (spin->value() + m / 2) / m * m;  // typed values snap to the engine's grid
        }
        break;
      case OptionType::Number:
        if (auto* spin = box->second->findChild<QDoubleSpinBox*>(key + "Spin")) s.options[o.key] = spin->value();
        break;
      case OptionType::Choice:
        if (auto* combo = box->second->findChild<QComboBox*>(key + "Combo")) {
          s.options[o.key] = combo->currentData().toString().toStdString();
        }
        break;
      case OptionType::Text:
        if (auto* edit = box->second->findChild<QLineEdit*>(key + "Edit")) s.options[o.key] = edit->text().toStdString();
        break;
      case OptionType::Model:
        if (auto* combo = box->second->findChild<QComboBox*>(key + "Combo")) {
          const QString dir = combo->currentData().toString();
          if (!dir.isEmpty()) s.options[o.key] = dir.toStdString();
        }
        break;
      case OptionType::LoraList:
        if (auto* list = box->second->findChild<QWidget*>(key + "List")) {
          nlohmann::json loras = nlohmann::json::array();
          for (auto* check : list->findChildren<QCheckBox*>()) {
            auto* spin = list->findChild<QDoubleSpinBox*>(check->objectName() + "Weight");
            if (check->isChecked() && spin) {
              loras.push_back({{"file", check->property("file").toString().toStdString()}, {"weight", spin->value()}});
            }
          }
          s.options[o.key] = loras;
        }
        break;
      case OptionType::File: break;
    }
  }
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
