// The window's jobs: each reads what it needs from the project on the GUI thread, computes on a
// JobQueue worker (no widgets, no database there), and writes the result back on the GUI thread.

#include <QElapsedTimer>
#include <QFileInfo>
#include <QStandardPaths>
#include <QStatusBar>
#include <QUndoStack>
#include <nlohmann/json.hpp>

#include "core/backdrop_renderer.h"
#include "core/builtin_generation.h"
#include "core/builtin_ranker.h"
#include "core/cutout_engines.h"
#include "core/image_io.h"
#include "core/llava_prompt_writer.h"
#include "core/model_registry.h"
#include "core/neural_ranker.h"
#include "core/project.h"
#include "core/prompt_writer.h"
#include "core/rm_training.h"
#include "core/style_preferences.h"
#ifdef CAIG_HAVE_SD
#include "core/sd_generation.h"
#endif
#include "core/variant_ranking.h"
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

struct MainWindow::CutoutSlot {
  std::shared_ptr<caig::CutoutEngine> engine;
  QString note;  // why this engine (e.g. "no ISNet weights: GrabCut")

  caig::CutoutEngine& get() {
    if (!engine) {
      auto choice = caig::chooseCutoutEngine();
      engine = std::shared_ptr<caig::CutoutEngine>(std::move(choice.engine));
      note = QString::fromStdString(choice.note);
    }
    return *engine;
  }
};

std::shared_ptr<MainWindow::CutoutSlot> MainWindow::makeCutoutSlot() { return std::make_shared<CutoutSlot>(); }

struct MainWindow::SdSlot {
#ifdef CAIG_HAVE_SD
  std::unique_ptr<caig::SdEngine> engine;
  caig::SdEngine& get(const caig::SdRequest& request) {
    if (!engine || !engine->matches(request)) {
      engine.reset();  // frees the old weights before the new ones load
      engine = std::make_unique<caig::SdEngine>(request);
    }
    return *engine;
  }
#endif
};

#ifdef CAIG_HAVE_SD
struct MainWindow::SdJobInput {
  qint64 productId = 0;
  std::string title, category;
  cv::Mat shot, alpha;               // alpha empty: cut out first
  std::vector<std::string> prompts;  // at most promptCount; the planner writes the rest
  int promptCount = 0;
  caig::SdRequest request;
  QString jobTitle;
};
#endif

#ifdef CAIG_HAVE_SD
bool MainWindow::sdAvailable() { return true; }
#else
bool MainWindow::sdAvailable() { return false; }
#endif

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// Calls `onFailure(error)` once if job `id` fails (its apply step never ran to the end).
void whenFailed(JobQueue* queue, QObject* context, int id, std::function<void(const QString&)> onFailure) {
  auto connection = std::make_shared<QMetaObject::Connection>();
  *connection = QObject::connect(queue, &JobQueue::jobFinished, context,
                                 [connection, id, onFailure](int finished, JobState state, const QString& error) {
                                   if (finished != id) return;
                                   QObject::disconnect(*connection);
                                   if (state == JobState::Failed) onFailure(error);
                                 });
}

// The product shot and its stored cutout (empty when none), read on the GUI thread.
std::pair<cv::Mat, cv::Mat> readProduct(caig::Project& project, const caig::Product& product) {
  return {caig::loadImage(project.absolute(product.imagePath)), project.cutout(product.id)};
}

}  // namespace

bool MainWindow::cutoutRunning() const { return jobs_->hasActive("cutout"); }
bool MainWindow::generating() const { return jobs_->hasActive("generate"); }

