#include "widgets/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileInfo>
#include <QFileDialog>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QActionGroup>
#include <QFutureWatcher>
#include <QImageReader>
#include <QPointer>
#include <nlohmann/json.hpp>
#include <QToolBar>
#include <QUndoStack>
#include <QVBoxLayout>
#include <QtConcurrent>

#include "core/builtin_generation.h"
#include "core/builtin_ranker.h"
#include "core/variant_ranking.h"
#include "core/cutout_engines.h"
#include "core/demo_products.h"
#include "core/image_io.h"
#include "core/project.h"
#include "core/resources.h"
#include "widgets/generate_panel.h"
#include "widgets/product_canvas.h"
#include "widgets/product_panel.h"
#include "widgets/qt_image.h"

namespace caig::ui {

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

cv::Mat toMat(const QImage& grey) {
  const QImage g = grey.convertToFormat(QImage::Format_Grayscale8);
  return cv::Mat(g.height(), g.width(), CV_8UC1, const_cast<uchar*>(g.constBits()),
                 static_cast<size_t>(g.bytesPerLine()))
      .clone();
}

// One brush stroke or one cutout run: the product's mask before and after.
class MaskCommand : public QUndoCommand {
 public:
  MaskCommand(MainWindow* window, qint64 productId, QImage before, QImage after, QString engine,
              const QString& text)
      : QUndoCommand(text), window_(window), productId_(productId), before_(std::move(before)),
        after_(std::move(after)), engine_(std::move(engine)) {}
  void undo() override { window_->applyMask(productId_, before_, QStringLiteral("painted")); }
  void redo() override {
    if (first_) {  // the mask is already applied when the command is pushed
      first_ = false;
      return;
    }
    window_->applyMask(productId_, after_, engine_);
  }

 private:
  MainWindow* window_;
  qint64 productId_;
  QImage before_, after_;
  QString engine_;
  bool first_ = true;
};

// What the worker thread hands back.
struct CutoutOutcome {
  std::shared_ptr<caig::CutoutEngine> engine;
  QString note;
  cv::Mat alpha;
  QString error;
};

// A dock holding a list and a one-line explanation of what will appear in it.
QListWidget* addListDock(QMainWindow* window, QMenu* viewMenu, const QString& title, const QString& objectName,
                         const QString& hint, Qt::DockWidgetArea area) {
  auto* dock = new QDockWidget(title, window);
  dock->setObjectName(objectName + "Dock");
  auto* body = new QWidget(dock);
  auto* layout = new QVBoxLayout(body);
  auto* list = new QListWidget(body);
  list->setObjectName(objectName);
  auto* label = new QLabel(hint, body);
  label->setWordWrap(true);
  label->setStyleSheet("color: palette(mid);");
  layout->addWidget(list, 1);
  layout->addWidget(label);
  dock->setWidget(body);
  window->addDockWidget(area, dock);
  viewMenu->addAction(dock->toggleViewAction());
  return list;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle(tr("CAIG Studio"));
  setAcceptDrops(true);
  canvas_ = new ProductCanvas(this);
  canvas_->setObjectName("canvas");
  setCentralWidget(canvas_);
  createActions();
  createDocks();
  zoomLabel_ = new QLabel(this);
  statusBar()->addPermanentWidget(zoomLabel_);
  connect(canvas_, &ProductCanvas::zoomChanged, this,
          [this](double z) { zoomLabel_->setText(tr("Zoom %1%").arg(qRound(z * 100))); });
  resize(1280, 800);
  QSettings settings;
  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* newProject = file->addAction(tr("&New Project…"), this, [this] { chooseAndOpenProject(true); });
  newProject->setShortcut(QKeySequence::New);
  auto* openProject = file->addAction(tr("&Open Project…"), this, [this] { chooseAndOpenProject(false); });
  openProject->setShortcut(QKeySequence::Open);
  auto* importShot = file->addAction(tr("&Import Product Shot…"), this, [this] { chooseAndImportShots(); });
  importShot->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
  file->addSeparator();
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

  undo_ = new QUndoStack(this);
  auto* edit = menuBar()->insertMenu(viewMenu_->menuAction(), new QMenu(tr("&Edit"), this))->menu();
  auto* undo = undo_->createUndoAction(this, tr("&Undo"));
  undo->setShortcut(QKeySequence::Undo);
  auto* redo = undo_->createRedoAction(this, tr("&Redo"));
  redo->setShortcuts({QKeySequence::Redo, QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)});
  edit->addAction(undo);
  edit->addAction(redo);

