#pragma once
// The studio's main window: the canvas in the centre, docks for product, prompts, variants and
// jobs. It owns the open project; every edit is written to the project store at once.

#include <QElapsedTimer>
#include <QImage>
#include <QMainWindow>
#include <atomic>
#include <memory>

namespace caig {
class Project;
class CutoutEngine;
}  // namespace caig

class QAction;
class QLabel;
class QListWidget;
class QListWidgetItem;
class QUndoStack;

namespace caig::ui {

class ProductCanvas;
class ProductPanel;
class GeneratePanel;
struct GenerateSettings;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens (or creates, when the folder is absent or empty) a project. On failure the current
  // project stays open and `error` says why.
  bool openProject(const QString& dir, QString* error = nullptr);
  // Copies the shot into the project and shows it. Needs an open project.
  bool importProductShot(const QString& path, QString* error = nullptr);
  // Imports the bundled demo products when the project has no product yet.
  bool ensureDemoProducts(QString* error = nullptr);
  void showProduct(qint64 id);
  // Starts the cutout of the current product on a worker thread; `cutoutFinished` follows.
  void cutOutCurrentProduct();
  bool cutoutRunning() const { return cutoutRunning_; }
  QUndoStack* undoStack() const { return undo_; }
  // Generates variants of the current product with the built-in engines on a worker thread
  // (cutting it out first when needed); `generationFinished` follows.
  void generateForCurrentProduct(const GenerateSettings& settings);
  bool generating() const { return generating_; }
  void cancelGeneration();
  void showVariant(qint64 variantId);
  // Ranks all variants of a product with the built-in ranker on a worker thread and stores
  // ranks and P(beats the original); `rankingFinished` follows.
  void rankVariants(qint64 productId);
  // Stores `mask` as the current product's cutout and shows it (used by undo/redo too).
  void applyMask(qint64 productId, const QImage& mask, const QString& engine);

  caig::Project* project() const { return project_.get(); }
  ProductCanvas* canvas() const { return canvas_; }
  ProductPanel* productPanel() const { return productPanel_; }
  qint64 currentProductId() const { return currentProduct_; }

 Q_SIGNALS:
  void cutoutFinished(bool ok, const QString& engineOrError);
  void generationFinished(int variantsSaved, const QString& error);
  void rankingFinished(int variantsRanked, const QString& error);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;

 private:
  void createActions();
  void createDocks();
  void refreshProducts();
  void refreshRecords();
  void reportError(const QString& what, const QString& why);
  void chooseAndOpenProject(bool create);
  void chooseAndImportShots();
  void createToolActions(QMenu* menu);

  std::unique_ptr<caig::Project> project_;
  qint64 currentProduct_ = 0;
  ProductCanvas* canvas_ = nullptr;
  ProductPanel* productPanel_ = nullptr;
  QListWidget* prompts_ = nullptr;
  QListWidget* variants_ = nullptr;
  QListWidget* jobs_ = nullptr;
  GeneratePanel* generatePanel_ = nullptr;
  QLabel* zoomLabel_ = nullptr;
  QMenu* viewMenu_ = nullptr;
  QUndoStack* undo_ = nullptr;
  QAction* cutoutAction_ = nullptr;
  std::shared_ptr<caig::CutoutEngine> cutoutEngine_;  // loaded once, reused
  QString cutoutNote_;
  bool cutoutRunning_ = false;
  bool generating_ = false;
  std::shared_ptr<std::atomic_bool> cancelGeneration_;
};

}  // namespace caig::ui
