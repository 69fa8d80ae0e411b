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
    auto* box = new QCheckBox(QString::fromStdString(caig::adPresetText(caig::adPreset(id))), this);
    box->setObjectName(QStringLiteral("preset_") + QString::fromStdString(id));
    box->setChecked(true);
    connect(box, &QCheckBox::toggled, this, &ExportDialog::validate);
    sizes->addWidget(box);
    presets_.emplace_back(id, box);
  }
  frames_ = new QComboBox(this);
  frames_->setObjectName("exportFrames");
  frames_->addItem(tr("Drawn for each size (same prompt and seed)"), QStringLiteral("draw"));
  frames_->addItem(tr("Outpainted around the ranked image (SD1.5)"), QStringLiteral("outpaint"));
  frames_->addItem(tr("The ranked image, backdrop extended"), QStringLiteral("fit"));
  frames_->setToolTip(
      tr("Drawn: each ad size is composed for its own frame, the product placed by the same "
         "rule. Built-in backdrops take milliseconds; an SD1.5 variant takes one generation "
         "per size.\nOutpainted: an SD1.5 variant is kept whole and only the frame around it "
         "is painted, with the same prompt and seed (one generation per size); built-in "
         "variants are drawn.\nExtended: the exact pixels that were ranked, centred, the "
         "backdrop continued softly to the edges."));
  copySpace_ = new QComboBox(this);
  copySpace_->setObjectName("exportCopySpace");
  copySpace_->addItem(tr("None"), QStringLiteral("none"));
  copySpace_->addItem(tr("Top 20% (headline)"), QStringLiteral("top"));
  copySpace_->addItem(tr("Bottom 20% (call to action)"), QStringLiteral("bottom"));
  connect(frames_, &QComboBox::currentIndexChanged, this, [this] {
    const bool draw = frames_->currentData().toString() != "fit";
    copySpace_->setEnabled(draw);
    if (!draw) copySpace_->setCurrentIndex(0);
  });
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
  form->addRow(tr("Each size"), frames_);
  form->addRow(tr("Room for copy"), copySpace_);
  form->addRow(tr("Format"), format_);
  form->addRow(tr("Quality"), quality_);
  form->addRow(tr("Folder"), folderRow);
  auto* note =
      new QLabel(tr("A size of another shape than the variant is drawn again for its own frame from "
                    "the variant's prompt and seed, or outpainted around it, the product's own pixels "
                    "pasted back. A manifest.csv lists every file with its prompt, seed, predicted CTR "
                    "and how it was framed."));
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

caig::FrameMode ExportDialog::frameMode() const {
  return caig::parseFrameMode(frames_->currentData().toString().toStdString());
}

caig::CopySpace ExportDialog::copySpace() const {
  return caig::parseCopySpace(copySpace_->currentData().toString().toStdString());
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
