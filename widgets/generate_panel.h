#pragma once
// The Generate dock: engine (built-in backdrops, or Stable Diffusion 1.5 + ControlNet when a
// pipeline folder is installed), ad size, prompts and variants, seed and its mode, the SD
// sampler settings, who writes the prompts (built-in planner or an installed LLaVA prompt
// model) and who ranks the variants (built-in ranker or an installed LLaVA reward model). It
// only collects settings; the main window queues the jobs. Neural entries appear only for the
// models core/model_registry.h finds installed and usable.

#include <QWidget>
#include <cstdint>
#include <vector>

#include "core/model_registry.h"

class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace caig::ui {

struct GenerateSettings {
  QString presetId;
  int variants = 4;  // built-in: variants; SD: prompts (each gives variantsPerPrompt variants)
  std::uint64_t seed = 1;
  QString seedMode = QStringLiteral("increment");  // fixed | increment | random
  QString engine = QStringLiteral("builtin");       // builtin | sd15
  // SD1.5 only.
  QString sdModelDir;
  QString controlnetDir;  // empty: the pipeline folder's own controlnet/
  QString sampler = QStringLiteral("euler_a");
  int steps = 30;
  double guidance = 7.5;
  double controlnetScale = 1.0;
  int clipSkip = 1;  // A1111's: 2 = the penultimate CLIP layer
  int variantsPerPrompt = 1;
  int workingLongSide = 512;  // the generator's size (long side, multiple of 8); SD1.5 was trained at 512
};

class GeneratePanel : public QWidget {
  Q_OBJECT
 public:
  explicit GeneratePanel(QWidget* parent = nullptr);
  GenerateSettings settings() const;
  void setRunning(bool running);
  // After a run: a "random" seed draws a new one, "increment" adds one, "fixed" keeps it.
  void advanceSeed();

  // Offers the usable installed models (status ok): SD pipelines (when `sdAvailable`, i.e. the
  // studio was built with the SD generator), ControlNets, LLaVA prompt models, reward models.
  // Built-in choices stay first and selected unless the current choice is still installed.
  void setInstalledModels(const std::vector<InstalledModel>& models, bool sdAvailable);

  // Empty: the built-in engine; else the model folder.
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

  QComboBox* engine_;
  QComboBox* preset_;
  QSpinBox* variants_;
  QSpinBox* seed_;
  QComboBox* seedMode_;
  QGroupBox* sdBox_;
  QComboBox* controlnet_;
  QComboBox* sampler_;
  QSpinBox* steps_;
  QDoubleSpinBox* guidance_;
  QDoubleSpinBox* controlnetScale_;
  QSpinBox* clipSkip_;
  QSpinBox* perPrompt_;
  QSpinBox* workingSize_;
  QComboBox* promptWriter_;
  QSpinBox* promptCount_;
  QPushButton* writePrompts_;
  QComboBox* ranker_;
  QPushButton* generate_;
  QPushButton* cancel_;
};

}  // namespace caig::ui
