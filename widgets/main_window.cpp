#include "widgets/main_window.h"
#include "core/base/user_message.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGuiApplication>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QSignalBlocker>
#include <QStatusBar>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QToolBar>
#include <QUndoStack>
#include <QVBoxLayout>
#include <map>

#include "core/base/resources.h"
#include "core/base/version.h"
#include "core/cutout/cutout_engines.h"
#include "core/generation/generator_registry.h"
#include "core/generation/standard_generators.h"
#include "core/image/image_io.h"
#include "core/model_files/model_registry.h"
#include "core/project/demo_products.h"
#include "core/project/project.h"
#include "widgets/compare_view.h"
#include "widgets/generate_panel.h"
#include "widgets/icons.h"
#include "widgets/job_queue.h"
#include "widgets/jobs_panel.h"
#include "widgets/mask_command.h"
#include "widgets/placement_view.h"
#include "widgets/product_canvas.h"
#include "widgets/product_panel.h"
#include "widgets/prompts_panel.h"
#include "widgets/qt_image.h"
#include "widgets/theme.h"
#include "widgets/training_panel.h"
#include "widgets/variant_grid.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

cv::Mat toMat(const QImage& grey) {
  const QImage g = grey.convertToFormat(QImage::Format_Grayscale8);
  return cv::Mat(g.height(), g.width(), CV_8UC1, const_cast<uchar*>(g.constBits()),
                 static_cast<size_t>(g.bytesPerLine()))
      .clone();
}

constexpr int kRecentProjects = 8;

// View > Theme: System, Light, Dark as radio actions. The stored choice is applied here too, so
// every new window (and the studio at start-up) comes back in the theme last picked.
void addThemeMenu(QWidget* owner, QMenu* viewMenu) {
  auto* menu = viewMenu->addMenu(QObject::tr("&Theme"));
  menu->setObjectName("themeMenu");
  setIcon(menu->menuAction(), QStringLiteral("theme"));
  auto* group = new QActionGroup(owner);
  const Theme saved = savedTheme();
  const std::pair<Theme, QString> rows[] = {{Theme::System, QObject::tr("&System")},
                                            {Theme::Light, QObject::tr("&Light")},
                                            {Theme::Dark, QObject::tr("&Dark")}};
  for (const auto& [theme, text] : rows) {
    auto* a = menu->addAction(text);
    a->setObjectName(QStringLiteral("theme_") + themeName(theme));
    a->setCheckable(true);
    a->setChecked(theme == saved);
    group->addAction(a);
    QObject::connect(a, &QAction::triggered, owner, [theme] {
      saveTheme(theme);
      applyTheme(*qApp, theme);
    });
  }
  if (saved != currentTheme()) applyTheme(*qApp, saved);
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  caig::registerStandardGenerators();  // before the Generate dock lists them
  setWindowTitle(tr("CAIG Studio"));
  setAcceptDrops(true);
  jobs_ = new JobQueue(this);
  hudClock_.start();
  // The HUD's step meter follows the running job's progress reports; a new job starts afresh.
  connect(jobs_, &JobQueue::jobChanged, this, [this](int id) {
    const JobInfo* info = jobs_->job(id);
    if (!info || info->state != JobState::Running) {
      updateHud();
      return;
    }
    if (id != hudJobId_) {
      hudJobId_ = id;
      hudProgress_ = -1;
      hudSteps_.reset();
    }
    if (info->progress != hudProgress_) {  // a step done (the first report only sets the start)
      hudSteps_.step(hudClock_.elapsed() / 1e3);
      hudProgress_ = info->progress;
    }
    updateHud();
  });
  connect(jobs_, &JobQueue::jobAdded, this, &MainWindow::updateHud);
  connect(jobs_, &JobQueue::jobRemoved, this, &MainWindow::updateHud);
  connect(jobs_, &JobQueue::idle, this, [this] {
    hudFallbackReason_.clear();
    hudJobId_ = 0;
    hudProgress_ = -1;
    hudSteps_.reset();
    updateHud();
  });
  cutout_ = std::make_shared<caig::CutoutProvider>();
  generators_ = std::make_shared<caig::GeneratorCache>();
  canvas_ = new ProductCanvas(this);
  canvas_->setObjectName("canvas");
  setCentralWidget(canvas_);
  createActions();
  createDocks();
  // The Place tool frames the Generate dock's ad size.
  if (auto* presets = generatePanel_->findChild<QComboBox*>(QStringLiteral("presetCombo"))) {
    auto follow = [this, presets] {
      try {
        const auto& preset = caig::adPreset(presets->currentData().toString().toStdString());
        canvas_->placementView()->setAdSize({preset.size.width, preset.size.height}, q(caig::adPresetText(preset)));
      } catch (const caig::CompositionError&) {
      }  // no preset chosen: the frame keeps its size
    };
    connect(presets, &QComboBox::currentIndexChanged, this, follow);
    follow();
  }
  zoomLabel_ = new QLabel(this);
  statusBar()->addPermanentWidget(zoomLabel_);
  connect(canvas_, &ProductCanvas::zoomChanged, this,
          [this](double z) { zoomLabel_->setText(tr("Zoom %1%").arg(qRound(z * 100))); });
  resize(1280, 800);
  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
}

