#pragma once
// The model manager: what is installed (built-in engines and model folders, see
// core/model_files/model_registry.h) with size, precision, parameters, the device each would run on, its
// status and where it was found (models folder, Hugging Face cache, ComfyUI, A1111); "Install..."
// (from the Hugging Face Hub), "Add location...", "Add folder...", "Verify" (headers, shards, index; xxHash64 of every
// weight file, with progress and cancel) and "Remove from list" (forgets a user-added folder, never deletes files).

#include <QDialog>
#include <filesystem>
#include <optional>
#include <vector>

#include "core/model_files/model_registry.h"
#include "models/device_info.h"

class QDragEnterEvent;
class QDropEvent;
class QLabel;
class QPushButton;
class QTableWidget;

namespace caig::ui {

class ModelManager : public QDialog {
  Q_OBJECT
 public:
  enum Column { Name, Kind, Size, Precision, Params, Device, Status, Source, ColumnCount };

  explicit ModelManager(const std::filesystem::path& modelsDir = ModelRegistry::defaultModelsDir(),
                        QWidget* parent = nullptr);

  void refresh();  // re-scans the registry
  // Adds `folder` to the user list (what "Add folder..." does after its file dialog). Returns
  // false and shows the reason when it cannot.
  bool addFolder(const QString& folder);
  // Verifies the selected rows (all rows when none is selected); `hash` streams xxHash64 over the
  // weight files with a cancellable progress dialog. Returns false when cancelled.
  bool verifySelected(bool hash = true);
  bool removeSelected();  // from the list only
  // A Hugging Face cache, ComfyUI or A1111 folder whose models are listed in place ("Add
  // location..."). False, with the reason shown, when it is none of them.
  bool addLocation(const QString& folder);
  // Opens Install (model_install.h) over this dialog; the list is rescanned after an install.
  void openInstall();

  const std::vector<InstalledModel>& models() const { return models_; }
  QTableWidget* table() const { return table_; }
  QLabel* emptyState() const { return empty_; }
  QString message() const;  // the last line under the table (errors, verify results)

  // "216", "1.2M", "7.1B".
  static QString formatParameters(uint64_t count);

 protected:
  // Model folders and .safetensors files dropped from a file manager are added as "Add
  // folder..." / "Add file..." add them.
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void fillRow(int row, const InstalledModel& m);
  void updateButtons();
  QString deviceFor(const InstalledModel& m) const;
  void say(const QString& text);

  std::filesystem::path modelsDir_;
  std::optional<ModelRegistry> registry_;
  std::vector<InstalledModel> models_;
  DeviceInfo device_;
  QTableWidget* table_ = nullptr;
  QLabel* empty_ = nullptr;
  QLabel* message_ = nullptr;
  QPushButton* install_ = nullptr;
  QPushButton* addLocation_ = nullptr;
  QPushButton* add_ = nullptr;
  QPushButton* addFile_ = nullptr;
  QPushButton* verify_ = nullptr;
  QPushButton* remove_ = nullptr;
};

}  // namespace caig::ui
