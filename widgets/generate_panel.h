#pragma once
// The Generate dock: engine, ad size, number of variants and seed, and the Generate / Cancel
// buttons. It only collects settings; the main window runs the job.

#include <QWidget>
#include <cstdint>

class QComboBox;
class QPushButton;
class QSpinBox;

namespace caig::ui {

struct GenerateSettings {
  QString presetId;
  int variants = 4;
  std::uint64_t seed = 1;
};

class GeneratePanel : public QWidget {
  Q_OBJECT
 public:
  explicit GeneratePanel(QWidget* parent = nullptr);
  GenerateSettings settings() const;
  void setRunning(bool running);
  // After a run: a "random" seed draws a new one, "increment" adds one, "fixed" keeps it.
  void advanceSeed();

 Q_SIGNALS:
  void generateRequested(const caig::ui::GenerateSettings& settings);
  void cancelRequested();

 private:
  QComboBox* engine_;
  QComboBox* preset_;
  QSpinBox* variants_;
  QSpinBox* seed_;
  QComboBox* seedMode_;
  QPushButton* generate_;
  QPushButton* cancel_;
};

}  // namespace caig::ui