  auto* product = menuBar()->addMenu(tr("&Product"));
  cutoutAction_ = product->addAction(tr("&Cut Out"), this, &MainWindow::cutOutCurrentProduct);
  cutoutAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
  cutoutAction_->setToolTip(tr("Separate the product from its background (ISNet, or GrabCut without it)"));
  auto* generate = product->addAction(tr("&Generate Variants"), this,
                                      [this] { generateForCurrentProduct(generatePanel_->settings()); });
  generate->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_G));
  product->addSeparator();
  createToolActions(product);

  auto* toolbar = addToolBar(tr("Main"));
  toolbar->setObjectName("mainToolbar");
  for (QAction* a : {openProject, importShot, zoomIn, zoomOut, fit}) toolbar->addAction(a);
  toolbar->addSeparator();
  toolbar->addAction(cutoutAction_);
  for (QAction* a : product->actions()) {
    if (a->isCheckable()) toolbar->addAction(a);
  }
  toolbar->addAction(undo);
  toolbar->addAction(redo);
}

void MainWindow::createToolActions(QMenu* menu) {
  auto* group = new QActionGroup(this);
  struct ToolRow {
    QString text;
    QKeySequence key;
    ProductCanvas::Tool tool;
  };
  const ToolRow rows[] = {{tr("&Pan"), QKeySequence(Qt::Key_H), ProductCanvas::Tool::Pan},
                          {tr("&Keep Brush"), QKeySequence(Qt::Key_B), ProductCanvas::Tool::KeepBrush},
                          {tr("&Remove Brush"), QKeySequence(Qt::Key_E), ProductCanvas::Tool::RemoveBrush}};
  for (const auto& row : rows) {
    auto* a = menu->addAction(row.text);
    a->setShortcut(row.key);
    a->setCheckable(true);
    a->setChecked(row.tool == ProductCanvas::Tool::Pan);
    a->setObjectName(row.text.mid(1).remove(' ') + "Tool");
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
  connect(canvas_, &ProductCanvas::maskEdited, this, [this](const QImage& before, const QImage& after) {
    if (!project_ || !currentProduct_) return;
    applyMask(currentProduct_, after, QStringLiteral("painted"));
    undo_->push(new MaskCommand(this, currentProduct_, before, after, QStringLiteral("painted"), tr("Brush stroke")));
  });
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

void MainWindow::cutOutCurrentProduct() {
  if (!project_ || !currentProduct_ || cutoutRunning_) return;
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  cv::Mat shot;
  try {
    shot = caig::loadImage(project_->absolute(product->imagePath));
  } catch (const std::exception& e) {
    reportError(tr("Could not read the product shot"), e.what());
    return;
  }
  cutoutRunning_ = true;
  cutoutAction_->setEnabled(false);
  auto* job = new QListWidgetItem(tr("Cut out “%1” — running…").arg(q(product->title)), jobs_);
  statusBar()->showMessage(tr("Cutting out…"));
  auto timer = std::make_shared<QElapsedTimer>();
  timer->start();

  auto engine = cutoutEngine_;
  const QString knownNote = cutoutNote_;
  auto* watcher = new QFutureWatcher<CutoutOutcome>(this);
  const qint64 productId = currentProduct_;
  const QImage before = canvas_->mask();
  connect(watcher, &QFutureWatcher<CutoutOutcome>::finished, this,
          [this, watcher, job, timer, productId, before, title = q(product->title)] {
            const CutoutOutcome out = watcher->result();
            watcher->deleteLater();
            cutoutRunning_ = false;
            cutoutAction_->setEnabled(true);
            if (!out.error.isEmpty()) {
              job->setText(tr("Cut out “%1” — failed: %2").arg(title, out.error));
              reportError(tr("Cutout failed"), out.error + tr("\nYou can paint the product with the Keep brush (B)."));
              Q_EMIT cutoutFinished(false, out.error);
              return;
            }
            cutoutEngine_ = out.engine;
            cutoutNote_ = out.note;
            const QString name = q(out.engine->name());
            const double seconds = timer->elapsed() / 1000.0;
            job->setText(tr("Cut out “%1” — %2, %3 s").arg(title, name).arg(seconds, 0, 'f', 1));
            const QImage mask = toQImage(out.alpha);
            if (project_ && project_->store().product(productId)) {
              applyMask(productId, mask, name);
              undo_->push(new MaskCommand(this, productId, before, mask, name, tr("Cut out")));
            }
            const double coverage = cv::countNonZero(out.alpha > 127) / double(out.alpha.total());
            if (coverage < 0.002) {
              statusBar()->showMessage(tr("No product found in this shot: paint it with the Keep brush (B)"), 10000);
            } else {
              statusBar()->showMessage(out.note.isEmpty() ? tr("Cut out with %1").arg(name) : out.note, 10000);
            }
            Q_EMIT cutoutFinished(true, name);
          });
  watcher->setFuture(QtConcurrent::run([engine, knownNote, shot]() -> CutoutOutcome {
    CutoutOutcome out{engine, knownNote, {}, {}};
    try {
      if (!out.engine) {
        auto choice = caig::chooseCutoutEngine();
        out.engine = std::shared_ptr<caig::CutoutEngine>(std::move(choice.engine));
        out.note = QString::fromStdString(choice.note);
      }
      out.alpha = out.engine->alpha(shot);
    } catch (const std::exception& e) {
      out.error = QString::fromUtf8(e.what());
    }
    return out;
  }));
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

  prompts_ = addListDock(this, viewMenu_, tr("Prompts"), "promptList",
                         tr("Background prompts written for this product appear here."), Qt::LeftDockWidgetArea);
  auto* generateDock = new QDockWidget(tr("Generate"), this);
  generateDock->setObjectName("generateDock");
  generatePanel_ = new GeneratePanel(generateDock);
  generateDock->setWidget(generatePanel_);
  addDockWidget(Qt::RightDockWidgetArea, generateDock);
  viewMenu_->addAction(generateDock->toggleViewAction());
  connect(generatePanel_, &GeneratePanel::generateRequested, this, &MainWindow::generateForCurrentProduct);
  connect(generatePanel_, &GeneratePanel::cancelRequested, this, &MainWindow::cancelGeneration);

  variants_ = addListDock(this, viewMenu_, tr("Variants"), "variantList",
                          tr("Generated backgrounds with their predicted CTR rank appear here."),
                          Qt::RightDockWidgetArea);
  variants_->setViewMode(QListView::IconMode);
  variants_->setIconSize(QSize(128, 128));
  variants_->setResizeMode(QListView::Adjust);
  variants_->setMovement(QListView::Static);
  variants_->setSpacing(4);
  variants_->setWordWrap(true);
  connect(variants_, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
    if (item) showVariant(item->data(Qt::UserRole).toLongLong());
  });
  jobs_ = addListDock(this, viewMenu_, tr("Jobs"), "jobList", tr("Queued and running jobs."),
                      Qt::RightDockWidgetArea);
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
  setWindowTitle(tr("%1 — CAIG Studio").arg(QFileInfo(dir).fileName()));
  QSettings().setValue("project/last", dir);
  refreshProducts();
  const auto products = project_->store().products();
  if (!products.empty()) showProduct(products.front().id);
  return true;
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
  } catch (const std::exception& e) {
    canvas_->setImage({});
    reportError(tr("Could not show the product shot"), e.what());
  }
  productPanel_->selectProduct(id);
  refreshRecords();
}

