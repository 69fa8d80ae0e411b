#include "widgets/model_manager.h"

#include <QApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMimeData>
#include <QProgressDialog>
#include <QPushButton>
#include <QTableWidget>
#include <QUrl>
#include <QVBoxLayout>
#include <algorithm>
#include <set>

#include "widgets/model_install.h"

namespace caig::ui {

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QString count(int n, const char* one, const char* many) {
  return QString::number(n) + " " + QString::fromUtf8(n == 1 ? one : many);
}

QString emptyStateText(const std::filesystem::path& modelsDir) {
  return QStringLiteral(
             "<b>No model installed: using the built-in engines.</b><br>"
             "How to add one:<ul>"
             "<li><b>Install...</b> downloads SD1.5, ControlNet, TAESD, LCM-LoRA or CAIG's models from the Hugging "
             "Face Hub; <b>Add location...</b> uses what diffusers, ComfyUI or A1111 already downloaded.</li>"
             "<li><b>ISNet cutout</b>: run <code>bash packaging/fetch-isnet.sh</code>; it imports the weights "
             "into <code>%1/isnet</code> (GrabCut is used until then).</li>"
             "<li><b>Other models</b> (SD1.5 pipeline, ControlNet, LLaVA, reward model, LoRA adapter): put the "
             "Hugging Face folder (<code>config.json</code> or <code>model_index.json</code> with "
             "<code>.safetensors</code> weights; pickle files <code>.bin/.ckpt/.pt</code> are refused) into "
             "<code>%1</code>, or click <i>Add folder...</i> to use it where it is.</li></ul>")
      .arg(QString::fromStdString(modelsDir.string()).toHtmlEscaped());
}

}  // namespace

QString ModelManager::formatParameters(uint64_t count) {
  if (count == 0) return QStringLiteral("-");
  if (count < 1000) return QString::number(count);
  const double v = static_cast<double>(count);
  if (count < 1'000'000) return QString::number(v / 1e3, 'f', 1) + "K";
  if (count < 1'000'000'000) return QString::number(v / 1e6, 'f', 1) + "M";
  return QString::number(v / 1e9, 'f', 1) + "B";
}

ModelManager::ModelManager(const std::filesystem::path& modelsDir, QWidget* parent)
    : QDialog(parent), modelsDir_(modelsDir), device_(queryDeviceInfo()) {
  setWindowTitle(tr("Models"));
  setAcceptDrops(true);
  setObjectName(QStringLiteral("modelManager"));
  resize(1180, 420);

  auto* layout = new QVBoxLayout(this);
  auto* where = new QLabel(tr("Models folder: %1").arg(qs(modelsDir_.string())), this);
  where->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(where);

  empty_ = new QLabel(emptyStateText(modelsDir_), this);
  empty_->setObjectName(QStringLiteral("modelManagerEmpty"));
  empty_->setWordWrap(true);
  empty_->setTextFormat(Qt::RichText);
  empty_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(empty_);

  table_ = new QTableWidget(0, ColumnCount, this);
  table_->setHorizontalHeaderLabels(
      {tr("Name"), tr("Kind"), tr("Size"), tr("Precision"), tr("Params"), tr("Device"), tr("Status"), tr("Source")});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  layout->addWidget(table_, 1);

  message_ = new QLabel(this);
  message_->setWordWrap(true);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(message_);

  auto* buttons = new QHBoxLayout;
  install_ = new QPushButton(tr("Install..."), this);
  install_->setObjectName("installModels");
  install_->setToolTip(tr("Download models from the Hugging Face Hub into its cache"));
  addLocation_ = new QPushButton(tr("Add location..."), this);
  addLocation_->setObjectName("addModelLocation");
  addLocation_->setToolTip(tr("A Hugging Face cache, ComfyUI or A1111 folder: its models are used where they are"));
  add_ = new QPushButton(tr("Add folder..."), this);
  addFile_ = new QPushButton(tr("Add file..."), this);
  addFile_->setObjectName("addModelFile");
  addFile_->setToolTip(tr("A single-file SD1.5 checkpoint (.safetensors, as A1111, ComfyUI and Civitai have them)"));
  verify_ = new QPushButton(tr("Verify"), this);
  verify_->setToolTip(tr("Re-read every weight header and hash the weight files (xxHash64)"));
  remove_ = new QPushButton(tr("Remove from list"), this);
  remove_->setToolTip(tr("Forget a folder you added; its files stay where they are"));
  auto* close = new QPushButton(tr("Close"), this);
  buttons->addWidget(install_);
  buttons->addWidget(addLocation_);
  buttons->addWidget(add_);
  buttons->addWidget(addFile_);
  buttons->addWidget(verify_);
  buttons->addWidget(remove_);
  buttons->addStretch(1);
  buttons->addWidget(close);
  layout->addLayout(buttons);

  connect(add_, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a model folder"), QDir::homePath());
    if (!dir.isEmpty()) addFolder(dir);
  });
  connect(addFile_, &QPushButton::clicked, this, [this] {
    const QString file = QFileDialog::getOpenFileName(this, tr("Add a checkpoint file"), QDir::homePath(),
                                                      tr("Safetensors checkpoints (*.safetensors)"));
    if (!file.isEmpty()) addFolder(file);
  });
  connect(install_, &QPushButton::clicked, this, [this] { openInstall(); });
  connect(addLocation_, &QPushButton::clicked, this, [this] {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("A Hugging Face cache, ComfyUI or A1111 folder"), QDir::homePath());
    if (!dir.isEmpty()) addLocation(dir);
  });
  connect(verify_, &QPushButton::clicked, this, [this] { verifySelected(true); });
  connect(remove_, &QPushButton::clicked, this, [this] { removeSelected(); });
  connect(close, &QPushButton::clicked, this, &QDialog::accept);
  connect(table_, &QTableWidget::itemSelectionChanged, this, [this] { updateButtons(); });

  try {
    registry_.emplace(modelsDir_);
  } catch (const std::exception& e) {
    say(tr("Your folder list could not be read (%1); only the built-in engines are shown.").arg(qs(e.what())));
  }
  refresh();
}

