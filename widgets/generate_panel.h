#pragma once
// The Generate dock: engine, ad size, prompts and variants, seed and its mode, the engine's own
// settings, who writes the prompts (built-in planner or an installed LLaVA prompt model) and who
// ranks the variants (built-in ranker or an installed LLaVA reward model). It only collects
// settings; the main window queues the jobs. The engines and their settings come from
// core/generation/generator_registry.h: an engine with a model (SD1.5) is offered once per usable
// installed model, and its options become widgets (an Integer option "steps" is the QSpinBox
// "stepsSpin"), so a new engine appears here without any code in widgets/.

#include <QWidget>
#include <cstdint>
#include <map>
#include <vector>

#include "core/generation/generator_registry.h"
#include "core/model_files/model_registry.h"

class QComboBox;
class QGroupBox;
class QPushButton;
class QSpinBox;

namespace caig::ui {

struct GenerateSettings {
  QString presetId;
  int variants = 4;           // prompts to render
  int variantsPerPrompt = 1;  // variants of each prompt (seeds by the seed mode)
  std::uint64_t seed = 1;
  QString seedMode = QStringLiteral("increment");  // fixed | increment | random
  QString engine = QStringLiteral("builtin");       // a registered GeneratorKind
  QString modelDir;  // the engine's main model folder (engines that have one)
  // The engine's options as set in the dock (key -> value), the main model included.
  caig::GeneratorSettings options = nlohmann::json::object();
};

class GeneratePanel : public QWidget {
  Q_OBJECT
 public:
  explicit GeneratePanel(QWidget* parent = nullptr);
  GenerateSettings settings() const;
  void setRunning(bool running);
  // After a run: a "random" seed draws a new one, "increment" adds one, "fixed" keeps it.
  void advanceSeed();

  // Offers the usable installed models (status ok): one entry per model for engines that need one
  // (of `engines`, the ones this build holds), the models the engines' options pick (ControlNets),
  // LLaVA prompt models, reward models. Built-in choices stay first and selected unless the current
  // choice is still installed.
  void setInstalledModels(const std::vector<InstalledModel>& models,
                          const std::vector<GeneratorKind>& engines = generatorKinds());

  // Empty: the built-in engine; else the model folder.
  // Picks the engine entry of the installed model at `path` (what the first-run setup installed);
  // false when the dock does not offer it.
  bool selectModel(const QString& path);
  QString promptModelDir() const;
  QString rankerModelDir() const;
  int promptCount() const;

  QComboBox* engineCombo() const { return engine_; }
  QComboBox* promptWriterCombo() const { return promptWriter_; }
  QComboBox* rankerCombo() const { return ranker_; }

 Q_SIGNALS:
  void generateRequested(const caig::ui::GenerateSettings& settings);
  void cancelRequested();
  void writePromptsRequested();
  void rankerChanged();

 private:
  void updateEngineRows();
  QString currentEngine() const;
  // One group of widgets per engine, built from its options ("<engine>Settings").
  QGroupBox* buildSettings(const GeneratorKind& kind);

  QComboBox* engine_;
  QComboBox* preset_;
  QSpinBox* variants_;
  QSpinBox* perPrompt_;
  QSpinBox* seed_;
  QComboBox* seedMode_;
  std::map<std::string, QGroupBox*> engineBoxes_;  // by engine name; only engines with options in the dock
  std::vector<std::pair<QComboBox*, ModelKind>> modelPickers_;  // the engines' Model options
  // The engines' LoRA lists: one row per installed SD LoRA (checkbox, weight slider and spin box).
  std::vector<QWidget*> loraLists_;
  void fillLoras(QWidget* list, const std::vector<InstalledModel>& models);
  QComboBox* promptWriter_;
  QSpinBox* promptCount_;
  QPushButton* writePrompts_;
  QComboBox* ranker_;
  QPushButton* generate_;
  QPushButton* cancel_;
};

}  // namespace caig::ui