void MainWindow::showVariant(qint64 variantId) {
  if (!project_ || !currentProduct_) return;
  for (const auto& v : project_->store().variants(currentProduct_)) {
    if (v.id != variantId) continue;
    try {
      canvas_->setImage(toQImage(caig::loadImage(project_->absolute(v.imagePath))));
      canvas_->setMaskEditable(false);
      statusBar()->showMessage(variants_->currentItem() ? variants_->currentItem()->toolTip() : QString(), 10000);
    } catch (const std::exception& e) {
      reportError(tr("Could not show the variant"), e.what());
    }
    return;
  }
}

void MainWindow::cancelGeneration() {
  if (cancelGeneration_) cancelGeneration_->store(true);
}

void MainWindow::generateForCurrentProduct(const GenerateSettings& settings) {
  if (!project_ || !currentProduct_ || generating_) return;
  const auto product = project_->store().product(currentProduct_);
  if (!product) return;
  cv::Mat shot, alpha;
  try {
    shot = caig::loadImage(project_->absolute(product->imagePath));
    alpha = project_->cutout(product->id);
  } catch (const std::exception& e) {
    reportError(tr("Could not read the product"), e.what());
    return;
  }
  caig::BuiltinRequest request;
  request.presetId = settings.presetId.toStdString();
  request.variants = settings.variants;
  request.seed = settings.seed;

  generating_ = true;
  generatePanel_->setRunning(true);
  cancelGeneration_ = std::make_shared<std::atomic_bool>(false);
  const QString title = q(product->title);
  auto* job = new QListWidgetItem(tr("Generate %1 for “%2” — starting").arg(settings.variants).arg(title), jobs_);
  jobs_->scrollToItem(job);

  struct Outcome {
    std::vector<caig::BuiltinVariant> variants;
    cv::Mat newCutout;  // set when the job had to cut the product out first
    std::shared_ptr<caig::CutoutEngine> engine;
    QString error;
  };
  auto engine = cutoutEngine_;
  auto cancel = cancelGeneration_;
  const std::string category = product->category;
  QPointer<QListWidget> jobs = jobs_;
  auto report = [this, jobs, job, title](const QString& state) {
    QMetaObject::invokeMethod(this, [jobs, job, title, state] {
      if (jobs) job->setText(QObject::tr("Generate for “%1” — %2").arg(title, state));
    }, Qt::QueuedConnection);
  };
  auto* watcher = new QFutureWatcher<Outcome>(this);
  const qint64 productId = product->id;
  connect(watcher, &QFutureWatcher<Outcome>::finished, this, [this, watcher, job, title, productId, request] {
    Outcome out = watcher->result();
    watcher->deleteLater();
    generating_ = false;
    generatePanel_->setRunning(false);
    if (out.engine) cutoutEngine_ = out.engine;
    int saved = 0;
    if (out.error.isEmpty() && project_ && project_->store().product(productId)) {
      try {
        if (!out.newCutout.empty()) applyMask(productId, toQImage(out.newCutout), q(out.engine->name()));
        saved = static_cast<int>(caig::saveBuiltinVariants(*project_, productId, out.variants, request).size());
      } catch (const std::exception& e) {
        out.error = e.what();
      }
    }
    if (!out.error.isEmpty()) {
      job->setText(tr("Generate for “%1” — failed: %2").arg(title, out.error));
      reportError(tr("Generation failed"), out.error);
    } else {
      const bool cancelled = saved < request.variants;
      job->setText(tr("Generate for “%1” — %2 variants%3").arg(title).arg(saved).arg(cancelled ? tr(" (cancelled)") : QString()));
      generatePanel_->advanceSeed();
      if (productId == currentProduct_) refreshRecords();
      statusBar()->showMessage(tr("%1 variants generated").arg(saved), 5000);
    }
    Q_EMIT generationFinished(saved, out.error);
    if (saved > 0) rankVariants(productId);
  });
  watcher->setFuture(QtConcurrent::run([shot, alpha, title, category, request, engine, cancel, report]() -> Outcome {
    Outcome out;
    out.engine = engine;
    try {
      cv::Mat productAlpha = alpha;
      if (productAlpha.empty()) {
        report(QObject::tr("cutting out"));
        if (!out.engine) out.engine = std::shared_ptr<caig::CutoutEngine>(caig::chooseCutoutEngine().engine);
        productAlpha = out.newCutout = out.engine->alpha(shot);
      }
      out.variants = caig::renderBuiltinVariants(shot, productAlpha, title.toStdString(), category, request,
                                                 [&](int done, int total) {
                                                   report(QObject::tr("%1/%2").arg(done).arg(total));
                                                   return !cancel->load();
                                                 });
    } catch (const std::exception& e) {
      out.error = QString::fromUtf8(e.what());
    }
    return out;
  }));
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
  struct Outcome {
    std::vector<caig::VariantRanking> rankings;
    std::string rankerId;
    QString error;
  };
  auto* job = new QListWidgetItem(tr("Rank %1 variants of “%2” — running").arg(files.size()).arg(q(product->title)), jobs_);
  auto* watcher = new QFutureWatcher<Outcome>(this);
  connect(watcher, &QFutureWatcher<Outcome>::finished, this, [this, watcher, job, productId] {
    Outcome out = watcher->result();
    watcher->deleteLater();
    if (out.error.isEmpty() && project_) {
      try {
        caig::storeRankings(project_->store(), out.rankings, out.rankerId);
      } catch (const std::exception& e) {
        out.error = e.what();
      }
    }
    job->setText(out.error.isEmpty() ? tr("Ranked %1 variants (%2, uncalibrated prior until trained on clicks)")
                                           .arg(out.rankings.size())
                                           .arg(q(out.rankerId))
                                     : tr("Ranking failed: %1").arg(out.error));
    if (productId == currentProduct_) refreshRecords();
    Q_EMIT rankingFinished(static_cast<int>(out.rankings.size()), out.error);
  });
  const caig::RankContext ctx{product->title, product->category};
  watcher->setFuture(QtConcurrent::run([files, shotPath, alpha, ctx]() -> Outcome {
    Outcome out;
    try {
      std::vector<caig::VariantImage> images;
      for (const auto& [id, path] : files) images.push_back({id, caig::loadImage(path)});
      caig::BuiltinRanker ranker;
      out.rankings = caig::rankVariants(ranker, caig::loadImage(shotPath), alpha, images, ctx);
      out.rankerId = ranker.id();
    } catch (const std::exception& e) {
      out.error = QString::fromUtf8(e.what());
    }
    return out;
  }));
}

