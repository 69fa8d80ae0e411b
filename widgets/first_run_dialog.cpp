#include "widgets/first_run_dialog.h"

#include <QButtonGroup>
#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QVBoxLayout>

#include "core/model_files/hf_cache.h"
#include "core/model_files/hf_hub.h"
#include "core/model_files/model_registry.h"
#include "widgets/model_install.h"

namespace caig::ui {
namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

// The SD1.5 model to start with: the pipeline of the pack just installed, else the first usable one listed.
QString firstSdModel(const std::filesystem::path& modelsDir, const std::string& preferRepo) {
  try {
    return qs(ModelRegistry(modelsDir).findUsable(ModelKind::StableDiffusion, preferRepo).string());
  } catch (const std::exception&) {  // an unreadable model list: the built-in engine stays
    return {};
  }
}

}  // namespace

FirstRunDialog::FirstRunDialog(const std::filesystem::path& modelsDir, QWidget* parent)
    : QDialog(parent), modelsDir_(modelsDir) {
  setWindowTitle(tr("Welcome to CAIG Studio"));
  setObjectName(QStringLiteral("firstRunDialog"));
  resize(720, 440);
  try {
    catalogue_ = ModelCatalogue::load();
  } catch (const std::exception&) {  // the install choices are then disabled
  }
  const auto packBytes = [this](const char* id) {
    uint64_t total = 0;
    if (const auto* p = catalogue_.findPack(id))
      for (const auto& m : p->models) total += catalogue_.find(m)->approxBytes;
    return total;
  };
  auto* layout = new QVBoxLayout(this);
  auto* title = new QLabel(tr("<b>What do you want to generate backgrounds with?</b>"), this);
  layout->addWidget(title);
  group_ = new QButtonGroup(this);
  const auto option = [&](Choice c, const QString& text, const QString& detail, bool enabled) {
    auto* b = new QRadioButton(text, this);
    b->setObjectName(QStringLiteral("firstRunChoice%1").arg(int(c)));
    b->setEnabled(enabled);
    group_->addButton(b, int(c));
    layout->addWidget(b);
    auto* d = new QLabel(detail, this);
    d->setWordWrap(true);
    d->setContentsMargins(24, 0, 0, 6);
    layout->addWidget(d);
  };
  const bool haveCatalogue = catalogue_.findPack("sd15-studio") && catalogue_.findPack("caig");
  option(BuiltIn, tr("The built-in engines only"),
         tr("Procedural studio backdrops, the template prompt writer and the built-in ranker. Nothing to download."),
         true);
  option(Sd15, tr("Install the SD1.5 generator (about %1)").arg(qs(hf::formatBytes(packBytes("sd15-studio")))),
         tr("Stable Diffusion 1.5, ControlNet canny, TAESD previews and LCM-LoRA for the Fast quality, from the "
            "Hugging Face Hub."),
         haveCatalogue);
  option(Caig, tr("Install CAIG's models (about %1)").arg(qs(hf::formatBytes(packBytes("caig")))),
         tr("CAIG's photo-real generator, its LLaVA-7B prompt model and reward model. The 7B models want about 32 GB "
            "of memory."),
         haveCatalogue);
  option(OnDisk, tr("Use models I already have"),
         tr("Stable Diffusion files from diffusers (the Hugging Face cache), ComfyUI or A1111, used where they are."),
         true);
  group_->button(BuiltIn)->setChecked(true);

  auto* disk = new QHBoxLayout;
  found_ = new QLabel(this);
  found_->setObjectName(QStringLiteral("firstRunFound"));
  found_->setWordWrap(true);
  disk->addWidget(found_, 1);
  addFolder_ = new QPushButton(tr("Add folder..."), this);
  addFolder_->setObjectName(QStringLiteral("firstRunAddFolder"));
  disk->addWidget(addFolder_);
  layout->addLayout(disk);
  auto* space = new QLabel(
      tr("%1 free where models are downloaded (%2)")
          .arg(qs(hf::formatBytes(hf::freeBytes(hf::defaultCacheDir()))), qs(hf::defaultCacheDir().string())),
      this);
  space->setObjectName(QStringLiteral("firstRunSpace"));
  layout->addWidget(space);

  bar_ = new QProgressBar(this);
  bar_->setRange(0, 1000);
  bar_->setVisible(false);
  layout->addWidget(bar_);
  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("firstRunStatus"));
  status_->setWordWrap(true);
  layout->addWidget(status_);
  layout->addStretch(1);

  auto* buttons = new QHBoxLayout;
  auto* later = new QPushButton(tr("Decide later"), this);
  continue_ = new QPushButton(tr("Continue"), this);
  continue_->setObjectName(QStringLiteral("firstRunContinue"));
  continue_->setDefault(true);
  buttons->addStretch(1);
  buttons->addWidget(later);
  buttons->addWidget(continue_);
  layout->addLayout(buttons);

  runner_ = new InstallRunner(this);
  connect(later, &QPushButton::clicked, this, [this] {
    runner_->cancel();
    reject();
  });
  connect(continue_, &QPushButton::clicked, this, [this] { proceed(); });
  connect(addFolder_, &QPushButton::clicked, this, [this] {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("A Hugging Face cache, ComfyUI or A1111 folder"), QDir::homePath());
    if (!dir.isEmpty()) addLocation(dir);
  });
  connect(runner_, &InstallRunner::progress, this, [this](int permille, const QString& text) {
    bar_->setValue(permille);
    status_->setText(text);
  });
  connect(runner_, &InstallRunner::finished, this, [this](bool ok, const QString& message) {
    status_->setText(message);
    continue_->setEnabled(true);
    if (ok) finish();
  });
  updateFound();
}