// The queue goes first: its destructor waits for a running worker, whose result must not reach
// a half-destroyed window.
MainWindow::~MainWindow() { delete jobs_; }

void MainWindow::createActions() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* newProject = file->addAction(tr("&New Project…"), this, [this] { chooseAndOpenProject(true); });
  newProject->setShortcut(QKeySequence::New);
  auto* openProject = file->addAction(tr("&Open Project…"), this, [this] { chooseAndOpenProject(false); });
  openProject->setShortcut(QKeySequence::Open);
  recentMenu_ = file->addMenu(tr("Open &Recent"));
  recentMenu_->setObjectName("recentMenu");
  refreshRecentMenu();
  auto* importShot = file->addAction(tr("&Import Product Shot…"), this, [this] { chooseAndImportShots(); });
  importShot->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
  auto* pasteShot = file->addAction(tr("&Paste Product Shot"), this, [this] { pasteShots(); });
  pasteShot->setObjectName("pasteShotAction");
  // Not plain Ctrl+V: that stays with the text fields (title, prompts).
  pasteShot->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_V));
  pasteShot->setStatusTip(tr("Import the image or image files on the clipboard as product shots"));
  file->addSeparator();
  setIcon(newProject, QStringLiteral("new-project"));
  setIcon(openProject, QStringLiteral("open-project"));
  setIcon(importShot, QStringLiteral("import-shot"));
  auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  viewMenu_ = menuBar()->addMenu(tr("&View"));
  auto* zoomIn = viewMenu_->addAction(tr("Zoom &In"), canvas_, &ProductCanvas::zoomIn);
  zoomIn->setShortcuts({QKeySequence::ZoomIn, QKeySequence(Qt::CTRL | Qt::Key_Equal)});
  auto* zoomOut = viewMenu_->addAction(tr("Zoom &Out"), canvas_, &ProductCanvas::zoomOut);
  zoomOut->setShortcut(QKeySequence::ZoomOut);
  auto* fit = viewMenu_->addAction(tr("&Fit to Window"), canvas_, &ProductCanvas::fitToView);
  fit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
  auto* actual = viewMenu_->addAction(tr("&Actual Pixels"), canvas_, &ProductCanvas::actualSize);
  actual->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
  viewMenu_->addSeparator();
  auto* hudAction = viewMenu_->addAction(tr("&GPU HUD"));
  hudAction->setObjectName("toggleGpuHud");
  hudAction->setCheckable(true);
  hudAction->setShortcut(QKeySequence(Qt::Key_F12));
  hudAction->setToolTip(tr("Device, VRAM, step time and queue of the running job over the canvas"));
  connect(hudAction, &QAction::toggled, this, &MainWindow::setHudVisible);
  setIcon(zoomIn, QStringLiteral("zoom-in"));
  setIcon(zoomOut, QStringLiteral("zoom-out"));
  setIcon(fit, QStringLiteral("fit"));
  setIcon(hudAction, QStringLiteral("gpu-hud"));
  addThemeMenu(this, viewMenu_);
  viewMenu_->addSeparator();

  undo_ = new QUndoStack(this);
  auto* edit = menuBar()->insertMenu(viewMenu_->menuAction(), new QMenu(tr("&Edit"), this))->menu();
  auto* undo = undo_->createUndoAction(this, tr("&Undo"));
  undo->setShortcut(QKeySequence::Undo);
  auto* redo = undo_->createRedoAction(this, tr("&Redo"));
  // QKeySequence::Redo is Ctrl+Shift+Z here: naming it twice made Qt call the key ambiguous and
  // do nothing. Ctrl+Y is what Windows habits reach for.
  redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});
  edit->addAction(undo);
  edit->addAction(redo);
  setIcon(undo, QStringLiteral("undo"));
  setIcon(redo, QStringLiteral("redo"));

  auto* product = menuBar()->addMenu(tr("&Product"));
  cutoutAction_ = product->addAction(tr("&Cut Out"), this, &MainWindow::cutOutCurrentProduct);
  cutoutAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
  cutoutAction_->setToolTip(tr("Separate the product from its background (ISNet, or GrabCut without it)"));
  auto* generate = product->addAction(tr("&Generate Variants"), this,
                                      [this] { generateForCurrentProduct(generatePanel_->settings()); });
  generate->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_G));
  auto* exportAction = product->addAction(tr("&Export Selected Variants…"), this,
                                          [this] { exportVariants(variantGrid_->selectedIds()); });
  exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  auto* cancelAction = product->addAction(tr("C&ancel Generation"), this, &MainWindow::cancelGeneration);
  cancelAction->setObjectName("cancelGenerationAction");
  cancelAction->setEnabled(false);
  connect(jobs_, &JobQueue::jobChanged, cancelAction, [this, cancelAction] { cancelAction->setEnabled(generating()); });
  auto* compare = product->addAction(tr("Co&mpare Selected Variants"), this,
                                     [this] { compareVariants(variantGrid_->selectedIds()); });
  compare->setObjectName("compareAction");
  setIcon(cutoutAction_, QStringLiteral("cutout"));
  setIcon(generate, QStringLiteral("generate"));
  setIcon(exportAction, QStringLiteral("export"));
  setIcon(cancelAction, QStringLiteral("cancel"));
  setIcon(compare, QStringLiteral("compare"));
  product->addSeparator();
  createToolActions(product);

  auto* tools = menuBar()->addMenu(tr("&Tools"));
  createModelActions(tools);
  auto* training = tools->addAction(tr("&Training"), this, [this] {  // brings the Training dock to the front
    if (auto* dock = findChild<QDockWidget*>("trainingDock")) {
      dock->show();
      dock->raise();
    }
  });
  training->setObjectName("showTraining");
  setIcon(training, QStringLiteral("training"));

  auto* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Keyboard Shortcuts"), this, &MainWindow::showShortcuts)->setObjectName("showShortcuts");
  help->addAction(tr("How the &Ranking Works"), this, &MainWindow::showRankingHelp)->setObjectName("showRankingHelp");
  help->addSeparator();
  help->addAction(tr("&About CAIG Studio"), this, &MainWindow::showAbout)->setObjectName("showAbout");

  auto* toolbar = addToolBar(tr("Main"));
  toolbar->setObjectName("mainToolbar");
  for (QAction* a : {newProject, openProject, importShot}) toolbar->addAction(a);
  toolbar->addSeparator();
  for (QAction* a : {cutoutAction_, generate, cancelAction, compare, exportAction}) toolbar->addAction(a);
  toolbar->addSeparator();
  for (QAction* a : product->actions()) {
    if (a->isCheckable()) toolbar->addAction(a);
  }
  toolbar->addAction(undo);
  toolbar->addAction(redo);
  toolbar->addSeparator();
  for (QAction* a : {zoomIn, zoomOut, fit, hudAction}) toolbar->addAction(a);
}

