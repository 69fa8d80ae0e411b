// The studio workflow end to end through the UI, in a real X server: the demo project, the
// built-in main job started with the Generate button, the ranked grid, favourites and filters,
// Compare, Export (files + manifest), "same seed again", reopening the project, and a corrupt
// shot dropped in through the import path (a clear dialog, nothing lost). Screenshots of each
// stage go to the build folder.

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QTimer>
#include <QtTest>
#include <functional>

#include "core/project/export.h"
#include "core/project/project.h"
#include "gui_test_support.h"
#include "widgets/compare_view.h"
#include "widgets/export_dialog.h"
#include "widgets/job_queue.h"
#include "widgets/main_window.h"
#include "widgets/variant_grid.h"

using caig::ui::MainWindow;

namespace {

using caig::test::onNextModal;
using caig::test::screenshot;

void selectRows(QListWidget* list, std::initializer_list<int> rows) {
  list->clearSelection();
  for (int r : rows) list->item(r)->setSelected(true);
}

}  // namespace

class StudioWorkflowTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("CAIG Studio Tests");
    QCoreApplication::setApplicationName("caig-studio-workflow-test");
    QSettings().clear();
    qputenv("CAIG_ISNET_DIR", tmp_.filePath("no-isnet").toUtf8());  // GrabCut: fast, no weights
  }

  void runsTheMainJobExportsAndReopens() {
    const QString dir = tmp_.filePath("Demo Project");
    std::vector<int> ranks;
    {
      MainWindow window;
      QVERIFY(window.openProject(dir));
      QVERIFY(window.ensureDemoProducts());
      window.resize(1500, 950);
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      QVERIFY(window.windowTitle().startsWith("Demo Project"));
      QCOMPARE(MainWindow::recentProjects().value(0), QFileInfo(dir).absoluteFilePath());

      // Generate through the panel: 4 variants at 512 px, then the queue ranks them.
      auto* preset = window.findChild<QComboBox*>("presetCombo");
      auto* count = window.findChild<QSpinBox*>("variantCount");
      auto* generate = window.findChild<QPushButton*>("generateButton");
      QVERIFY(preset && count && generate);
      preset->setCurrentIndex(preset->findData(QStringLiteral("1:1-512")));
      count->setValue(4);
      QSignalSpy ranked(&window, &MainWindow::rankingFinished);
      QTest::mouseClick(generate, Qt::LeftButton);
      QVERIFY(!window.jobQueue()->isIdle());
      QTRY_VERIFY_WITH_TIMEOUT(!ranked.isEmpty() && window.jobQueue()->isIdle(), 180000);
      QCOMPARE(ranked.at(0).at(0).toInt(), 4);
      QVERIFY2(ranked.at(0).at(1).toString().isEmpty(), qPrintable(ranked.at(0).at(1).toString()));

      auto* grid = window.findChild<QListWidget*>("variantList");
      QVERIFY(grid);
      QCOMPARE(grid->count(), 4);
      QCOMPARE(window.findChild<QListWidget*>("jobList")->count(), 2);  // generate, then rank
      for (int i = 0; i < 4; ++i) QVERIFY2(grid->item(i)->text().startsWith(QStringLiteral("#%1").arg(i + 1)), qPrintable(grid->item(i)->text()));
      selectRows(grid, {0});
      grid->setCurrentRow(0, QItemSelectionModel::NoUpdate);
      auto* details = window.findChild<QTextBrowser*>("variantDetails");
      QVERIFY(details->toPlainText().contains("Seed"));
      QVERIFY(details->toPlainText().contains("builtin"));
      QVERIFY(details->toPlainText().contains("±"));  // the score's standard error is shown
      screenshot(window, "gui_workflow_generated.png");

      // Favourite the best one; the filter shows it alone; the search filters by prompt.
      QTest::mouseClick(window.findChild<QPushButton*>("favouriteButton"), Qt::LeftButton);
      const qint64 best = window.variantGrid()->selectedIds().value(0);
      const auto product = window.currentProductId();
      int favourites = 0;
      for (const auto& v : window.project()->store().variants(product)) favourites += v.favourite;
      QCOMPARE(favourites, 1);
      auto* onlyFavourites = window.findChild<QCheckBox*>("favouritesOnly");
      onlyFavourites->setChecked(true);
      QCOMPARE(grid->count(), 1);
      QCOMPARE(window.variantGrid()->shownIds().value(0), best);
      QVERIFY(grid->item(0)->text().contains(QStringLiteral("★")));
      onlyFavourites->setChecked(false);
      window.findChild<QLineEdit*>("variantSearch")->setText("no prompt says this");
      QCOMPARE(grid->count(), 0);
      window.findChild<QLineEdit*>("variantSearch")->clear();
      QCOMPARE(grid->count(), 4);
      window.findChild<QComboBox*>("variantSort")->setCurrentIndex(2);  // newest first
      const QList<qint64> newest = window.variantGrid()->shownIds();
      QVERIFY(std::is_sorted(newest.rbegin(), newest.rend()));
      window.findChild<QComboBox*>("variantSort")->setCurrentIndex(0);

      // Compare the two best.
      selectRows(grid, {0, 1});
      QTest::mouseClick(window.findChild<QPushButton*>("compareButton"), Qt::LeftButton);
      auto* compare = window.findChild<caig::ui::CompareView*>("compareView");
      QVERIFY(compare);
      QVERIFY(QTest::qWaitForWindowExposed(compare));
      QCOMPARE(compare->matrix()->rowCount(), 4);
      QVERIFY(compare->pairSummary()->text().contains("P(#1"));
      QVERIFY(compare->pairSummary()->text().contains("interval"));
      const double p12 = compare->matrix()->item(0, 1)->text().toDouble();
      const double p21 = compare->matrix()->item(1, 0)->text().toDouble();
      QVERIFY(p12 >= 0.5);  // #1 is predicted to beat #2
      QVERIFY(std::abs(p12 + p21 - 1.0) < 0.011);
      QVERIFY(compare->testNext()->count() > 0);
      screenshot(*compare, "gui_workflow_compare.png");
      // Clicking a cell of the matrix puts that pair side by side.
      const QRect cell = compare->matrix()->visualItemRect(compare->matrix()->item(2, 3));
      QTest::mouseClick(compare->matrix()->viewport(), Qt::LeftButton, {}, cell.center());
      QCOMPARE(compare->shownIds().size(), 2);
      QVERIFY2(compare->pairSummary()->text().contains("P(#3") && compare->pairSummary()->text().contains("beats #4"),
               qPrintable(compare->pairSummary()->text()));
      // A 1280x720 screen (690 px available): the dialog fits, with smaller thumbnails.
      compare->fitToScreen(QRect(0, 0, 1280, 690));
      QTest::qWait(50);
      QVERIFY2(compare->frameGeometry().height() <= 690, qPrintable(QString::number(compare->frameGeometry().height())));
      QVERIFY(compare->minimumSizeHint().height() <= 650);
      QVERIFY(compare->thumbnailSide() < 280);
      const auto thumbs = compare->findChildren<QLabel*>("compareThumbnail");
      QCOMPARE(thumbs.size(), 2);
      for (const QLabel* t : thumbs) QVERIFY(t->pixmap().height() <= compare->thumbnailSide());
      screenshot(*compare, "gui_workflow_compare_720.png");
      compare->close();

      // Export the two best at two sizes, as JPEG, through the dialog.
      const QString out = tmp_.filePath("ads");
      bool dialogSeen = false;
      onNextModal([&](QWidget* modal) {
        auto* dialog = qobject_cast<caig::ui::ExportDialog*>(modal);
        if (!dialog) return;
        dialogSeen = true;
        dialog->findChild<QCheckBox*>("preset_4:5")->setChecked(false);
        dialog->findChild<QCheckBox*>("preset_1.91:1")->setChecked(false);
        dialog->findChild<QComboBox*>("exportFormat")->setCurrentIndex(1);
        // Room for copy only applies to frames that are drawn.
        auto* frames = dialog->findChild<QComboBox*>("exportFrames");
        auto* copy = dialog->findChild<QComboBox*>("exportCopySpace");
        QCOMPARE(frames->currentData().toString(), QString("draw"));
        frames->setCurrentIndex(frames->findData(QStringLiteral("fit")));
        QVERIFY(!copy->isEnabled());
        frames->setCurrentIndex(frames->findData(QStringLiteral("outpaint")));
        QVERIFY(copy->isEnabled());
        frames->setCurrentIndex(0);
        QVERIFY(copy->isEnabled());
        dialog->setFolder(out);
        screenshot(*dialog, "gui_workflow_export_dialog.png");
        dialog->accept();
      });
      QSignalSpy exported(&window, &MainWindow::exportFinished);
      QTest::mouseClick(window.findChild<QPushButton*>("exportButton"), Qt::LeftButton);
      QVERIFY(dialogSeen);
      QVERIFY(exported.wait(60000));
      QVERIFY2(exported.at(0).at(1).toString().isEmpty(), qPrintable(exported.at(0).at(1).toString()));
      QCOMPARE(exported.at(0).at(0).toInt(), 4);
      const QStringList files = QDir(out).entryList({"*.jpg"}, QDir::Files);
      QCOMPARE(files.size(), 4);
      for (const QString& f : files) {
        const auto meta = caig::readExportMetadata(QDir(out).filePath(f).toStdString());
        QVERIFY(meta.count("caig:ctr_rank") && meta.count("caig:prompt") && meta.count("caig:seed"));
        QVERIFY(meta.at("caig:ctr_rank") == "1" || meta.at("caig:ctr_rank") == "2");
        // The story is composed for its frame; the square size fits the square variant as it is.
        QCOMPARE(QString::fromStdString(meta.at("caig:frame")), f.contains("9x16") ? QString("drawn") : QString("fitted"));
      }
      // A copy of a story-format ad to look at: the square variant drawn again for 9:16.
      const QString story = files.filter("9x16").value(0);
      QFile::remove(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_workflow_export_9x16.jpg"));
      QVERIFY(QFile::copy(QDir(out).filePath(story), QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_workflow_export_9x16.jpg")));
      QFile manifest(QDir(out).filePath("manifest.csv"));
      QVERIFY(manifest.open(QIODevice::ReadOnly));
      const QStringList lines = QString::fromUtf8(manifest.readAll()).trimmed().split('\n');
      QCOMPARE(lines.size(), 5);
      QVERIFY(lines[0].startsWith("file,variant_id,preset"));
      screenshot(window, "gui_workflow_exported.png");

      // The same export again into the same folder: the studio asks before replacing anything.
      // Cancel keeps the first export's files; Replace writes them again.
      const QByteArray manifestBefore = [&] {
        QFile f(QDir(out).filePath("manifest.csv"));
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
      }();
      for (const bool replace : {false, true}) {
        bool asked = false;
        onNextModal([&](QWidget* modal) {
          auto* dialog = qobject_cast<caig::ui::ExportDialog*>(modal);
          if (!dialog) return;
          dialog->findChild<QCheckBox*>("preset_4:5")->setChecked(false);
          dialog->findChild<QCheckBox*>("preset_1.91:1")->setChecked(false);
          dialog->findChild<QComboBox*>("exportFormat")->setCurrentIndex(1);
          // The replacing export keeps the bottom fifth free for a call to action: every size is drawn.
          if (replace) dialog->findChild<QComboBox*>("exportCopySpace")->setCurrentIndex(2);
          dialog->setFolder(out);
          onNextModal([&, replace](QWidget* box) {
            if (box->objectName() != "replaceExportBox") return;
            asked = true;
            QVERIFY(qobject_cast<QMessageBox*>(box)->text().contains("manifest.csv"));
            if (!replace) screenshot(*box, "gui_workflow_export_replace.png");
            if (replace) {
              box->findChild<QPushButton*>("replaceExportButton")->click();
            } else {
              qobject_cast<QMessageBox*>(box)->button(QMessageBox::Cancel)->click();
            }
          });
          dialog->accept();
        });
        QSignalSpy again(&window, &MainWindow::exportFinished);
        QTest::mouseClick(window.findChild<QPushButton*>("exportButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!again.isEmpty(), 60000);  // cancelling emits before the click returns
        QVERIFY(asked);
        if (replace) {
          QVERIFY2(again.at(0).at(1).toString().isEmpty(), qPrintable(again.at(0).at(1).toString()));
          QCOMPARE(again.at(0).at(0).toInt(), 4);
        } else {
          QCOMPARE(again.at(0).at(0).toInt(), 0);
          QVERIFY(again.at(0).at(1).toString().contains("cancelled"));
          QFile f(QDir(out).filePath("manifest.csv"));
          QVERIFY(f.open(QIODevice::ReadOnly));
          QCOMPARE(f.readAll(), manifestBefore);
        }
        QCOMPARE(QDir(out).entryList({"*.jpg"}, QDir::Files).size(), 4);
      }
      for (const QString& f : QDir(out).entryList({"*.jpg"}, QDir::Files)) {
        QCOMPARE(QString::fromStdString(caig::readExportMetadata(QDir(out).filePath(f).toStdString()).at("caig:frame")),
                 QString("drawn"));
      }
      QFile::remove(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_workflow_export_9x16_copy.jpg"));
      QVERIFY(QFile::copy(QDir(out).filePath(QDir(out).entryList({"*9x16.jpg"}, QDir::Files).value(0)),
                          QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_workflow_export_9x16_copy.jpg")));

      // Same seed again: the best variant's exact parameters render the same image again.
      selectRows(grid, {0});
      const qint64 bestId = window.variantGrid()->selectedIds().value(0);
      QSignalSpy regenerated(&window, &MainWindow::rankingFinished);
      QTest::mouseClick(window.findChild<QPushButton*>("sameSeedButton"), Qt::LeftButton);
      QTRY_VERIFY_WITH_TIMEOUT(!regenerated.isEmpty() && window.jobQueue()->isIdle(), 60000);
      const auto variants = window.project()->store().variants(product);
      QCOMPARE(variants.size(), 5u);
      std::string bestPath;
      for (const auto& v : variants) {
        if (v.id == bestId) bestPath = v.imagePath;
      }
      QCOMPARE(variants.back().imagePath, bestPath);  // content-addressed: identical pixels
      QCOMPARE(grid->count(), 5);
      for (const auto& v : variants) ranks.push_back(v.rank.value_or(0));
    }

    // Reopen: the same variants, ranks and favourite, without recomputing.
    MainWindow reopened;
    QVERIFY(reopened.openProject(dir));
    reopened.resize(1500, 950);
    reopened.show();
    QVERIFY(QTest::qWaitForWindowExposed(&reopened));
    auto* grid = reopened.findChild<QListWidget*>("variantList");
    QCOMPARE(grid->count(), 5);
    std::vector<int> again;
    int favourites = 0;
    for (const auto& v : reopened.project()->store().variants(reopened.currentProductId())) {
      again.push_back(v.rank.value_or(0));
      favourites += v.favourite;
    }
    QCOMPARE(again, ranks);
    QCOMPARE(favourites, 1);
    QVERIFY(grid->item(0)->text().startsWith("#1"));
    screenshot(reopened, "gui_workflow_reopened.png");

    // A corrupt shot through the import path: a dialog that names the file; nothing is lost.
    QFile fake(tmp_.filePath("broken.png"));
    QVERIFY(fake.open(QIODevice::WriteOnly));
    fake.write("\x89PNG\r\n\x1a\n this is not the rest of a png");
    fake.close();
    QString shown;
    onNextModal([&](QWidget* modal) {
      if (auto* box = qobject_cast<QMessageBox*>(modal)) {
        shown = box->windowTitle() + "\n" + box->text();
        screenshot(*box, "gui_workflow_corrupt_import.png");
        box->accept();
      }
    });
    reopened.importShots({fake.fileName()});
    QVERIFY2(shown.contains("broken.png"), qPrintable(shown));
    QCOMPARE(reopened.project()->store().products().size(), 3u);
    QCOMPARE(reopened.project()->store().variants(reopened.currentProductId()).size(), 5u);
    QCOMPARE(grid->count(), 5);
  }

 private:
  QTemporaryDir tmp_;
};

QTEST_MAIN(StudioWorkflowTest)
#include "test_studio_workflow.moc"
