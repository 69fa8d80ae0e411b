#pragma once
// Export: which ad sizes, composed how (each drawn for its frame, with room for copy, or the
// stored image fitted), which format and quality, and where. It collects the choice; the
// window turns it into an export job on the queue (core/project/export.h does the work).

#include <QDialog>
#include <vector>

#include "core/generation/ad_frames.h"
#include "core/project/export.h"

class QCheckBox;
class QComboBox;
class QLineEdit;
class QSpinBox;

namespace caig::ui {

class ExportDialog : public QDialog {
  Q_OBJECT
 public:
  ExportDialog(int variantCount, const QString& folder, QWidget* parent = nullptr);
  // Presets, format, quality and folder; the items are the caller's.
  caig::ExportRequest request() const;
  caig::FrameMode frameMode() const;
  caig::CopySpace copySpace() const;
  void setFolder(const QString& folder);

 private:
  void validate();

  std::vector<std::pair<std::string, QCheckBox*>> presets_;
  QComboBox* frames_;
  QComboBox* copySpace_;
  QComboBox* format_;
  QSpinBox* quality_;
  QLineEdit* folder_;
  QPushButton* ok_ = nullptr;
};

}  // namespace caig::ui