void MainWindow::createToolActions(QMenu* menu) {
  auto* group = new QActionGroup(this);
  struct ToolRow {
    QString text;
    QKeySequence key;
    ProductCanvas::Tool tool;
    QString icon;
  };
  const ToolRow rows[] = {{tr("&Pan"), QKeySequence(Qt::Key_H), ProductCanvas::Tool::Pan, "pan"},
                          {tr("&Keep Brush"), QKeySequence(Qt::Key_B), ProductCanvas::Tool::KeepBrush, "keep-brush"},
                          {tr("&Remove Brush"), QKeySequence(Qt::Key_E), ProductCanvas::Tool::RemoveBrush,
                           "remove-brush"},
                          {tr("&Place"), QKeySequence(Qt::Key_P), ProductCanvas::Tool::Place, "place"}};
  for (const auto& row : rows) {
    auto* a = menu->addAction(row.text);
    a->setShortcut(row.key);
    a->setCheckable(true);
    a->setChecked(row.tool == ProductCanvas::Tool::Pan);
    a->setObjectName(row.text.mid(1).remove(' ') + "Tool");
    setIcon(a, row.icon);
    group->addAction(a);
    connect(a, &QAction::triggered, this, [this, tool = row.tool] {
      if (tool != ProductCanvas::Tool::Pan && !canvas_->hasMask()) {
        statusBar()->showMessage(tr("No cutout yet: paint the product with the Keep brush, or Cut Out (Ctrl+K)"), 5000);
      }
      canvas_->setTool(tool);
    });
  }
  menu->addSeparator();
  auto* bigger = menu->addAction(tr("Larger Brush"), this, [this] { canvas_->setBrushSize(canvas_->brushSize() * 5 / 4 + 1); });
  bigger->setShortcut(QKeySequence(Qt::Key_BracketRight));
  auto* smaller = menu->addAction(tr("Smaller Brush"), this, [this] { canvas_->setBrushSize(canvas_->brushSize() * 4 / 5); });
  smaller->setShortcut(QKeySequence(Qt::Key_BracketLeft));
  // The Place tool: drag, wheel or handle on the ad frame; each finished edit is stored and undoable.
  auto* resetPlacement = menu->addAction(tr("Reset Placement"), this, [this] { canvas_->placementView()->reset(); });
  resetPlacement->setObjectName("resetPlacement");
  resetPlacement->setToolTip(tr("Back to CAIG's placement: the product fills 0.78 of the ad, centred"));
  connect(canvas_->placementView(), &PlacementView::placementEdited, this,
          [this](const std::optional<caig::PlacementOverride>& before,
                 const std::optional<caig::PlacementOverride>& after, bool wheel) {
            if (!project_ || !currentProduct_) return;
            applyPlacement(currentProduct_, after);
            auto apply = [this](qint64 id, const std::optional<caig::PlacementOverride>& p) { applyPlacement(id, p); };
            const QString text = !after ? tr("Reset placement") : wheel ? tr("Scale product") : tr("Move product");
            undo_->push(new PlacementCommand(apply, currentProduct_, before, after, wheel, text));
          });
  connect(canvas_, &ProductCanvas::maskEdited, this, [this](const QImage& before, const QImage& after) {
    if (!project_ || !currentProduct_) return;
    applyMask(currentProduct_, after, QStringLiteral("painted"));
    undo_->push(new MaskCommand(this, currentProduct_, before, after, QStringLiteral("painted"), tr("Brush stroke")));
  });
}