void MainWindow::refreshProducts() {
  const auto products = project_->store().products();
  std::vector<QString> shots;
  for (const auto& p : products) shots.push_back(q(project_->absolute(p.imagePath).string()));
  productPanel_->setProducts(products, shots);
}

void MainWindow::refreshRecords() {
  prompts_->clear();
  variants_->clear();
  if (!project_ || !currentProduct_) return;
  for (const auto& p : project_->store().prompts(currentProduct_)) {
    prompts_->addItem(q(p.text) + QStringLiteral("  [") + q(p.source) + QStringLiteral("]"));
  }
  const QSignalBlocker block(variants_);  // refilling must not switch the canvas to a variant
  auto variants = project_->store().variants(currentProduct_);
  std::stable_sort(variants.begin(), variants.end(), [](const caig::Variant& a, const caig::Variant& b) {
    return a.rank.value_or(1 << 30) < b.rank.value_or(1 << 30);  // best first; unranked keep their order
  });
  for (const auto& v : variants) {
    QString label = tr("seed %1").arg(v.seed);
    try {
      const auto params = nlohmann::json::parse(v.paramsJson);
      if (params.contains("style")) label = q(params.at("style").get<std::string>());
    } catch (const std::exception&) {
      // parameters are informative only; an unreadable entry keeps the seed label
    }
    if (v.rank) label = tr("#%1 · %2").arg(*v.rank).arg(label);
    if (v.winProbability) label += tr("\nP(beats original) %1").arg(*v.winProbability, 0, 'f', 2);
    QImageReader reader(q(project_->absolute(v.imagePath).string()));
    reader.setScaledSize(reader.size().scaled(128, 128, Qt::KeepAspectRatio));
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(reader.read())), label, variants_);
    item->setData(Qt::UserRole, static_cast<qlonglong>(v.id));
    for (const auto& p : project_->store().prompts(currentProduct_)) {
      if (v.promptId && p.id == *v.promptId) item->setToolTip(q(p.text));
    }
  }
}

void MainWindow::reportError(const QString& what, const QString& why) {
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
  if (!openProject(dir, &error)) reportError(tr("Could not open the project"), error);
}

void MainWindow::chooseAndImportShots() {
  const QStringList files = QFileDialog::getOpenFileNames(this, tr("Import Product Shots"), {},
                                                          tr("Images (*.png *.jpg *.jpeg *.webp)"));
  for (const QString& f : files) {
    QString error;
    if (!importProductShot(f, &error)) reportError(tr("Could not import %1").arg(QFileInfo(f).fileName()), error);
  }
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  for (const QUrl& url : event->mimeData()->urls()) {
    if (!url.isLocalFile()) continue;
    QString error;
    if (!importProductShot(url.toLocalFile(), &error)) {
      reportError(tr("Could not import %1").arg(url.fileName()), error);
    }
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/state", saveState());
  event->accept();
}

}  // namespace caig::ui