void MainWindow::cancelGeneration() {
  for (int id : jobs_->jobIds()) {
    const JobInfo* info = jobs_->job(id);
    if (info && info->kind == "generate") jobs_->cancel(id);
  }
}

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
  auto slot = cutoutSlot_;
  const int id = jobs_->enqueue("cutout", tr("Cut out “%1”").arg(q(product->title)), [=](JobContext& ctx) -> JobApply {
    ctx.progress(0.05, tr("loading the engine"));
    caig::CutoutEngine& engine = slot->get();
    ctx.progress(0.2, QString::fromStdString(engine.name()));
    const cv::Mat alpha = engine.alpha(shot);
    const QString name = q(engine.name()), note = slot->note;
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
  whenFailed(jobs_, this, id, [this](const QString& error) {
    statusBar()->showMessage(tr("Cutout failed: you can paint the product with the Keep brush (B)"), 10000);
    Q_EMIT cutoutFinished(false, error);
  });
}

void MainWindow::generateForCurrentProduct(const GenerateSettings& settings) {
  if (!project_ || !currentProduct_) return;
  if (settings.engine == "sd15") {
    generateWithSd(settings);
    return;
  }
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  cv::Mat shot, alpha;
  try {
    std::tie(shot, alpha) = readProduct(*project_, *product);
  } catch (const std::exception& e) {
    reportError(tr("Could not read the product"), e.what());
    return;
  }
  caig::BuiltinRequest request;
  request.presetId = settings.presetId.toStdString();
  request.variants = settings.variants;
  request.seed = settings.seed;
  request.placement = project_->store().placement(product->id);  // the Place tool's, if any
  const qint64 productId = product->id;
  const std::string title = product->title, category = product->category;
  auto slot = cutoutSlot_;
  const QString jobTitle = tr("Generate %1 for “%2” (seed %3)").arg(settings.variants).arg(q(title)).arg(settings.seed);
  const int id = jobs_->enqueue("generate", jobTitle, [=](JobContext& ctx) -> JobApply {
    cv::Mat productAlpha = alpha, newCutout;
    QString engineName;
    if (productAlpha.empty()) {  // the main job cuts the product out first
      ctx.progress(0.02, tr("cutting out"));
      caig::CutoutEngine& engine = slot->get();
      productAlpha = newCutout = engine.alpha(shot);
      engineName = q(engine.name());
    }
    QElapsedTimer timer;
    timer.start();
    auto variants = caig::renderBuiltinVariants(shot, productAlpha, title, category, request, [&](int done, int total) {
      ctx.progress(0.1 + 0.9 * done / total, tr("%1/%2 rendered").arg(done).arg(total));
      return !ctx.cancelled();
    });
    const double perVariant = timer.elapsed() / 1000.0 / std::max<std::size_t>(1, variants.size());
    return [=] {
      if (!project_ || !project_->store().product(productId)) throw caig::StoreError("the product is no longer in the project");
      if (!newCutout.empty()) applyMask(productId, toQImage(newCutout), engineName);
      std::map<qint64, VariantFacts> facts;
      project_->store().transaction([&] {
        for (const auto& v : caig::saveBuiltinVariants(*project_, productId, variants, request)) {
          facts[v.id].renderSeconds = perVariant;
        }
        storeVariantFacts(project_->store(), productId, facts);
      });
      const int saved = static_cast<int>(facts.size());
      if (productId == currentProduct_) refreshRecords();
      statusBar()->showMessage(tr("%1 variants generated").arg(saved), 5000);
      Q_EMIT generationFinished(saved, {});
      if (saved > 0) rankVariants(productId);
    };
  });
  whenFailed(jobs_, this, id, [this](const QString& error) { Q_EMIT generationFinished(0, error); });
  generatePanel_->advanceSeed();  // now, so that a second click queues a job with the next seed
}

void MainWindow::regenerateVariant(qint64 variantId) {
  if (!project_ || !currentProduct_) return;
  const auto product = project_->store().product(currentProduct_);
  const auto views = loadVariantViews(*project_, currentProduct_);
  auto it = std::find_if(views.begin(), views.end(), [&](const VariantView& v) { return v.variant.id == variantId; });
  if (!product || it == views.end()) return;
  caig::BuiltinVariant again;
  caig::BuiltinRequest request;
  cv::Mat shot, alpha;
  try {
    const auto params = nlohmann::json::parse(it->variant.paramsJson);
    if (params.value("engine", "") == "sd15") {
      regenerateSdVariant(variantId, it->variant.paramsJson);
      return;
    }
    if (params.value("engine", "") != "builtin") throw std::runtime_error("this variant's engine cannot render it again");
    again.description.prompt = it->prompt.toStdString();
    again.description.spec = caig::backdropSpecFromJson(params.at("spec"));
    again.description.styleId = params.value("style", "");
    again.description.harmony = caig::parseHarmony(params.value("harmony", "neutral"));
    request.presetId = params.at("preset").get<std::string>();
    request.seed = params.value("requestSeed", std::uint64_t{1});
    request.variants = 1;
    if (const auto p = params.find("placement"); p != params.end() && p->is_object()) {  // where it was placed
      request.placement = caig::PlacementOverride{p->value("scale", 1.0), p->value("dx", 0.0), p->value("dy", 0.0)};
    }
    std::tie(shot, alpha) = readProduct(*project_, *product);
    if (alpha.empty()) throw std::runtime_error("the product has no cutout any more: cut it out first");
  } catch (const std::exception& e) {
    reportError(tr("Cannot render this variant again"), e.what());
    return;
  }
  const qint64 productId = product->id;
  const QString jobTitle = tr("Same seed again: variant %1 (seed %2)").arg(variantId).arg(it->variant.seed);
  jobs_->enqueue("generate", jobTitle, [=](JobContext& ctx) -> JobApply {
    ctx.progress(0.1, tr("rendering"));
    QElapsedTimer timer;
    timer.start();
    caig::BuiltinVariant v = again;
    const caig::ProductShot prepared = caig::prepareProduct(shot, alpha, request.composition);
    const cv::Size canvas = caig::adPreset(request.presetId).size;
    const caig::Placement placement =
        caig::productPlacement(caig::productBox(prepared.alpha), canvas, request.placement, request.composition);
    const caig::Layout layout = caig::layoutProduct(prepared, canvas, placement, request.composition);
    v.image = caig::renderAd(v.description.spec, layout.product, layout.alpha);
    v.canvasAlpha = layout.alpha;
    const double seconds = timer.elapsed() / 1000.0;
    return [=] {
      if (!project_ || !project_->store().product(productId)) throw caig::StoreError("the product is no longer in the project");
      project_->store().transaction([&] {
        const auto saved = caig::saveBuiltinVariants(*project_, productId, {v}, request);
        storeVariantFacts(project_->store(), productId, {{saved.front().id, VariantFacts{std::nullopt, seconds}}});
      });
      if (productId == currentProduct_) refreshRecords();
      Q_EMIT generationFinished(1, {});
      rankVariants(productId);
    };
  });
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
  const QString rewardModel = generatePanel_->rankerModelDir();
  std::optional<std::filesystem::path> trainedWeights;
  try {
    trainedWeights = caig::activeBuiltinRankerWeights(*project_);
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("Trained ranker weights unreadable, using the prior: %1").arg(e.what()), 8000);
  }
  const QString jobTitle = tr("Rank %1 variants of “%2”").arg(files.size()).arg(q(product->title));
  const int id = jobs_->enqueue("rank", jobTitle, [=](JobContext& ctx) -> JobApply {
    std::vector<caig::VariantImage> images;
    for (const auto& [variantId, path] : files) {
      images.push_back({variantId, caig::loadImage(path)});
      ctx.progress(0.3 * images.size() / files.size(), tr("reading"));
    }
    std::unique_ptr<caig::CtrRanker> ranker;
    if (!rewardModel.isEmpty()) {
      ctx.progress(0.3, tr("loading the reward model"));
      caig::NeuralRankerOptions options;
      options.engine.modelDir = rewardModel.toStdString();
      auto neural = std::make_unique<caig::NeuralRanker>(options);
      ranker = std::move(neural);
    } else {
      auto builtin = std::make_unique<caig::BuiltinRanker>();
      if (trainedWeights) builtin->load(*trainedWeights);
      ranker = std::move(builtin);
    }
    ctx.progress(0.3, tr("comparing pairs"));
    const auto rankings = caig::rankVariants(*ranker, caig::loadImage(shotPath), alpha, images, context);
    const std::string rankerId = ranker->id();
    return [=] {
      if (!project_) return;
      std::map<qint64, VariantFacts> facts;
      for (const auto& r : rankings) facts[r.variantId].stdError = r.stdError;
      project_->store().transaction([&] {
        caig::storeRankings(project_->store(), rankings, rankerId);
        storeVariantFacts(project_->store(), productId, facts);
      });
      if (productId == currentProduct_) refreshRecords();
      const bool prior = rankerId.rfind("builtin@", 0) == 0 && rankerId.find(':') == std::string::npos;
      statusBar()->showMessage(prior ? tr("Ranked %1 variants (%2, uncalibrated prior until trained on clicks)")
                                           .arg(rankings.size())
                                           .arg(q(rankerId))
                                     : tr("Ranked %1 variants (%2)").arg(rankings.size()).arg(q(rankerId)),
                               8000);
      Q_EMIT rankingFinished(static_cast<int>(rankings.size()), {});
    };
  });
  whenFailed(jobs_, this, id, [this](const QString& error) { Q_EMIT rankingFinished(0, error); });
}