void MainWindow::setHudVisible(bool on) {
  if (on && !hud_) {
    hud_ = new GpuHud;
    hud_->setObjectName("gpuHud");
    hud_->attachTo(canvas_);
    hud_->startDevicePolling(1000);
    updateHud();
  }
  if (hud_) hud_->setVisible(on);
}

void MainWindow::updateHud() {
  if (!hud_) return;
  HudStats stats = hud_->stats();  // keeps the polled device fields
  stats.jobName.clear();
  stats.queueLength = 0;
  for (int id : jobs_->jobIds()) {
    const JobInfo* info = jobs_->job(id);
    if (!info) continue;
    if (info->state == JobState::Running) stats.jobName = (info->kind + ": " + info->title).toStdString();
    else if (info->state == JobState::Queued) ++stats.queueLength;
  }
  const bool running = !stats.jobName.empty();
  stats.stepSeconds = running ? hudSteps_.stepSeconds() : 0;
  stats.itPerSecond = running ? hudSteps_.itPerSecond() : 0;
  stats.cpuFallback = !hudFallbackReason_.isEmpty() && !stats.cuda;
  stats.fallbackReason = hudFallbackReason_.toStdString();
  hud_->setStats(stats);
}

void MainWindow::applyMask(qint64 productId, const QImage& mask, const QString& engine) {
  if (!project_) return;
  try {
    if (!mask.isNull()) {
      project_->setCutout(productId, toMat(mask), engine.toStdString());
    } else if (auto p = project_->store().product(productId)) {  // undo of the first cutout
      p->cutoutPath.clear();
      p->cutoutEngine.clear();
      project_->store().updateProduct(*p);
    }
  } catch (const std::exception& e) {
    reportError(tr("Could not save the mask"), e.what());
    return;
  }
  if (productId == currentProduct_) canvas_->setMask(mask);
}

void MainWindow::applyPlacement(qint64 productId, const std::optional<caig::PlacementOverride>& placement) {
  if (!project_) return;
  PlacementView* view = canvas_->placementView();
  try {
    project_->store().setPlacement(productId, placement);
  } catch (const std::exception& e) {
    reportError(tr("Could not save the placement"), e.what());
    if (productId == currentProduct_) view->setPlacementOverride(project_->store().placement(productId));
    return;
  }
  if (productId == currentProduct_) view->setPlacementOverride(placement);
}

