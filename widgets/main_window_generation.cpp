// The window's generation jobs: the one generation job of core/generation/generation_job.h for
// every engine (prepared on the GUI thread, run on a JobQueue worker, saved back on the GUI thread
// with its events mapped onto progress and canvas previews), "same seed again", and ranking.

#include <QFileInfo>
#include <QStatusBar>

#include "core/cutout/cutout_engines.h"
#include "core/generation/generation_job.h"
#include "core/generation/generator_registry.h"
#include "core/image/image_io.h"
#include "core/llava/neural_ranker.h"
#include "core/project/project.h"
#include "core/ranking/builtin_ranker.h"
#include "core/ranking/variant_ranking.h"
#include "core/training/rm_training.h"
#include "widgets/generate_panel.h"
#include "widgets/job_queue.h"
#include "widgets/main_window.h"
#include "widgets/product_canvas.h"
#include "widgets/qt_image.h"
#include "widgets/variant_view.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

QString engineLabel(const std::string& engine) {
  return caig::hasGenerator(engine) ? q(caig::generatorKind(engine).label) : q(engine);
}

}  // namespace

bool MainWindow::generating() const { return jobs_->hasActive("generate"); }

void MainWindow::cancelGeneration() {
  for (int id : jobs_->jobIds()) {
    const JobInfo* info = jobs_->job(id);
    if (info && info->kind == "generate") jobs_->cancel(id);
  }
}

void MainWindow::generateForCurrentProduct(const GenerateSettings& settings) {
  if (!project_ || !currentProduct_) return;
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  caig::GenerationRequest request;
  request.engine = settings.engine.toStdString();
  request.settings = settings.options;
  request.presetId = settings.presetId.toStdString();
  request.prompts = settings.variants;
  request.variantsPerPrompt = settings.variantsPerPrompt;
  request.seed = settings.seed;
  try {
    request.seedMode = caig::parseSeedMode(settings.seedMode.toStdString());
  } catch (const std::exception& e) {
    reportError(tr("Cannot generate"), e.what());
    return;
  }
  const QString jobTitle = tr("%1: %2 × %3 for “%4” (seed %5)")
                               .arg(engineLabel(request.engine))
                               .arg(settings.variants)
                               .arg(settings.variantsPerPrompt)
                               .arg(q(product->title))
                               .arg(settings.seed);
  // Now, so that a second click queues a job with the next seed.
  if (enqueueGeneration(std::move(request), jobTitle)) generatePanel_->advanceSeed();
}

void MainWindow::regenerateVariant(qint64 variantId) {
  if (!project_ || !currentProduct_) return;
  std::optional<caig::Variant> variant;
  for (const auto& v : project_->store().variants(currentProduct_)) {
    if (v.id == variantId) variant = v;
  }
  if (!variant) return;
  std::optional<caig::PromptRecord> prompt;
  for (const auto& p : project_->store().prompts(currentProduct_)) {
    if (variant->promptId && p.id == *variant->promptId) prompt = p;
  }
  caig::GenerationRequest request;
  try {
    request = caig::repeatRequest(*variant, prompt);
  } catch (const std::exception& e) {
    reportError(tr("Cannot render this variant again"), e.what());
    return;
  }
  const QString jobTitle =
      tr("Same seed again: variant %1 (%2, seed %3)").arg(variantId).arg(engineLabel(request.engine)).arg(variant->seed);
  enqueueGeneration(std::move(request), jobTitle);
}