void MainWindow::refreshInstalledModels() {
  std::vector<caig::InstalledModel> models;
  try {
    models = caig::ModelRegistry().scan();
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("Could not read the model list: %1").arg(e.what()), 8000);
  }
  if (project_) {  // what this project trained (a merged reward model, PCPO's prompt models)
    for (auto& m : caig::ModelRegistry::projectModels(project_->dir())) models.push_back(std::move(m));
  }
  generatePanel_->setInstalledModels(models, sdAvailable());
  if (trainingPanel_) trainingPanel_->setInstalledModels(models);
}

void MainWindow::showPreview(qint64 productId, const QImage& preview, const QString& note) {
  if (productId != currentProduct_ || preview.isNull()) return;
  canvas_->setImage(preview);
  canvas_->setMaskEditable(false);
  statusBar()->showMessage(note, 3000);
  Q_EMIT previewShown(productId, note);
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
  whenFailed(jobs_, this, id, [this](const QString& error) { Q_EMIT promptsWritten(0, error); });
}

void MainWindow::generateWithSd(const GenerateSettings& settings) {
#ifndef CAIG_HAVE_SD
  (void)settings;
  reportError(tr("Cannot generate with Stable Diffusion"), tr("this build of the studio has no SD generator"));
  Q_EMIT generationFinished(0, tr("this build of the studio has no SD generator"));
#else
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  cv::Mat shot, alpha;
  // Pinned prompts first, then the newest ones; the built-in planner writes them when none.
  std::vector<std::string> prompts;
  std::string promptSource = "builtin";
  try {
    std::tie(shot, alpha) = readProduct(*project_, *product);
    auto records = project_->store().prompts(product->id);
    std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
      return a.pinned != b.pinned ? a.pinned : a.id > b.id;
    });
    for (const auto& r : records) {
      if (static_cast<int>(prompts.size()) >= settings.variants) break;
      if (prompts.empty()) promptSource = r.source;
      prompts.push_back(r.text);
    }
  } catch (const std::exception& e) {
    reportError(tr("Could not read the product"), e.what());
    return;
  }
  caig::SdRequest request;
  request.modelDir = settings.sdModelDir.toStdString();
  request.controlnetDir = settings.controlnetDir.toStdString();
  request.sampler = settings.sampler.toStdString();
  request.steps = settings.steps;
  request.guidance = settings.guidance;
  request.controlnetScale = settings.controlnetScale;
  request.clipSkip = settings.clipSkip;
  request.seed = settings.seed;
  request.seedMode = caig::parseSeedMode(settings.seedMode.toStdString());
  request.variantsPerPrompt = settings.variantsPerPrompt;
  request.workingLongSide = settings.workingLongSide;
  request.presetId = settings.presetId.toStdString();
  request.promptSource = promptSource;
  request.placement = project_->store().placement(product->id);
  try {
    caig::validateSdRequest(request);
  } catch (const std::exception& e) {
    reportError(tr("Cannot generate with Stable Diffusion"), e.what());
    Q_EMIT generationFinished(0, e.what());
    return;
  }
  SdJobInput input;
  input.productId = product->id;
  input.title = product->title;
  input.category = product->category;
  input.shot = shot;
  input.alpha = alpha;
  input.prompts = prompts;
  input.promptCount = settings.variants;
  input.request = request;
  input.jobTitle = tr("SD1.5: %1 × %2 for “%3” (%4, %5 steps)")
                       .arg(settings.variants)
                       .arg(settings.variantsPerPrompt)
                       .arg(q(product->title))
                       .arg(settings.sampler)
                       .arg(settings.steps);
  if (enqueueSdJob(input)) generatePanel_->advanceSeed();