void MainWindow::createDocks() {
  auto* dock = new QDockWidget(tr("Product"), this);
  dock->setObjectName("productDock");
  productPanel_ = new ProductPanel(dock);
  dock->setWidget(productPanel_);
  addDockWidget(Qt::LeftDockWidgetArea, dock);
  viewMenu_->addAction(dock->toggleViewAction());
  connect(productPanel_, &ProductPanel::productSelected, this, &MainWindow::showProduct);
  connect(productPanel_, &ProductPanel::importRequested, this, &MainWindow::chooseAndImportShots);
  connect(productPanel_, &ProductPanel::deleteRequested, this, [this](qint64 id) { deleteProduct(id); });
  connect(productPanel_, &ProductPanel::productEdited, this, [this](qint64 id, const QString& t, const QString& c) {
    if (!project_) return;
    try {
      auto p = project_->store().product(id);
      if (!p) return;
      p->title = t.toStdString();
      p->category = c.toStdString();
      project_->store().updateProduct(*p);
      statusBar()->showMessage(tr("Saved"), 2000);
    } catch (const std::exception& e) {
      reportError(tr("Could not save the product"), e.what());
    }
  });

  auto* promptsDock = new QDockWidget(tr("Prompts"), this);
  promptsDock->setObjectName("promptListDock");  // the name saved window layouts know
  promptsPanel_ = new PromptsPanel(promptsDock);
  promptsDock->setWidget(promptsPanel_);
  addDockWidget(Qt::LeftDockWidgetArea, promptsDock);
  viewMenu_->addAction(promptsDock->toggleViewAction());
  connect(promptsPanel_, &PromptsPanel::errorOccurred, this, &MainWindow::reportError);
  auto* generateDock = new QDockWidget(tr("Generate"), this);
  generateDock->setObjectName("generateDock");
  generatePanel_ = new GeneratePanel(generateDock);
  generateDock->setWidget(generatePanel_);
  addDockWidget(Qt::RightDockWidgetArea, generateDock);
  viewMenu_->addAction(generateDock->toggleViewAction());
  connect(generatePanel_, &GeneratePanel::generateRequested, this, &MainWindow::generateForCurrentProduct);
  connect(generatePanel_, &GeneratePanel::cancelRequested, this, &MainWindow::cancelGeneration);
  connect(generatePanel_, &GeneratePanel::writePromptsRequested, this, &MainWindow::writePrompts);

  auto* variantDock = new QDockWidget(tr("Variants"), this);
  variantDock->setObjectName("variantDock");
  variantGrid_ = new VariantGrid(variantDock);
  variantDock->setWidget(variantGrid_);
  addDockWidget(Qt::RightDockWidgetArea, variantDock);
  viewMenu_->addAction(variantDock->toggleViewAction());
  connect(variantGrid_, &VariantGrid::variantShown, this, &MainWindow::showVariant);
  connect(variantGrid_, &VariantGrid::favouriteToggled, this, &MainWindow::setFavourite);
  connect(variantGrid_, &VariantGrid::sameSeedRequested, this, &MainWindow::regenerateVariant);
  connect(variantGrid_, &VariantGrid::compareRequested, this, [this](const QList<qint64>& ids) { compareVariants(ids); });
  connect(variantGrid_, &VariantGrid::exportRequested, this, [this](const QList<qint64>& ids) { exportVariants(ids); });
  connect(variantGrid_, &VariantGrid::rerankRequested, this, [this] { rankVariants(currentProduct_); });
  connect(variantGrid_, &VariantGrid::deleteRequested, this, [this](const QList<qint64>& ids) { deleteVariants(ids); });
  connect(generatePanel_, &GeneratePanel::rankerChanged, this, &MainWindow::refreshRanker);

  auto* jobsDock = new QDockWidget(tr("Jobs"), this);
  jobsDock->setObjectName("jobsDock");
  jobsPanel_ = new JobsPanel(jobs_, jobsDock);
  jobsDock->setWidget(jobsPanel_);
  addDockWidget(Qt::LeftDockWidgetArea, jobsDock);  // beside the canvas, visible while the grid fills
  viewMenu_->addAction(jobsDock->toggleViewAction());
  resizeDocks({generateDock, variantDock}, {150, 650}, Qt::Vertical);  // the grid gets the room

  auto* trainingDock = new QDockWidget(tr("Training"), this);
  trainingDock->setObjectName("trainingDock");
  trainingPanel_ = new TrainingPanel(jobs_, trainingDock);
  trainingDock->setWidget(trainingPanel_);
  refreshInstalledModels();  // the Generate and Training docks offer the installed neural models
  // A finished neural run may have left a standalone reward model: offer it as a ranker.
  // A built-in run changes the active ranker: the grid then offers to rank again.
  for (auto signal : {&TrainingPanel::trainingFinished, &TrainingPanel::resultImported})
    connect(trainingPanel_, signal, this, [this](bool ok) {
      if (ok) refreshInstalledModels();
      refreshRanker();
    });
  addDockWidget(Qt::RightDockWidgetArea, trainingDock);
  tabifyDockWidget(variantDock, trainingDock);  // a tab beside the variants; the grid stays in front
  variantDock->raise();
  viewMenu_->addAction(trainingDock->toggleViewAction());
  connect(jobs_, &JobQueue::jobFinished, this, [this](int id, JobState state, const QString& error) {
    if (state != JobState::Failed) return;
    const JobInfo* info = jobs_->job(id);
    reportError(tr("%1 failed").arg(info ? info->title : tr("A job")), error);
  });
  connect(jobs_, &JobQueue::jobChanged, this, [this] {
    const bool busy = !jobs_->isIdle();
    generatePanel_->setRunning(generating());
    statusBar()->showMessage(busy ? tr("Working… %1%").arg(qRound(jobs_->overallProgress() * 100)) : QString(), 3000);
  });
}

