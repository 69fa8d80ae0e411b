#pragma once
// The studio's main window: the canvas in the centre, docks for products, prompts, generation,
// variants and jobs. It owns the open project; every edit is written to the project store at
// once. Long work (cutout, generation, ranking, export) goes through the JobQueue; the job
// builders live in main_window_generation.cpp (generation, ranking) and main_window_jobs.cpp.

#include <QElapsedTimer>
#include <QImage>
#include <QMainWindow>
#include <memory>
#include <optional>
#include <vector>

#include "core/generation/ad_frames.h"
#include "core/project/export.h"
#include "core/ranking/active_ranker.h"
#include "widgets/gpu_hud.h"

namespace caig {
class Project;
class CutoutProvider;
class GeneratorCache;
struct GenerationRequest;
struct PlacementOverride;
}  // namespace caig

class QAction;
class QLabel;
class QListWidget;
class QUndoStack;

namespace caig::ui {

class ProductCanvas;
class ProductPanel;
class PromptsPanel;
class GeneratePanel;
class JobQueue;
class JobsPanel;
class VariantGrid;
class CompareView;
class TrainingPanel;
struct GenerateSettings;
struct VariantView;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens (or creates, when the folder is absent or empty) a project and adds it to the recent
  // list. On failure the current project stays open and `error` says why.
  bool openProject(const QString& dir, QString* error = nullptr);
  // Copies the shot into the project and shows it. Needs an open project.
  bool importProductShot(const QString& path, QString* error = nullptr);
  // Imports each shot, telling the user (a dialog) about each one that fails; the others go in.
  void importShots(const QStringList& paths);
  // Edit > Paste Shot (Ctrl+Shift+V): image files copied in a file manager, or image pixels
  // (a screenshot, "Copy Image" in a browser), imported as product shots. Returns how many went in.
  int pasteShots();
  // Imports the bundled demo products when the project has no product yet.
  bool ensureDemoProducts(QString* error = nullptr);
  void showProduct(qint64 id);
  void showVariant(qint64 variantId);
  // Stores `mask` as the product's cutout and shows it (used by undo/redo too).
  void applyMask(qint64 productId, const QImage& mask, const QString& engine);
  // Stores the product's placement on the ad (none = CAIG's default) and shows it (undo/redo too).
  void applyPlacement(qint64 productId, const std::optional<caig::PlacementOverride>& placement);

  // ---- Jobs (queued; each emits its *Finished signal when done) ----
  void cutOutCurrentProduct();
  // Queues the generation job (core/generation/generation_job.h) with the dock's engine and
  // settings: cutout when needed, prompts, backgrounds, paste-back, stored; then the ranking.
  void generateForCurrentProduct(const GenerateSettings& settings);
  // Renders the variant again from its recorded engine, settings, prompt and seed, as a new variant.
  void regenerateVariant(qint64 variantId);
  // Writes the Generate dock's number of prompts for the current product with the chosen writer
  // (built-in planner or an installed LLaVA prompt model) and stores them with their source.
  void writePrompts();
  // Re-scans the installed models (core/model_files/model_registry.h) and offers the usable engines.
  void refreshInstalledModels();
  // The first-run setup (first_run_dialog.h), shown without blocking; when it ends, the Generate
  // dock starts with the model it installed or found. maybeShowFirstRunSetup() shows it once: on a
  // first start with no Stable Diffusion model listed (remembered in the settings as setup/done).
  void showFirstRunSetup();
  bool maybeShowFirstRunSetup();
  // Ranks all variants of a product with the chosen ranker (built-in, with the project's trained
  // weights when it has them, or an installed LLaVA reward model); stores ranks and lifts.
  void rankVariants(qint64 productId);
  // The ranker rankVariants would use, as the grid and Compare describe it.
  caig::ActiveRanker activeRanker() const;
  // Asks for sizes, format and folder (ExportDialog), then queues the export.
  void exportVariants(const QList<qint64>& variantIds);
  // Each size drawn for its own frame (`frames`, with `copy` kept free) or the stored image fitted.
  void exportVariants(const QList<qint64>& variantIds, caig::ExportRequest request,
                      caig::FrameMode frames = caig::FrameMode::Draw, caig::CopySpace copy = {});
  void cancelGeneration();
  bool cutoutRunning() const;
  bool generating() const;

  void setFavourite(qint64 variantId, bool favourite);
  // Deleting, after asking (`ask` false: without): the records, then the image files no other
  // record uses (core Project::removeVariants / removeProduct). False when cancelled or refused.
  bool deleteVariants(const QList<qint64>& variantIds, bool ask = true);
  bool deleteProduct(qint64 productId, bool ask = true);
  // Opens the comparison of two or more variants of the current product (non-modal).
  CompareView* compareVariants(const QList<qint64>& variantIds);