#endif
}

#ifdef CAIG_HAVE_SD
int MainWindow::enqueueSdJob(const SdJobInput& input) {
  const caig::SdRequest request = input.request;
  const std::vector<std::string> prompts = input.prompts;
  const cv::Mat shot = input.shot, alpha = input.alpha;
  const QString modelDir = q(request.modelDir.string());
  if (!QFileInfo(modelDir).isDir()) {  // gone since the scan: say so now, not from a failed job
    refreshInstalledModels();
    const QString why = tr("%1: no such Stable Diffusion model folder any more (moved or deleted?). Put it back, "
                           "or add its new place in Tools > Models.")
                            .arg(modelDir);
    reportError(tr("Cannot generate with Stable Diffusion"), why);
    Q_EMIT generationFinished(0, why);
    return 0;
  }
  if (!sdSlot_) sdSlot_ = std::make_shared<SdSlot>();
  auto slot = sdSlot_;
  auto cutout = cutoutSlot_;
  const qint64 productId = input.productId;
  const std::string title = input.title, category = input.category;
  const int promptCount = input.promptCount;
  const int id = jobs_->enqueue("generate", input.jobTitle, [=](JobContext& ctx) -> JobApply {
    cv::Mat productAlpha = alpha, newCutout;
    QString engineName;
    if (productAlpha.empty()) {
      ctx.progress(0.01, tr("cutting out"));
      caig::CutoutEngine& engine = cutout->get();
      productAlpha = newCutout = engine.alpha(shot);
      engineName = q(engine.name());
    }
    std::vector<std::string> texts = prompts;
    if (static_cast<int>(texts.size()) < promptCount) {  // the planner fills the rest
      const caig::TemplatePromptWriter planner;
      for (const auto& d : planner.write(title, category, shot, productAlpha, promptCount - static_cast<int>(texts.size()),
                                         request.seed)) {
        texts.push_back(d.prompt);
      }
    }
    ctx.progress(0.03, tr("loading %1").arg(QFileInfo(q(request.modelDir.string())).fileName()));
    caig::SdEngine& engine = slot->get(request);
    QMetaObject::invokeMethod(this, [this, d = q(engine.device())] { noteEngineDevice("SD1.5", d); }, Qt::QueuedConnection);
    const int total = static_cast<int>(texts.size()) * request.variantsPerPrompt;
    QElapsedTimer timer;
    timer.start();
    const caig::SdResult result = caig::renderSdVariants(
        engine, shot, productAlpha, texts, request,
        [&](int step, int steps, int variant, const cv::Mat& preview) {
          const QString note = tr("variant %1/%2, step %3/%4").arg(variant + 1).arg(total).arg(step).arg(steps);
          ctx.progress(0.05 + 0.95 * (variant + double(step) / steps) / total, note);
          if (!preview.empty()) {
            QMetaObject::invokeMethod(this, [this, productId, image = toQImage(preview), note] { showPreview(productId, image, note); },
                                      Qt::QueuedConnection);
          }
        },
        ctx.cancelFlag());
    const double perVariant = timer.elapsed() / 1000.0 / std::max<std::size_t>(1, result.variants.size());
    return [=] {
      if (!project_ || !project_->store().product(productId)) throw caig::StoreError("the product is no longer in the project");
      if (!newCutout.empty()) applyMask(productId, toQImage(newCutout), engineName);
      std::map<qint64, VariantFacts> facts;
      if (!result.variants.empty()) {
        project_->store().transaction([&] {
          for (const auto& v : caig::saveSdVariants(*project_, productId, result.variants, request)) {
            facts[v.id].renderSeconds = perVariant;
          }
          storeVariantFacts(project_->store(), productId, facts);
        });
      }
      const int saved = static_cast<int>(facts.size());
      if (productId == currentProduct_) showProduct(productId);  // the shot again, not the last preview
      statusBar()->showMessage(result.cancelled ? tr("Cancelled: %1 finished variants kept").arg(saved)
                                                : tr("%1 variants generated").arg(saved),
                               5000);
      Q_EMIT generationFinished(saved, {});
      if (saved > 0) rankVariants(productId);
    };
  });
  whenFailed(jobs_, this, id, [this, modelDir](const QString& error) {
    // A model folder deleted or moved since the scan: offer only what is still installed.
    if (!QFileInfo(modelDir).isDir()) refreshInstalledModels();
    Q_EMIT generationFinished(0, error);
  });
  return id;
}
#endif