bool MainWindow::openProject(const QString& dir, QString* error) {
  try {
    auto opened = std::make_unique<caig::Project>(caig::Project::openOrCreate(dir.toStdString()));
    project_ = std::move(opened);
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
  currentProduct_ = 0;
  undo_->clear();
  trainingPanel_->setProject(project_.get());
  promptsPanel_->setProject(project_.get());  // never left pointing at the closed project
  const QString absolute = QFileInfo(dir).absoluteFilePath();
  setWindowTitle(tr("%1 — CAIG Studio").arg(QFileInfo(absolute).fileName()));
  setWindowFilePath(absolute);
  QSettings settings;
  settings.setValue("project/last", absolute);
  QStringList recent = settings.value("project/recent").toStringList();
  recent.removeAll(absolute);
  recent.prepend(absolute);
  settings.setValue("project/recent", recent.mid(0, kRecentProjects));
  refreshRecentMenu();
  refreshInstalledModels();  // this project's own trained models join the installed ones
  refreshProducts();
  const auto products = project_->store().products();
  if (!products.empty()) showProduct(products.front().id);
  else refreshRecords();
  return true;
}

QStringList MainWindow::recentProjects() { return QSettings().value("project/recent").toStringList(); }

void MainWindow::refreshRecentMenu() {
  recentMenu_->clear();
  const QStringList recent = recentProjects();
  for (const QString& dir : recent) {
    recentMenu_->addAction(QFileInfo(dir).fileName() + QStringLiteral("  —  ") + dir, this, [this, dir] {
      QString error;
      if (!openProject(dir, &error)) reportError(tr("Could not open the project"), error);
    });
  }
  if (recent.isEmpty()) recentMenu_->addAction(tr("(none yet)"))->setEnabled(false);
}

bool MainWindow::importProductShot(const QString& path, QString* error) {
  if (!project_) {
    if (error) *error = tr("Open or create a project first.");
    return false;
  }
  try {
    const auto product = project_->importProductShot(path.toStdString());
    refreshProducts();
    showProduct(product.id);
    statusBar()->showMessage(tr("Imported %1").arg(QFileInfo(path).fileName()), 3000);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

void MainWindow::importShots(const QStringList& paths) {
  for (const QString& f : paths) {
    QString error;
    if (!importProductShot(f, &error)) reportError(tr("Could not import %1").arg(QFileInfo(f).fileName()), error);
  }
}

int MainWindow::pasteShots() {
  const QMimeData* data = QGuiApplication::clipboard()->mimeData();
  if (!project_ || !data) return 0;
  QStringList paths;
  for (const QUrl& url : data->urls()) {
    if (url.isLocalFile()) paths << url.toLocalFile();
  }
  if (!paths.isEmpty()) {
    const auto before = project_->store().products().size();
    importShots(paths);
    return static_cast<int>(project_->store().products().size() - before);
  }
  const QImage image = data->hasImage() ? qvariant_cast<QImage>(data->imageData()) : QImage();
  if (image.isNull()) {
    statusBar()->showMessage(tr("The clipboard holds no image and no image files"), 4000);
    return 0;
  }
  // Through a PNG file, so that a pasted shot is imported exactly like a dropped one.
  QTemporaryDir tmp;
  const QString path =
      tmp.filePath(QStringLiteral("Pasted shot %1.png").arg(QDateTime::currentDateTime().toString("yyyy-MM-dd hh.mm.ss")));
  QString error;
  if (!tmp.isValid() || !image.save(path, "PNG")) {
    reportError(tr("Could not paste the image"), tr("no temporary file could be written"));
    return 0;
  }
  if (!importProductShot(path, &error)) {
    reportError(tr("Could not paste the image"), error);
    return 0;
  }
  return 1;
}

bool MainWindow::ensureDemoProducts(QString* error) {
  if (!project_) return false;
  try {
    if (project_->store().products().empty()) {
      caig::importDemoProducts(*project_, caig::resourceDir() / "demo");
      refreshProducts();
      showProduct(project_->store().products().front().id);
    }
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

void MainWindow::showProduct(qint64 id) {
  if (!project_) return;
  const auto product = project_->store().product(id);
  if (!product) return;
  if (id != currentProduct_) undo_->clear();  // undo history is per product
  currentProduct_ = id;
  try {
    canvas_->setImage(toQImage(caig::loadImage(project_->absolute(product->imagePath))));
    canvas_->setMaskEditable(true);
    const cv::Mat alpha = project_->cutout(id);
    if (!alpha.empty()) canvas_->setMask(toQImage(alpha));
    canvas_->placementView()->setPlacementOverride(project_->store().placement(id));
  } catch (const std::exception& e) {
    canvas_->setImage({});
    reportError(tr("Could not show the product shot"), e.what());
  }
  productPanel_->selectProduct(id);
  refreshRecords();
}

void MainWindow::showVariant(qint64 variantId) {
  if (!project_ || !currentProduct_) return;
  for (const auto& v : currentVariants()) {
    if (v.variant.id != variantId) continue;
    try {
      canvas_->setImage(toQImage(caig::loadImage(v.imagePath.toStdString())));
      canvas_->setMaskEditable(false);
      statusBar()->showMessage(v.prompt, 10000);
    } catch (const std::exception& e) {
      reportError(tr("Could not show the variant"), e.what());
    }
    return;
  }
}

bool MainWindow::confirmDelete(const QString& title, const QString& text) {
  QMessageBox box(QMessageBox::Question, title, text, QMessageBox::NoButton, this);
  box.setObjectName("confirmDelete");
  QPushButton* remove = box.addButton(tr("Delete"), QMessageBox::DestructiveRole);
  box.addButton(QMessageBox::Cancel);
  box.setDefaultButton(QMessageBox::Cancel);
  box.exec();
  return box.clickedButton() == remove;
}

bool MainWindow::deleteVariants(const QList<qint64>& variantIds, bool ask) {
  if (!project_ || variantIds.isEmpty()) return false;
  if (ask &&
      !confirmDelete(tr("Delete Variants"),
                     (variantIds.size() == 1
                          ? tr("Delete 1 variant and its image file from the project?")
                          : tr("Delete %1 variants and their image files from the project?").arg(variantIds.size())) +
                         tr(" This cannot be undone."))) {
    return false;
  }
  try {
    project_->removeVariants(std::vector<int64_t>(variantIds.begin(), variantIds.end()));
    statusBar()->showMessage(tr("Deleted %1 of the product's variants").arg(variantIds.size()), 5000);
  } catch (const std::exception& e) {
    reportError(tr("Could not delete the variants"), e.what());
    return false;
  }
  showProduct(currentProduct_);  // the canvas may have shown one of them
  return true;
}

bool MainWindow::deleteProduct(qint64 productId, bool ask) {
  if (!project_) return false;
  const auto product = project_->store().product(productId);
  if (!product) return false;
  const std::size_t variants = project_->store().variants(productId).size();
  if (ask &&
      !confirmDelete(tr("Delete Product"),
                     tr("Delete “%1” with its cutout, prompts and %2? Their files are removed from the "
                        "project; click data stays. This cannot be undone.")
                         .arg(q(product->title), variants == 1 ? tr("1 variant") : tr("%1 variants").arg(variants)))) {
    return false;
  }
  try {
    project_->removeProduct(productId);
  } catch (const std::exception& e) {
    reportError(tr("Could not delete the product"), e.what());
    return false;
  }
  statusBar()->showMessage(tr("Deleted “%1”").arg(q(product->title)), 5000);
  refreshProducts();
  if (productId == currentProduct_) {
    undo_->clear();  // its cutout and placement edits have nothing to apply to
    currentProduct_ = 0;
    const auto rest = project_->store().products();
    if (!rest.empty()) {
      showProduct(rest.front().id);
    } else {
      canvas_->setImage({});
      refreshRecords();
    }
  }
  return true;
}

void MainWindow::setFavourite(qint64 variantId, bool favourite) {
  if (!project_) return;
  try {
    project_->store().setFavourite(variantId, favourite);
  } catch (const std::exception& e) {
    reportError(tr("Could not save the favourite"), e.what());
  }
  refreshRecords();
}

CompareView* MainWindow::compareVariants(const QList<qint64>& variantIds) {
  if (!project_ || variantIds.size() < 2) {
    statusBar()->showMessage(tr("Select two or more variants to compare"), 5000);
    return nullptr;
  }
  auto* view = new CompareView(currentVariants(), variantIds, activeRanker(), this);
  view->setAttribute(Qt::WA_DeleteOnClose);
  view->show();
  return view;
}

std::vector<VariantView> MainWindow::currentVariants() const {
  if (!project_ || !currentProduct_) return {};
  return loadVariantViews(*project_, currentProduct_);
}

void MainWindow::refreshProducts() {
  const auto products = project_->store().products();
  std::vector<QString> shots;
  for (const auto& p : products) shots.push_back(q(project_->absolute(p.imagePath).string()));
  productPanel_->setProducts(products, shots);
}

void MainWindow::refreshRecords() {
  promptsPanel_->setProject(project_.get());
  promptsPanel_->setProduct(currentProduct_);
  if (!project_ || !currentProduct_) {
    variantGrid_->setVariants({});
    return;
  }
  refreshRanker();
  try {
    variantGrid_->setVariants(currentVariants());
  } catch (const std::exception& e) {
    reportError(tr("Could not read the variants"), e.what());
  }
}

caig::ActiveRanker MainWindow::activeRanker() const {
  if (!project_) return {};
  return caig::describeActiveRanker(*project_, generatePanel_->rankerModelDir().toStdString());
}

void MainWindow::refreshRanker() {
  if (project_) variantGrid_->setRanker(activeRanker());
}

void MainWindow::reportError(const QString& what, const QString& rawWhy) {
  const QString why = QString::fromStdString(caig::userMessage(rawWhy.toStdString()));  // no LibTorch backtrace
  statusBar()->showMessage(what + ": " + why, 8000);
  if (isVisible() && !QApplication::platformName().contains("offscreen")) {
    QMessageBox::warning(this, what, why);
  }
}

void MainWindow::chooseAndOpenProject(bool create) {
  const QString dir = QFileDialog::getExistingDirectory(
      this, create ? tr("New Project Folder (empty)") : tr("Open Project Folder"));
  if (dir.isEmpty()) return;
  QString error;
  if (create && !QDir(dir).isEmpty()) {
    reportError(tr("Could not create the project"), tr("%1 is not empty: choose an empty folder.").arg(dir));
    return;
  }
  if (!create && !caig::Project::isProject(dir.toStdString())) {
    reportError(tr("Could not open the project"), tr("%1 holds no CAIG project (project.caig).").arg(dir));
    return;
  }
  if (!openProject(dir, &error)) reportError(tr("Could not open the project"), error);
}

void MainWindow::chooseAndImportShots() {
  importShots(QFileDialog::getOpenFileNames(this, tr("Import Product Shots"), {},
                                            tr("Images (*.png *.jpg *.jpeg *.webp)")));
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  QStringList paths;
  for (const QUrl& url : event->mimeData()->urls()) {
    if (url.isLocalFile()) paths << url.toLocalFile();
  }
  importShots(paths);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/state", saveState());
  event->accept();
}

void MainWindow::showShortcuts() {
  // Built from the window's own actions, so the list cannot drift from what the keys do.
  std::map<QString, QString> rows;  // action text -> its shortcuts
  for (QAction* a : findChildren<QAction*>()) {
    if (a->shortcuts().isEmpty() || a->text().isEmpty()) continue;
    QStringList keys;
    for (const QKeySequence& k : a->shortcuts()) keys << k.toString(QKeySequence::NativeText);
    rows[a->text().remove('&').remove(QStringLiteral("...")).remove(QChar(0x2026))] = keys.join(QStringLiteral(", "));
  }
  auto* dialog = new QDialog(this);
  dialog->setObjectName("shortcutsDialog");
  dialog->setWindowTitle(tr("Keyboard Shortcuts"));
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  auto* table = new QTableWidget(static_cast<int>(rows.size()), 2, dialog);
  table->setObjectName("shortcutTable");
  table->setHorizontalHeaderLabels({tr("Action"), tr("Keys")});
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->verticalHeader()->hide();
  int row = 0;
  for (const auto& [text, keys] : rows) {
    table->setItem(row, 0, new QTableWidgetItem(text));
    table->setItem(row++, 1, new QTableWidgetItem(keys));
  }
  table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  table->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  auto* layout = new QVBoxLayout(dialog);
  layout->addWidget(table);
  layout->addWidget(new QLabel(tr("In the Prompts dock: F2 or a double click edits a prompt, Delete removes it.")));
  auto* close = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
  connect(close, &QDialogButtonBox::rejected, dialog, &QDialog::close);
  layout->addWidget(close);
  dialog->resize(460, 520);
  dialog->open();
}

void MainWindow::showRankingHelp() {
  auto* box = new QMessageBox(QMessageBox::Information, tr("How the Ranking Works"), tr("<b>How the ranking works</b>"),
                              QMessageBox::Ok, this);
  box->setObjectName("rankingHelp");
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setInformativeText(
      tr("The ranker compares variants in pairs, as CAIG's reward model does: for two ads of the same product "
         "it predicts which one would get more clicks. The comparisons are combined into one score per variant "
         "(a Bradley-Terry fit), and the variants are ranked by it.<br><br>"
         "<b>Predicted CTR lift</b> is how many more (or fewer) clicks a variant is predicted to get than the "
         "plain product shot on white (or than the best variant: the Variants dock lets you choose), with a "
         "95 % interval. The verdict says <i>likely better</i> or <i>likely worse</i> only when the whole "
         "interval lies on one side of zero, else <i>no clear difference</i>. Compare shows the same for any two "
         "variants, with P(A beats B).<br><br>"
         "The built-in ranker is <b>uncalibrated</b> until it is trained on your own click data (Training dock: "
         "import clicks, then Train). Untrained, it follows design rules: clean, bright, uncluttered images "
         "whose product stands out score higher, so the plain white original usually comes out ahead of every "
         "backdrop; that says nothing about clicks yet. After training, the Variants dock names the trained "
         "ranker and when it was trained, and offers to rank existing variants again. An installed LLaVA reward "
         "model can be chosen as the ranker in the Generate dock. A ranking is a prediction: A/B test the pairs "
         "Compare suggests before you trust it."));
  box->open();
}

void MainWindow::showAbout() {
  // Window-modal and not blocking, like the other dialogs, so a test (or a screenshot) can see it.
  auto* box = new QMessageBox(QMessageBox::Information, tr("About CAIG Studio"),
                              tr("<b>CAIG Studio %1</b>").arg(QString::fromStdString(caig::studioVersionLine())),
                              QMessageBox::Ok, this);
  box->setObjectName("aboutDialog");
  box->setIconPixmap(QIcon(":/app/caig-studio.svg").pixmap(64, 64));
  box->setAttribute(Qt::WA_DeleteOnClose);
  QString details = tr("Advertising backgrounds for product photos, ranked by predicted click-through rate "
                       "(the CAIG method, arXiv 2502.06823).<br><br>Qt %1 · resources in %2")
                        .arg(QString::fromLatin1(qVersion()), QString::fromStdString(caig::resourceDir().string()));
  if (project_) {
    const auto created = project_->store().setting("created_with");
    details += tr("<br>This project: schema %1, created with %2, last written by %3")
                   .arg(project_->store().schemaVersion())
                   .arg(QString::fromStdString(created.value_or("an older studio")),
                        QString::fromStdString(project_->store().setting("written_with").value_or("?")));
  }
  box->setInformativeText(details);
  box->open();
}

}  // namespace caig::ui