int MainWindow::enqueueGeneration(caig::GenerationRequest request, const QString& jobTitle) {
  auto input = std::make_shared<caig::GenerationInput>();
  try {
    *input = caig::prepareGeneration(*project_, currentProduct_, std::move(request));
  } catch (const std::exception& e) {
    // A model folder deleted or moved since the scan: say so now, and offer only what is still installed.
    refreshInstalledModels();
    reportError(tr("Cannot generate"), e.what());
    Q_EMIT generationFinished(0, e.what());
    return 0;
  }
  const qint64 productId = input->productId;
  const QString engine = engineLabel(input->request.engine);
  auto generators = generators_;
  auto cutout = cutout_;
  const int id = jobs_->enqueue("generate", jobTitle, [=](JobContext& ctx) -> JobApply {
    caig::GenerationEngines engines;
    engines.generators = generators.get();
    engines.cutout = [cutout]() -> caig::CutoutEngine& { return cutout->get(); };
    bool previewed = false;
    auto result = std::make_shared<caig::GenerationOutcome>(caig::runGeneration(
        engines, *input,
        [&](const caig::GenerationEvent& e) {
          using Stage = caig::GenerationEvent::Stage;
          switch (e.stage) {
            case Stage::CuttingOut: ctx.progress(e.fraction, tr("cutting out (%1)").arg(q(e.detail))); break;
            case Stage::WritingPrompts: ctx.progress(e.fraction, tr("writing prompts")); break;
            case Stage::LoadingEngine: ctx.progress(e.fraction, tr("loading %1").arg(engine)); break;
            case Stage::EngineLoaded:
              if (!e.detail.empty()) {
                QMetaObject::invokeMethod(this, [this, engine, d = q(e.detail)] { noteEngineDevice(engine, d); },
                                          Qt::QueuedConnection);
              }
              break;
            case Stage::Generating: {
              const QString note = e.steps == 0 ? tr("%1/%2 rendered").arg(e.variant + 1).arg(e.variants)
                                                : tr("variant %1/%2, step %3/%4")
                                                      .arg(e.variant + 1)
                                                      .arg(e.variants)
                                                      .arg(e.step)
                                                      .arg(e.steps);
              ctx.progress(e.fraction, note);
              if (!e.preview.empty()) {
                previewed = true;
                QMetaObject::invokeMethod(
                    this, [this, productId, image = toQImage(e.preview), note] { showPreview(productId, image, note); },
                    Qt::QueuedConnection);
              }
              break;
            }
            case Stage::Warning:
              QMetaObject::invokeMethod(
                  this, [this, d = q(e.detail)] { statusBar()->showMessage(tr("Warning: %1").arg(d), 15000); },
                  Qt::QueuedConnection);
              break;
            case Stage::Ranking: ctx.progress(e.fraction, tr("ranking")); break;
          }
        },
        ctx.cancelFlag()));
    return [=] {
      if (!project_ || !project_->store().product(productId)) throw caig::StoreError("the product is no longer in the project");
      std::map<qint64, VariantFacts> facts;
      if (!result->variants.empty() || !result->newCutout.empty()) {
        project_->store().transaction([&] {
          const auto saved = caig::saveGeneration(*project_, *input, *result);
          for (std::size_t i = 0; i < saved.size(); ++i) facts[saved[i].id].renderSeconds = result->variants[i].seconds;
          storeVariantFacts(project_->store(), productId, facts);
        });
      }
      const int saved = static_cast<int>(facts.size());
      if (productId == currentProduct_) {
        if (previewed) {
          showProduct(productId);  // the shot again, not the last preview
        } else {
          if (!result->newCutout.empty()) canvas_->setMask(toQImage(result->newCutout));
          refreshRecords();
        }
      }
      statusBar()->showMessage(result->cancelled ? tr("Cancelled: %1 finished variants kept").arg(saved)
                                                 : tr("%1 variants generated").arg(saved),
                               5000);
      Q_EMIT generationFinished(saved, {});
      if (saved > 0) rankVariants(productId);
    };
  });
  jobs_->onFailure(id, this, [this](const QString& error) {
    refreshInstalledModels();  // a model folder may have gone since the scan
    Q_EMIT generationFinished(0, error);
  });
  return id;
}

void MainWindow::showPreview(qint64 productId, const QImage& preview, const QString& note) {
  if (productId != currentProduct_ || preview.isNull()) return;
  canvas_->setImage(preview);
  canvas_->setMaskEditable(false);
  statusBar()->showMessage(note, 3000);
  Q_EMIT previewShown(productId, note);
}

void MainWindow::rankVariants(qint64 productId) {
  if (!project_) return;
  const auto product = project_->store().product(productId);
  if (!product) return;
  std::vector<std::pair<qint64, std::string>> files;
  for (const auto& v : project_->store().variants(productId)) {
    files.emplace_back(v.id, project_->absolute(v.imagePath).string());
  }
  if (files.empty()) return;
  const std::string shotPath = project_->absolute(product->imagePath).string();
  cv::Mat alpha;
  try {
    alpha = project_->cutout(productId);
  } catch (const std::exception& e) {
    Q_EMIT rankingFinished(0, e.what());
    return;
  }
  const caig::RankContext context{product->title, product->category};
  // What the grid says it ranks with (unreadable trained weights: the prior, and the note says why).
  const caig::ActiveRanker active = activeRanker();
  const QString jobTitle = tr("Rank %1 variants of “%2”").arg(files.size()).arg(q(product->title));
  const int id = jobs_->enqueue("rank", jobTitle, [=](JobContext& ctx) -> JobApply {
    std::vector<caig::VariantImage> images;
    for (const auto& [variantId, path] : files) {
      images.push_back({variantId, caig::loadImage(path)});
      ctx.progress(0.3 * images.size() / files.size(), tr("reading"));
    }
    std::unique_ptr<caig::CtrRanker> ranker;
    if (active.kind == caig::ActiveRanker::Kind::RewardModel) {
      ctx.progress(0.3, tr("loading the reward model"));
      caig::NeuralRankerOptions options;
      options.engine.modelDir = active.weights;
      auto neural = std::make_unique<caig::NeuralRanker>(options);
      ranker = std::move(neural);
    } else {
      auto builtin = std::make_unique<caig::BuiltinRanker>();
      if (active.kind == caig::ActiveRanker::Kind::BuiltinTrained) builtin->load(active.weights);
      ranker = std::move(builtin);
    }
    ctx.progress(0.3, tr("comparing pairs"));
    const auto rankings = caig::rankVariants(*ranker, caig::loadImage(shotPath), alpha, images, context);
    const std::string rankerId = ranker->id();
    return [=] {
      if (!project_) return;
      // Variants deleted while the job ran are left out.
      std::vector<caig::VariantRanking> kept;
      for (const auto& r : rankings) {
        if (project_->store().variant(r.variantId)) kept.push_back(r);
      }
      caig::storeRankings(project_->store(), kept, rankerId);  // one transaction
      if (productId == currentProduct_) refreshRecords();
      statusBar()->showMessage(active.calibrated
                                   ? tr("Ranked %1 variants (%2)").arg(rankings.size()).arg(q(rankerId))
                                   : tr("Ranked %1 variants (%2, uncalibrated)").arg(rankings.size()).arg(q(rankerId)),
                               8000);
      Q_EMIT rankingFinished(static_cast<int>(rankings.size()), {});
    };
  });
  jobs_->onFailure(id, this, [this](const QString& error) { Q_EMIT rankingFinished(0, error); });
}

}  // namespace caig::ui