void MainWindow::regenerateSdVariant(qint64 variantId, const std::string& paramsJson) {
#ifndef CAIG_HAVE_SD
  (void)variantId;
  (void)paramsJson;
  reportError(tr("Cannot render this variant again"), tr("this build of the studio has no SD generator"));
#else
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  SdJobInput input;
  try {
    const auto p = nlohmann::json::parse(paramsJson);
    caig::SdRequest& r = input.request;
    const std::string modelDir = p.value("modelDir", "");
    if (modelDir.empty()) {
      throw std::runtime_error("this variant does not record its model folder (it is older than that record); "
                               "generate with its seed from the Generate dock instead");
    }
    r.modelDir = modelDir;
    r.controlnetDir = p.value("controlnetDir", "");
    r.sampler = p.at("sampler").get<std::string>();
    r.steps = p.at("steps").get<int>();
    r.guidance = p.at("cfg").get<double>();
    r.controlnetScale = p.at("controlnetScale").get<double>();
    r.clipSkip = p.value("clipSkip", 1);
    r.negativePrompt = p.at("negativePrompt").get<std::string>();
    r.seed = p.at("seed").get<std::uint64_t>();
    r.seedMode = caig::SeedMode::Fixed;
    r.variantsPerPrompt = 1;
    const auto& working = p.at("workingSize");
    r.workingLongSide = std::max(working.at(0).get<int>(), working.at(1).get<int>());
    r.presetId = p.at("preset").get<std::string>();
    r.promptSource = "user";  // only used when the prompt's record was deleted since
    if (const auto pl = p.find("placement"); pl != p.end() && pl->is_object()) {  // where it was placed
      r.placement = caig::PlacementOverride{pl->value("scale", 1.0), pl->value("dx", 0.0), pl->value("dy", 0.0)};
    }
    caig::validateSdRequest(r);
    input.prompts = {p.at("prompt").get<std::string>()};
    input.promptCount = 1;
    std::tie(input.shot, input.alpha) = readProduct(*project_, *product);
    if (input.alpha.empty()) throw std::runtime_error("the product has no cutout any more: cut it out first");
  } catch (const std::exception& e) {
    reportError(tr("Cannot render this variant again"), e.what());
    return;
  }
  input.productId = product->id;
  input.title = product->title;
  input.category = product->category;
  input.jobTitle = tr("Same seed again: variant %1 (SD1.5, seed %2)").arg(variantId).arg(input.request.seed);
  enqueueSdJob(input);
#endif
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
  exportVariants(variantIds, dialog.request());
}