  caig::Project* project() const { return project_.get(); }
  ProductCanvas* canvas() const { return canvas_; }
  ProductPanel* productPanel() const { return productPanel_; }
  PromptsPanel* promptsPanel() const { return promptsPanel_; }
  VariantGrid* variantGrid() const { return variantGrid_; }
  JobQueue* jobQueue() const { return jobs_; }
  GeneratePanel* generatePanel() const { return generatePanel_; }
  TrainingPanel* trainingPanel() const { return trainingPanel_; }
  QUndoStack* undoStack() const { return undo_; }
  GpuHud* hud() const { return hud_; }  // null until View > GPU HUD is first turned on
  qint64 currentProductId() const { return currentProduct_; }
  static QStringList recentProjects();
  // Help > About: the version and git commit, Qt, where the resources are, and which studio
  // versions created and last wrote the open project.
  // Help: every action's keys (read from the actions), a short "how the ranking works", About.
  void showShortcuts();
  void showRankingHelp();
  void showAbout();

 Q_SIGNALS:
  void cutoutFinished(bool ok, const QString& engineOrError);
  void generationFinished(int variantsSaved, const QString& error);
  void rankingFinished(int variantsRanked, const QString& error);
  void exportFinished(int filesWritten, const QString& error);
  void promptsWritten(int promptsStored, const QString& error);
  // A denoising preview went onto the canvas ("variant 1/2, step 3/30").
  void previewShown(qint64 productId, const QString& note);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void createActions();
  void createDocks();
  void createToolActions(QMenu* menu);
  void createModelActions(QMenu* tools);  // Models…, Install Models…, First-Run Setup… (main_window_models.cpp)
  void refreshProducts();
  void refreshRecords();
  void refreshRanker();
  void refreshRecentMenu();
  void reportError(const QString& what, const QString& why);
  // A Delete / Cancel question; Cancel is the default button.
  bool confirmDelete(const QString& title, const QString& text);
  // Asks whether an export may replace `existing` files in `folder` (a previous export's); false
  // without asking when the window is not on screen.
  bool confirmReplacingExport(const std::vector<std::filesystem::path>& existing, const std::filesystem::path& folder);
  void chooseAndOpenProject(bool create);
  void chooseAndImportShots();
  std::vector<VariantView> currentVariants() const;
  // Prepares the job for the current product and queues it (main_window_generation.cpp). Returns the
  // job id, 0 when refused with a dialog (a model folder gone, a bad setting).
  int enqueueGeneration(caig::GenerationRequest request, const QString& jobTitle);
  // A denoising preview from a worker: shown on the canvas while the product is current.
  void showPreview(qint64 productId, const QImage& preview, const QString& note);
  // From a worker: the neural engine loaded on `device`; "cpu" means it fell back (HUD).
  void noteEngineDevice(const QString& engine, const QString& device);

  std::unique_ptr<caig::Project> project_;
  qint64 currentProduct_ = 0;
  ProductCanvas* canvas_ = nullptr;
  ProductPanel* productPanel_ = nullptr;
  PromptsPanel* promptsPanel_ = nullptr;
  VariantGrid* variantGrid_ = nullptr;
  JobQueue* jobs_ = nullptr;
  JobsPanel* jobsPanel_ = nullptr;
  GeneratePanel* generatePanel_ = nullptr;
  TrainingPanel* trainingPanel_ = nullptr;
  QLabel* zoomLabel_ = nullptr;
  QMenu* viewMenu_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  QUndoStack* undo_ = nullptr;
  QAction* cutoutAction_ = nullptr;
  // The cutout engine and the background generator, loaded by the first job that needs them and
  // reused (the generator while its model and device stay the same); jobs run one at a time, so
  // only one worker touches them at once.
  std::shared_ptr<caig::CutoutProvider> cutout_;
  std::shared_ptr<caig::GeneratorCache> generators_;
  QString lastExportFolder_;

  // The GPU HUD, created on first use: a QOpenGLWidget switches the window to GL composition.
  void setHudVisible(bool on);
  void updateHud();
  GpuHud* hud_ = nullptr;
  StepMeter hudSteps_;
  QElapsedTimer hudClock_;
  int hudJobId_ = 0;
  double hudProgress_ = -1;
  // Set while a neural job that wanted CUDA runs on the CPU (shown as "CPU fallback").
  QString hudFallbackReason_;
};

}  // namespace caig::ui
