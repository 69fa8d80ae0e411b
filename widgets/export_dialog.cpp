#include "widgets/export_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include "core/generation/composition.h"

namespace caig::ui {

ExportDialog::ExportDialog(int variantCount, const QString& folder, QWidget* parent) : QDialog(parent) {
  setObjectName("exportDialog");
  setWindowTitle(tr("Export %n Variant(s)", nullptr, variantCount));
  auto* sizes = new QVBoxLayout;
  for (const std::string& id : caig::exportPresetIds()) {
    auto* box = new QCheckBox(QString::fromStdString(caig::adPreset(id).label), this);
    box->setObjectName(QStringLiteral("preset_") + QString::fromStdString(id));
    box->setChecked(true);
    connect(box, &QCheckBox::toggled, this, &ExportDialog::validate);
    sizes->addWidget(box);
    presets_.emplace_back(id, box);
  }
  format_ = new QComboBox(this);
  format_->setObjectName("exportFormat");
  format_->addItem(tr("PNG (lossless, metadata in iTXt)"), static_cast<int>(caig::ExportFormat::Png));
  format_->addItem(tr("JPEG (metadata in a COM segment)"), static_cast<int>(caig::ExportFormat::Jpeg));
  format_->addItem(tr("WebP (metadata as XMP)"), static_cast<int>(caig::ExportFormat::Webp));
  quality_ = new QSpinBox(this);
  quality_->setRange(50, 100);
  quality_->setValue(92);
  connect(format_, &QComboBox::currentIndexChanged, this, [this] { quality_->setEnabled(format_->currentIndex() != 0); });
  quality_->setEnabled(false);
  folder_ = new QLineEdit(folder, this);
  folder_->setObjectName("exportFolder");
  connect(folder_, &QLineEdit::textChanged, this, &ExportDialog::validate);
  auto* browse = new QPushButton(tr("Browse…"), this);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Export Folder"), folder_->text());
    if (!dir.isEmpty()) folder_->setText(dir);
  });
  auto* folderRow = new QHBoxLayout;
  folderRow->addWidget(folder_, 1);
  folderRow->addWidget(browse);

  auto* form = new QFormLayout;
  form->addRow(tr("Ad sizes"), sizes);
  form->addRow(tr("Format"), format_);
  form->addRow(tr("Quality"), quality_);
  form->addRow(tr("Folder"), folderRow);
  auto* note = new QLabel(tr("Each variant is fitted to the size without stretching; the rest of the canvas "
                             "continues its own backdrop. A manifest.csv lists every file with its prompt, "
                             "seed and predicted CTR."));
  note->setWordWrap(true);
  note->setStyleSheet("color: palette(dark);");
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  ok_ = buttons->button(QDialogButtonBox::Ok);
  ok_->setText(tr("Export"));
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(note);
  layout->addWidget(buttons);
  validate();
}

void ExportDialog::setFolder(const QString& folder) { folder_->setText(folder); }

void ExportDialog::validate() {
  bool any = false;
  for (const auto& [id, box] : presets_) any |= box->isChecked();
  ok_->setEnabled(any && !folder_->text().trimmed().isEmpty());
}

caig::ExportRequest ExportDialog::request() const {
  caig::ExportRequest r;
  for (const auto& [id, box] : presets_) {
    if (box->isChecked()) r.presetIds.push_back(id);
  }
  r.format = static_cast<caig::ExportFormat>(format_->currentData().toInt());
  r.jpegQuality = quality_->value();
  r.folder = folder_->text().trimmed().toStdString();
  return r;
}

}  // namespace caig::ui