QString ModelManager::message() const { return message_->text(); }

bool ModelManager::addLocation(const QString& folder) {
  if (!registry_) return false;
  try {
    const auto l = registry_->addLocation(folder.toStdString());
    refresh();
    say(tr("Added %1 %2: its models are listed where they are").arg(qs(locationKindName(l.kind)), qs(l.root.string())));
    return true;
  } catch (const std::exception& e) {
    say(qs(e.what()));
    return false;
  }
}

void ModelManager::openInstall() {
  connect(ModelInstallDialog::openOver(this), &ModelInstallDialog::installed, this, [this] { refresh(); });
}

void ModelManager::say(const QString& text) { message_->setText(text); }

QString ModelManager::deviceFor(const InstalledModel& m) const {
  if (!m.neural) return QStringLiteral("CPU");
  return device_.cuda ? qs(device_.name) + " (" + qs(device_.device) + ")" : QStringLiteral("CPU");
}

void ModelManager::refresh() {
  if (registry_) {
    models_ = registry_->scan();
  } else {
    models_ = ModelRegistry(modelsDir_ / ".unreadable-user-list").scan();  // built-ins only
  }
  table_->setRowCount(static_cast<int>(models_.size()));
  bool anyInstalled = false;
  for (size_t i = 0; i < models_.size(); ++i) {
    fillRow(static_cast<int>(i), models_[i]);
    anyInstalled = anyInstalled || models_[i].kind != ModelKind::BuiltIn;
  }
  table_->resizeColumnsToContents();
  // Long kinds (a LoRA's module counts) stay readable in the tooltip; Source and Status stay in view.
  table_->setColumnWidth(Kind, std::min(table_->columnWidth(Kind), 300));
  table_->setColumnWidth(Name, std::min(table_->columnWidth(Name), 300));
  empty_->setVisible(!anyInstalled);
  updateButtons();
}

void ModelManager::fillRow(int row, const InstalledModel& m) {
  const bool builtin = m.kind == ModelKind::BuiltIn;
  const QString cells[ColumnCount] = {
      qs(m.name),
      qs(modelKindName(m.kind)) + (m.detail.empty() || builtin ? QString() : " (" + qs(m.detail) + ")") +
          (m.metadataSummary().empty() ? QString() : " - " + qs(m.metadataSummary())),
      builtin ? QStringLiteral("-") : qs(formatBytes(m.bytesOnDisk)),
      builtin ? QStringLiteral("-") : qs(m.precision()),
      formatParameters(m.parameters),
      deviceFor(m),
      m.status == ModelStatus::Ok ? QStringLiteral("ok") : qs(modelStatusName(m.status)) + ": " + qs(m.reason),
      builtin             ? tr("built in")
      : !m.source.empty() ? qs(m.source)
      : m.userAdded       ? tr("added by you")
                          : tr("models folder")};
  QString tooltip = builtin ? qs(m.detail) + " - " + qs(m.reason) : qs(m.path.string());
  if (!builtin && m.status != ModelStatus::Ok) tooltip += "\n" + qs(m.reason);
  // What the file says about itself (title, base model, LoRA rank): in the tooltip, and after the
  // kind so that two checkpoints of the same kind can be told apart.
  const std::string about = m.metadataSummary();
  if (!about.empty()) tooltip += "\n" + qs(about);
  for (int c = 0; c < ColumnCount; ++c) {
    auto* item = new QTableWidgetItem(cells[c]);
    item->setToolTip(tooltip);
    if (m.status == ModelStatus::MissingFiles) item->setForeground(QColor(200, 120, 0));
    if (m.status == ModelStatus::Invalid) item->setForeground(QColor(0xe5, 0x53, 0x4b));
    if (c == Size || c == Params) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    table_->setItem(row, c, item);
  }
}

