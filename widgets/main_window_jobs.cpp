// The window's jobs other than generation and ranking (those are in main_window_generation.cpp):
// each reads what it needs from the project on the GUI thread, computes on a JobQueue worker (no
// widgets, no database there), and writes the result back on the GUI thread.

#include <QElapsedTimer>
#include <QFileInfo>
#include <QMessageBox>
#include <QPushButton>
#include <QStandardPaths>
#include <QStatusBar>
#include <QUndoStack>
#include <nlohmann/json.hpp>

#include "core/cutout/cutout_engines.h"
#include "core/image/image_io.h"
#include "core/llava/llava_prompt_writer.h"
#include "core/model_files/model_registry.h"
#include "core/project/project.h"
#include "core/prompts/prompt_writer.h"
#include "widgets/export_dialog.h"
#include "widgets/generate_panel.h"
#include "widgets/job_queue.h"
#include "widgets/main_window.h"
#include "widgets/mask_command.h"
#include "widgets/product_canvas.h"
#include "widgets/qt_image.h"
#include "widgets/training_panel.h"
#include "widgets/variant_view.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// The product shot and its stored cutout (empty when none), read on the GUI thread.
std::pair<cv::Mat, cv::Mat> readProduct(caig::Project& project, const caig::Product& product) {
  return {caig::loadImage(project.absolute(product.imagePath)), project.cutout(product.id)};
}

}  // namespace

bool MainWindow::cutoutRunning() const { return jobs_->hasActive("cutout"); }

void MainWindow::cutOutCurrentProduct() {
  if (!project_ || !currentProduct_ || cutoutRunning()) return;
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  cv::Mat shot;
  try {
    shot = caig::loadImage(project_->absolute(product->imagePath));
  } catch (const std::exception& e) {
    reportError(tr("Could not read the product shot"), e.what());
    return;
  }
  const qint64 productId = product->id;
  const QImage before = canvas_->mask();
  auto cutout = cutout_;
  const int id = jobs_->enqueue("cutout", tr("Cut out “%1”").arg(q(product->title)), [=](JobContext& ctx) -> JobApply {
    ctx.progress(0.05, tr("loading the engine"));
    caig::CutoutEngine& engine = cutout->get();
    ctx.progress(0.2, QString::fromStdString(engine.name()));
    const cv::Mat alpha = engine.alpha(shot);
    const QString name = q(engine.name()), note = q(cutout->note());
    return [=] {
      const QImage mask = toQImage(alpha);
      if (project_ && project_->store().product(productId)) {
        applyMask(productId, mask, name);
        undo_->push(new MaskCommand(this, productId, before, mask, name, tr("Cut out")));
      }
      const double coverage = cv::countNonZero(alpha > 127) / double(alpha.total());
      statusBar()->showMessage(coverage < 0.002 ? tr("No product found in this shot: paint it with the Keep brush (B)")
                               : note.isEmpty() ? tr("Cut out with %1").arg(name)
                                                : note,
                               10000);
      Q_EMIT cutoutFinished(true, name);
    };
  });
  jobs_->onFailure(id, this, [this](const QString& error) {
    statusBar()->showMessage(tr("Cutout failed: you can paint the product with the Keep brush (B)"), 10000);
    Q_EMIT cutoutFinished(false, error);
  });
}

void MainWindow::noteEngineDevice(const QString& engine, const QString& device) {
  hudFallbackReason_ = device == "cpu" ? tr("%1 runs on the CPU: no CUDA device").arg(engine) : QString();
  updateHud();
}

void MainWindow::writePrompts() {
  if (!project_ || !currentProduct_) return;
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  cv::Mat shot, alpha;
  try {
    std::tie(shot, alpha) = readProduct(*project_, *product);
  } catch (const std::exception& e) {
    reportError(tr("Could not read the product"), e.what());
    return;
  }
  const QString modelDir = generatePanel_->promptModelDir();
  const int count = generatePanel_->promptCount();
  const std::uint64_t seed = generatePanel_->settings().seed;
  const qint64 productId = product->id;
  const std::string title = product->title, category = product->category;
  const QString writer = modelDir.isEmpty() ? tr("built-in planner") : QFileInfo(modelDir).fileName();
  const std::filesystem::path styleWeights = caig::styleWeightsFile(*project_);  // learnt by the style rounds
  const QString jobTitle = tr("Write %1 prompts for “%2” (%3)").arg(count).arg(q(title)).arg(writer);
  const int id = jobs_->enqueue("prompts", jobTitle, [=](JobContext& ctx) -> JobApply {
    std::vector<std::pair<std::string, std::string>> written;  // text, source
    if (modelDir.isEmpty()) {
      caig::TemplatePromptWriter planner;
      if (std::filesystem::exists(styleWeights)) planner.loadStyleWeights(styleWeights);
      for (const auto& d : planner.write(title, category, shot, alpha, count, seed)) written.emplace_back(d.prompt, "builtin");
    } else {
      ctx.progress(0.02, tr("loading the prompt model"));
      caig::LlavaEngineOptions options;
      options.modelDir = modelDir.toStdString();
      caig::LlavaPromptWriter llava(options);
      QMetaObject::invokeMethod(this, [this, d = q(llava.deviceName())] { noteEngineDevice("LLaVA", d); }, Qt::QueuedConnection);
      caig::PromptRequest request;
      request.productImage = shot;
      request.title = title;
      request.category = category;
      request.count = count;
      request.seed = seed;
      int done = 0;
      const auto batch = llava.write(request, [&](int index, const std::string&) {
        if (index + 1 > done) {
          done = index + 1;
          ctx.progress(0.1 + 0.9 * index / count, tr("prompt %1/%2").arg(index + 1).arg(count));
        }
        return !ctx.cancelled();
      }, ctx.cancelFlag());
      for (const auto& p : batch.prompts) {
        if (!p.text.empty()) written.emplace_back(p.text, p.source);
      }
    }
    return [=] {
      if (!project_ || !project_->store().product(productId)) throw caig::StoreError("the product is no longer in the project");
      project_->store().transaction([&] {
        for (const auto& [text, source] : written) {
          caig::PromptRecord record;
          record.productId = productId;
          record.text = text;
          record.source = source;
          project_->store().addPrompt(record);
        }
      });
      if (productId == currentProduct_) refreshRecords();
      statusBar()->showMessage(tr("%1 prompts written").arg(written.size()), 5000);
      Q_EMIT promptsWritten(static_cast<int>(written.size()), {});
    };
  });
  jobs_->onFailure(id, this, [this](const QString& error) { Q_EMIT promptsWritten(0, error); });
}