QString FirstRunDialog::message() const {
  return status_->text();
}

void FirstRunDialog::choose(Choice c) {
  group_->button(int(c))->setChecked(true);
}

FirstRunDialog::Choice FirstRunDialog::choice() const {
  return static_cast<Choice>(group_->checkedId());
}

void FirstRunDialog::updateFound() {
  QStringList lines;
  int models = 0;
  try {
    const ModelRegistry registry(modelsDir_);
    for (const auto& l : registry.locations())
      lines << tr("%1: %2").arg(qs(locationKindName(l.kind)), qs(l.root.string()));
    for (const auto& m : registry.scan())
      if (m.kind == ModelKind::StableDiffusion && m.status == ModelStatus::Ok) ++models;
  } catch (const std::exception& e) {
    lines << qs(e.what());
  }
  found_->setText(lines.isEmpty() ? tr("No Hugging Face cache, ComfyUI or A1111 folder found at the usual places.")
                                  : tr("Found (%n Stable Diffusion model(s)): ", "", models) + lines.join("; "));
}

bool FirstRunDialog::addLocation(const QString& folder) {
  try {
    ModelRegistry registry(modelsDir_);
    registry.addLocation(folder.toStdString());
    choose(OnDisk);
    updateFound();
    return true;
  } catch (const std::exception& e) {
    status_->setText(qs(e.what()));
    return false;
  }
}

bool FirstRunDialog::proceed() {
  if (runner_->running()) return false;
  const Choice c = choice();
  if (c == BuiltIn || c == OnDisk) {
    finish();
    return true;
  }
  const auto models = catalogue_.resolve(c == Sd15 ? "sd15-studio" : "caig");
  bar_->setVisible(true);
  bar_->setValue(0);
  status_->setText(tr("Asking the Hub..."));
  continue_->setEnabled(false);
  return runner_->start(models);
}

void FirstRunDialog::finish() {
  const Choice c = choice();
  std::string prefer;
  if (c == Sd15 || c == Caig) {
    const auto* m = catalogue_.find(c == Sd15 ? "sd15" : "majicmix-v7");
    if (m) prefer = m->repo;
  }
  chosenModel_ = c == BuiltIn ? QString() : firstSdModel(modelsDir_, prefer);
  if (c == OnDisk && chosenModel_.isEmpty()) {
    status_->setText(
        tr("No usable Stable Diffusion model was found there: add the folder that holds them, or pick "
           "another choice"));
    return;
  }
  accept();
}

}  // namespace caig::ui
