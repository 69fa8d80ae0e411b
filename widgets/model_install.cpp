#include "widgets/model_install.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMetaObject>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <filesystem>
#include <thread>

#include "core/base/user_message.h"
#include "core/model_files/hf_cache.h"
#include "core/model_files/model_installer.h"

namespace fs = std::filesystem;

namespace caig::ui {
namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}
QString bytes(uint64_t n) {
  return qs(hf::formatBytes(n));
}

enum Col { Title, Repo, Size, Licence, State, ColCount };

}  // namespace

// What the worker and the GUI share: the cancel flag outlives whichever ends first.
struct InstallRunner::Shared {
  std::atomic<bool> cancel{false};
  std::thread worker;
};

InstallRunner::InstallRunner(QObject* parent) : QObject(parent) {}

InstallRunner::~InstallRunner() {
  if (shared_) {
    shared_->cancel = true;
    if (shared_->worker.joinable()) shared_->worker.join();
  }
}

bool InstallRunner::start(const std::vector<CatalogueModel>& models, const std::vector<std::string>& include) {
  if (running_) return false;
  if (shared_ && shared_->worker.joinable()) shared_->worker.join();
  shared_ = std::make_shared<Shared>();
  running_ = true;
  results_.clear();
  QPointer<InstallRunner> self(this);
  auto shared = shared_;
  shared_->worker = std::thread([self, shared, models, include] {
    bool ok = false;
    QString message;
    std::vector<hf::InstallResult> results;
    try {
      const hf::HubClient client;
      results = installModels(client, models, include, [&](const ModelInstallProgress& p) {
        const int permille = p.file.totalBytes ? int(1000.0 * double(p.file.doneBytes) / double(p.file.totalBytes)) : 0;
        const QString text = qs(describeInstallProgress(p));
        QMetaObject::invokeMethod(
            self.data(),
            [self, permille, text] {
              if (self) Q_EMIT self->progress(permille, text);
            },
            Qt::QueuedConnection);
        return !shared->cancel.load();
      });
      ok = true;
      uint64_t fetched = 0;
      for (const auto& r : results) fetched += r.downloadedBytes;
      message = QObject::tr("Installed %1 (%2 downloaded) into the Hugging Face cache")
                    .arg(models.size() == 1 ? qs(models.front().title) : QObject::tr("%1 models").arg(models.size()))
                    .arg(bytes(fetched));
    } catch (const std::exception& e) {
      message = qs(userMessage(e));
    }
    QMetaObject::invokeMethod(
        self.data(),
        [self, ok, message, results] {
          if (!self) return;
          self->running_ = false;
          self->results_ = results;
          Q_EMIT self->finished(ok, message);
        },
        Qt::QueuedConnection);
  });
  return true;
}

void InstallRunner::cancel() {
  if (shared_) shared_->cancel = true;
}

ModelInstallDialog::ModelInstallDialog(QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Install models"));
  setObjectName(QStringLiteral("modelInstallDialog"));
  resize(900, 480);
  try {
    catalogue_ = ModelCatalogue::load();
  } catch (const std::exception& e) {
    status_ = new QLabel(tr("The model catalogue could not be read: %1").arg(qs(e.what())), this);
  }
  auto* layout = new QVBoxLayout(this);
  auto* intro = new QLabel(tr("Models are downloaded from the Hugging Face Hub into its cache (%1), where diffusers "
                              "and the studio share them. Only .safetensors weights are fetched.")
                               .arg(qs(hf::defaultCacheDir().string())),
                           this);
  intro->setWordWrap(true);
  layout->addWidget(intro);

  list_ = new QTreeWidget(this);
  list_->setObjectName(QStringLiteral("catalogueList"));
  list_->setColumnCount(ColCount);
  list_->setHeaderLabels({tr("Model"), tr("Repository"), tr("Size"), tr("Licence"), tr("")});
  list_->setRootIsDecorated(false);
  list_->header()->setStretchLastSection(true);
  for (const auto& m : catalogue_.models()) {
    auto* item = new QTreeWidgetItem(list_);
    item->setText(Title, qs(m.title));
    item->setText(Repo, qs(m.source == "hf" ? m.repo : "npm " + m.package));
    item->setText(Size, "~" + bytes(m.approxBytes));
    item->setText(Licence, qs(m.licence));
    item->setToolTip(Title, qs(m.summary));
    item->setData(Title, Qt::UserRole, qs(m.id));
    item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
    item->setCheckState(Title, Qt::Unchecked);
    if (m.source != "hf") {
      item->setDisabled(true);
      item->setText(State, tr("installed by packaging/fetch-isnet.sh"));
    }
  }
  for (int c = 0; c < ColCount; ++c) list_->resizeColumnToContents(c);
  layout->addWidget(list_, 1);

  auto* other = new QHBoxLayout;
  other->addWidget(new QLabel(tr("Other repository:"), this));
  repo_ = new QLineEdit(this);
  repo_->setObjectName(QStringLiteral("repoEdit"));
  repo_->setPlaceholderText(tr("org/name, e.g. runwayml/stable-diffusion-inpainting"));
  other->addWidget(repo_, 2);
  include_ = new QLineEdit(this);
  include_->setObjectName(QStringLiteral("includeEdit"));
  include_->setPlaceholderText(tr("files (optional): *.json unet/*"));
  other->addWidget(include_, 1);
  layout->addLayout(other);

  summary_ = new QLabel(this);
  summary_->setObjectName(QStringLiteral("installSummary"));
  layout->addWidget(summary_);
  bar_ = new QProgressBar(this);
  bar_->setRange(0, 1000);
  bar_->setVisible(false);
  layout->addWidget(bar_);
  if (!status_) status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("installStatus"));
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(status_);

  auto* buttons = new QHBoxLayout;
  install_ = new QPushButton(tr("Install"), this);
  install_->setObjectName(QStringLiteral("installButton"));
  cancel_ = new QPushButton(tr("Cancel download"), this);
  cancel_->setObjectName(QStringLiteral("cancelInstallButton"));
  cancel_->setEnabled(false);
  auto* close = new QPushButton(tr("Close"), this);
  buttons->addStretch(1);
  buttons->addWidget(install_);
  buttons->addWidget(cancel_);
  buttons->addWidget(close);
  layout->addLayout(buttons);

  runner_ = new InstallRunner(this);
  connect(install_, &QPushButton::clicked, this, [this] { install(); });
  connect(cancel_, &QPushButton::clicked, runner_, &InstallRunner::cancel);
  connect(close, &QPushButton::clicked, this, [this] {
    runner_->cancel();
    accept();
  });
  connect(list_, &QTreeWidget::itemChanged, this, [this] { updateSummary(); });
  connect(repo_, &QLineEdit::textChanged, this, [this] { updateSummary(); });
  connect(runner_, &InstallRunner::progress, this, [this](int permille, const QString& text) {
    bar_->setValue(permille);
    status_->setText(text);
  });
  connect(runner_, &InstallRunner::finished, this, [this](bool ok, const QString& message) {
    bar_->setVisible(ok);
    if (ok) bar_->setValue(1000);
    status_->setText(message);
    install_->setEnabled(true);
    cancel_->setEnabled(false);
    refreshInstalled();
    if (ok) Q_EMIT installed();
  });
  refreshInstalled();
  updateSummary();
}

