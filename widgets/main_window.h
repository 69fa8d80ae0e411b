#pragma once
// The studio's main window: the canvas in the centre, docks for product, prompts, variants and
// jobs. It owns the open project; every edit is written to the project store at once.

#include <QMainWindow>
#include <memory>

namespace caig {
class Project;
}

class QLabel;
class QListWidget;

namespace caig::ui {

class ProductCanvas;
class ProductPanel;

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

  caig::Project* project() const { return project_.get(); }
  ProductCanvas* canvas() const { return canvas_; }
  ProductPanel* productPanel() const { return productPanel_; }
  qint64 currentProductId() const { return currentProduct_; }

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

  std::unique_ptr<caig::Project> project_;
  qint64 currentProduct_ = 0;
  ProductCanvas* canvas_ = nullptr;
  ProductPanel* productPanel_ = nullptr;
  QListWidget* prompts_ = nullptr;
  QListWidget* variants_ = nullptr;
  QListWidget* jobs_ = nullptr;
  QLabel* zoomLabel_ = nullptr;
  QMenu* viewMenu_ = nullptr;
};

}  // namespace caig::ui