void MainWindow::exportVariants(const QList<qint64>& variantIds) {
  if (!project_ || variantIds.isEmpty()) {
    statusBar()->showMessage(tr("Select the variants to export"), 5000);
    return;
  }
  if (lastExportFolder_.isEmpty()) {
    lastExportFolder_ = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation) + "/CAIG Export";
  }
  ExportDialog dialog(variantIds.size(), lastExportFolder_, this);
  if (dialog.exec() != QDialog::Accepted) return;
  lastExportFolder_ = QString::fromStdString(dialog.request().folder.string());
  exportVariants(variantIds, dialog.request(), dialog.frameMode(), dialog.copySpace());
}

bool MainWindow::confirmReplacingExport(const std::vector<std::filesystem::path>& existing,
                                        const std::filesystem::path& folder) {
  if (!isVisible()) return false;
  QStringList names;
  for (std::size_t i = 0; i < existing.size() && i < 6; ++i) names << QString::fromStdString(existing[i].filename().string());
  if (existing.size() > 6) names << tr("and %1 more").arg(existing.size() - 6);
  QMessageBox box(QMessageBox::Question, tr("Replace Exported Files?"),
                  tr("%1 of the files to export already exist in %2:\n\n%3\n\nReplace them, or cancel and choose "
                     "another folder?")
                      .arg(existing.size())
                      .arg(QString::fromStdString(folder.string()), names.join('\n')),
                  QMessageBox::Cancel, this);
  box.setObjectName("replaceExportBox");
  QPushButton* replace = box.addButton(tr("Replace"), QMessageBox::DestructiveRole);
  replace->setObjectName("replaceExportButton");
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  return box.clickedButton() == replace;
}

void MainWindow::exportVariants(const QList<qint64>& variantIds, caig::ExportRequest request, caig::FrameMode frames,
                                caig::CopySpace copy) {
  if (!project_ || !currentProduct_) return;
  // What drawing each size again needs, read here on the GUI thread; drawn on the worker.
  std::shared_ptr<const caig::AdFrames> adFrames;
  try {
    request.items = caig::exportItemsFromProject(*project_, currentProduct_,
                                                 std::vector<std::int64_t>(variantIds.begin(), variantIds.end()));
    if (frames != caig::FrameMode::Fit) {
      adFrames = std::make_shared<caig::AdFrames>(*project_, request.items, request.presetIds, copy, frames);
    }
  } catch (const std::exception& e) {
    reportError(tr("Could not export"), e.what());
    Q_EMIT exportFinished(0, QString::fromStdString(e.what()));
    return;
  }
  // A previous export's files are replaced only when the user says so.
  if (!request.replaceExisting) {
    const auto existing = caig::existingExportFiles(request);
    if (!existing.empty()) {
      if (!confirmReplacingExport(existing, request.folder)) {
        const QString why = tr("Export cancelled: %1 existing files kept").arg(existing.size());
        statusBar()->showMessage(why, 8000);
        Q_EMIT exportFinished(0, why);
        return;
      }
      request.replaceExisting = true;
    }
  }
  const QString folder = QString::fromStdString(request.folder.string());
  const QString jobTitle = tr("Export %1 variants to %2").arg(request.items.size()).arg(QFileInfo(folder).fileName());
  const QStringList notes = [&] {
    QStringList n;
    if (adFrames) {
      for (const auto& note : adFrames->notes()) n << QString::fromStdString(note);
    }
    return n;
  }();
  auto generators = generators_;
  const int id = jobs_->enqueue("export", jobTitle, [=](JobContext& ctx) -> JobApply {
    caig::ExportRequest work = request;
    caig::GenerationEngines engines;
    engines.generators = generators.get();
    if (adFrames) {
      work.drawFrame = [&](std::size_t index, const std::string& presetId) {
        return adFrames->draw(engines, index, presetId, ctx.cancelFlag());
      };
    }
    const caig::ExportResult result = caig::exportVariants(work, [&](int done, int total) {
      ctx.progress(double(done) / total, tr("%1/%2 files").arg(done).arg(total));
      return !ctx.cancelled();
    });
    const int files = static_cast<int>(result.files.size());
    return [=] {
      QString message = tr("Exported %1 files and manifest.csv to %2").arg(files).arg(folder);
      if (!notes.isEmpty()) message += " · " + notes.join(" · ");
      statusBar()->showMessage(message, 12000);
      Q_EMIT exportFinished(files, {});
    };
  });
  jobs_->onFailure(id, this, [this](const QString& error) { Q_EMIT exportFinished(0, error); });
}

}  // namespace caig::ui