void ModelManager::updateButtons() {
  bool removable = false;
  for (const auto& index : table_->selectionModel()->selectedRows()) {
    removable = removable || models_[static_cast<size_t>(index.row())].userAdded;
  }
  remove_->setEnabled(removable && registry_.has_value());
  add_->setEnabled(registry_.has_value());
  addLocation_->setEnabled(registry_.has_value());
  addFile_->setEnabled(registry_.has_value());
}

void ModelManager::dragEnterEvent(QDragEnterEvent* event) {
  if (!registry_ || !event->mimeData()->hasUrls()) return;
  for (const QUrl& url : event->mimeData()->urls()) {
    if (url.isLocalFile()) {
      event->acceptProposedAction();
      return;
    }
  }
}

void ModelManager::dropEvent(QDropEvent* event) {
  int added = 0;
  for (const QUrl& url : event->mimeData()->urls()) {
    if (url.isLocalFile()) added += addFolder(url.toLocalFile()) ? 1 : 0;
  }
  if (added > 0) event->acceptProposedAction();
}

bool ModelManager::addFolder(const QString& folder) {
  if (!registry_) return false;
  try {
    if (!registry_->addFolder(folder.toStdString())) {
      say(tr("%1 is already listed.").arg(folder));
      return false;
    }
  } catch (const std::exception& e) {
    say(tr("Cannot add %1: %2").arg(folder, qs(e.what())));
    return false;
  }
  refresh();
  const InstalledModel& added = models_.back();
  say(tr("Added %1: %2").arg(qs(added.name), added.status == ModelStatus::Ok
                                                    ? QString::fromUtf8(modelKindName(added.kind))
                                                    : qs(modelStatusName(added.status)) + ", " + qs(added.reason)));
  return true;
}

bool ModelManager::removeSelected() {
  if (!registry_) return false;
  std::vector<std::filesystem::path> folders;
  for (const auto& index : table_->selectionModel()->selectedRows()) {
    const InstalledModel& m = models_[static_cast<size_t>(index.row())];
    if (m.userAdded) folders.push_back(m.path);
  }
  if (folders.empty()) return false;
  try {
    for (const auto& f : folders) registry_->removeFolder(f);
  } catch (const std::exception& e) {
    say(tr("Cannot save the folder list: %1").arg(qs(e.what())));
    return false;
  }
  refresh();
  say(tr("Removed %1 from the list; no file was deleted.").arg(count(static_cast<int>(folders.size()), "folder", "folders")));
  return true;
}

bool ModelManager::verifySelected(bool hash) {
  std::set<int> rows;
  for (const auto& index : table_->selectionModel()->selectedRows()) rows.insert(index.row());
  if (rows.empty()) {
    for (int r = 0; r < table_->rowCount(); ++r) rows.insert(r);
  }
  QProgressDialog progress(tr("Verifying models..."), tr("Cancel"), 0, 1000, this);
  progress.setWindowModality(Qt::WindowModal);
  progress.setMinimumDuration(300);
  int checked = 0, bad = 0;
  QString lastHash;
  for (int row : rows) {
    InstalledModel& m = models_[static_cast<size_t>(row)];
    if (m.kind == ModelKind::BuiltIn) continue;
    progress.setLabelText(tr("Verifying %1...").arg(qs(m.name)));
    VerifyOptions options;
    options.hash = hash;
    options.progress = [&progress](uint64_t done, uint64_t total, const std::filesystem::path&) {
      progress.setValue(total ? static_cast<int>(done * 1000 / total) : 1000);
      QApplication::processEvents();
      return !progress.wasCanceled();
    };
    const VerifyResult result = ModelRegistry::verify(m, options);
    if (result.cancelled) {
      say(tr("Verification cancelled (%1 of %2 checked).").arg(checked).arg(rows.size()));
      return false;
    }
    m = result.model;
    fillRow(row, m);
    if (!result.hashes.empty()) {
      QStringList hashes;
      for (const auto& h : result.hashes) hashes << qs(h.file.filename().string()) + " " + qs(h.hex());
      table_->item(row, Status)->setToolTip(qs(m.path.string()) + "\nxxHash64:\n" + hashes.join('\n'));
      lastHash = hashes.join(", ");
    }
    ++checked;
    bad += m.status != ModelStatus::Ok;
  }
  progress.setValue(1000);
  QString text = tr("%1 verified, %2 with problems.").arg(count(checked, "model", "models")).arg(bad);
  if (checked == 1 && !lastHash.isEmpty()) text += " xxHash64: " + lastHash;
  say(text);
  return true;
}

}  // namespace caig::ui