void MainWindow::exportVariants(const QList<qint64>& variantIds, caig::ExportRequest request) {
  if (!project_ || !currentProduct_) return;
  request.items.clear();
  for (const auto& v : loadVariantViews(*project_, currentProduct_)) {
    if (!variantIds.contains(v.variant.id)) continue;
    caig::ExportItem item;
    item.variantId = v.variant.id;
    item.image = v.imagePath.toStdString();
    item.prompt = v.prompt.toStdString();
    item.seed = v.variant.seed;
    item.engine = v.engine.toStdString();
    item.paramsJson = v.variant.paramsJson;
    item.score = v.variant.score;
    item.rank = v.variant.rank;
    item.winProbability = v.variant.winProbability;
    item.rankerId = v.variant.rankerId;
    request.items.push_back(std::move(item));
  }
  const QString folder = QString::fromStdString(request.folder.string());
  const QString jobTitle = tr("Export %1 variants to %2").arg(request.items.size()).arg(QFileInfo(folder).fileName());
  const int id = jobs_->enqueue("export", jobTitle, [=](JobContext& ctx) -> JobApply {
    const caig::ExportResult result = caig::exportVariants(request, [&](int done, int total) {
      ctx.progress(double(done) / total, tr("%1/%2 files").arg(done).arg(total));
      return !ctx.cancelled();
    });
    const int files = static_cast<int>(result.files.size());
    return [=] {
      statusBar()->showMessage(tr("Exported %1 files and manifest.csv to %2").arg(files).arg(folder), 8000);
      Q_EMIT exportFinished(files, {});
    };
  });
  whenFailed(jobs_, this, id, [this](const QString& error) { Q_EMIT exportFinished(0, error); });
}

}  // namespace caig::ui