ModelInstallDialog* ModelInstallDialog::openOver(QWidget* parent) {
  auto* dialog = new ModelInstallDialog(parent);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->open();
  return dialog;
}

QString ModelInstallDialog::message() const {
  return status_->text();
}

void ModelInstallDialog::refreshInstalled() {
  for (int i = 0; i < list_->topLevelItemCount(); ++i) {
    auto* item = list_->topLevelItem(i);
    const auto* m = catalogue_.find(item->data(Title, Qt::UserRole).toString().toStdString());
    if (!m || m->source != "hf") continue;
    item->setText(State, hf::cachedSnapshot(hf::defaultCacheDir(), m->repo, m->revision) ? tr("installed") : QString());
  }
}

void ModelInstallDialog::selectModels(const QStringList& ids) {
  std::vector<std::string> wanted;
  for (const QString& id : ids) {
    if (const auto* p = catalogue_.findPack(id.toStdString())) {
      wanted.insert(wanted.end(), p->models.begin(), p->models.end());
    } else {
      wanted.push_back(id.toStdString());
    }
  }
  for (int i = 0; i < list_->topLevelItemCount(); ++i) {
    auto* item = list_->topLevelItem(i);
    const std::string id = item->data(Title, Qt::UserRole).toString().toStdString();
    const bool on = std::find(wanted.begin(), wanted.end(), id) != wanted.end() && !item->isDisabled();
    item->setCheckState(Title, on ? Qt::Checked : Qt::Unchecked);
  }
  updateSummary();
}

void ModelInstallDialog::setRepository(const QString& repoId, const QString& include) {
  repo_->setText(repoId);
  include_->setText(include);
}

std::vector<CatalogueModel> ModelInstallDialog::chosen() const {
  std::vector<CatalogueModel> out;
  for (int i = 0; i < list_->topLevelItemCount(); ++i) {
    const auto* item = list_->topLevelItem(i);
    if (item->checkState(Title) != Qt::Checked) continue;
    if (const auto* m = catalogue_.find(item->data(Title, Qt::UserRole).toString().toStdString())) out.push_back(*m);
  }
  return out;
}

void ModelInstallDialog::updateSummary() {
  uint64_t total = 0;
  const auto models = chosen();
  for (const auto& m : models) total += m.approxBytes;
  QString text = models.empty() ? tr("Tick the models to install")
                                : tr("%n model(s), about %1", "", int(models.size())).arg(bytes(total));
  if (!repo_->text().trimmed().isEmpty()) text += tr(" + %1").arg(repo_->text().trimmed());
  text += tr("; %1 free on the cache's disk").arg(bytes(hf::freeBytes(hf::defaultCacheDir())));
  summary_->setText(text);
}

bool ModelInstallDialog::install() {
  if (runner_->running()) return false;
  std::vector<CatalogueModel> models = chosen();
  std::vector<std::string> include;
  const QString repo = repo_->text().trimmed();
  if (!repo.isEmpty()) {
    try {
      const auto extra = catalogue_.resolve(repo.toStdString());
      models.insert(models.end(), extra.begin(), extra.end());
    } catch (const std::exception& e) {
      status_->setText(qs(e.what()));
      return false;
    }
    for (const QString& p : include_->text().split(' ', Qt::SkipEmptyParts)) include.push_back(p.toStdString());
    if (!include.empty() && models.size() > 1) {
      status_->setText(tr("File patterns apply to one repository: untick the catalogue models, or clear the patterns"));
      return false;
    }
  }
  if (models.empty()) {
    status_->setText(tr("Tick a model or give a repository first"));
    return false;
  }
  bar_->setValue(0);
  bar_->setVisible(true);
  status_->setText(tr("Asking the Hub about %1...").arg(qs(models.front().repo)));
  install_->setEnabled(false);
  cancel_->setEnabled(true);
  return runner_->start(models, include);
}

}  // namespace caig::ui
