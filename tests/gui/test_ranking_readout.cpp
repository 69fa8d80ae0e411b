// The marketer's readout in the studio: each ranked variant shows its predicted CTR lift over the
// original (or over the best variant) and a plain verdict; the grid and Compare say the numbers
// are uncalibrated before the ranker is trained on the team's clicks; after a training run the
// grid names the trained ranker and when it was trained (also after a restart) and offers to rank
// the existing variants again.

#include <QComboBox>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>

#include "core/clicks/click_data.h"
#include "core/clicks/synthetic_clicks.h"
#include "core/project/project.h"
#include "core/training/rm_training.h"
#include "gui_demo_window.h"
#include "gui_test_support.h"
#include "widgets/compare_view.h"
#include "widgets/generate_panel.h"
#include "widgets/main_window.h"
#include "widgets/training_panel.h"

using caig::ui::MainWindow;

class RankingReadoutTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void liftVerdictAndRankerInPlainWords() {
    QTemporaryDir tmp;
    qputenv("CAIG_ISNET_DIR", tmp.filePath("no-isnet").toUtf8());
    const QString dir = tmp.filePath("p");
    qint64 product = 0;
    {
      MainWindow window;
      caig::test::openDemoWindow(window, dir, QSize(1500, 950));
      if (QTest::currentTestFailed()) return;
      product = window.currentProductId();
      QSignalSpy ranked(&window, &MainWindow::rankingFinished);
      caig::ui::GenerateSettings settings;
      settings.presetId = "1:1-512";
      settings.variants = 3;
      settings.seed = 3;
      window.generateForCurrentProduct(settings);
      QVERIFY(ranked.wait(180000));
      QCOMPARE(ranked.at(0).at(0).toInt(), 3);

      // Every variant: a lift over the original and a verdict, in words.
      auto* list = window.findChild<QListWidget*>("variantList");
      QCOMPARE(list->count(), 3);
      for (int i = 0; i < list->count(); ++i) {
        const QString text = list->item(i)->text();
        QVERIFY2(text.contains(" over original"), qPrintable(text));
        QVERIFY2(
            text.contains("likely better") || text.contains("likely worse") || text.contains("no clear difference"),
            qPrintable(text));
      }
      for (const auto& v : window.project()->store().variants(product)) {
        QVERIFY(v.vsOriginal && v.vsOriginalStdError && v.stdError);
        QVERIFY(*v.vsOriginalStdError > 0);
      }
      // The prior says it is uncalibrated, above the grid; nothing to rank again.
      auto* note = window.findChild<QLabel*>("rankerNote");
      QVERIFY(note && note->isVisible());
      QVERIFY2(note->text().startsWith("Uncalibrated"), qPrintable(note->text()));
      auto* rerank = window.findChild<QPushButton*>("rerankButton");
      QVERIFY(rerank && !rerank->isVisible());

      // The details: the lift with its interval and verdict, and the parameters as rows, not JSON.
      list->setCurrentRow(0);
      list->item(0)->setSelected(true);
      auto* details = window.findChild<QTextBrowser*>("variantDetails");
      const QString html = details->toPlainText();
      QVERIFY2(html.contains("CTR lift over the original"), qPrintable(html));
      QVERIFY2(html.contains(" to "), qPrintable(html));
      QVERIFY2(!html.contains("{") && !html.contains("\":"), qPrintable(html));
      QVERIFY2(html.contains("Parameters"), qPrintable(html));
      caig::test::screenshot(window, "gui_readout_prior.png");

      // Over the best variant: the first says so, the others show how far behind they are.
      auto* baseline = window.findChild<QComboBox*>("liftBaseline");
      baseline->setCurrentIndex(1);
      QVERIFY2(list->item(0)->text().contains("best variant"), qPrintable(list->item(0)->text()));
      for (int i = 1; i < list->count(); ++i)
        QVERIFY2(list->item(i)->text().contains(" over #1"), qPrintable(list->item(i)->text()));
      baseline->setCurrentIndex(0);

      // Compare: uncalibrated at the top, the pair as a lift with its verdict.
      const QList<qint64> two = {list->item(0)->data(Qt::UserRole).toLongLong(),
                                 list->item(1)->data(Qt::UserRole).toLongLong()};
      caig::ui::CompareView* compare = window.compareVariants(two);
      QVERIFY(compare);
      QVERIFY(QTest::qWaitForWindowExposed(compare));
      QVERIFY2(compare->rankerNote()->text().startsWith("Uncalibrated"), qPrintable(compare->rankerNote()->text()));
      const QString pair = compare->pairSummary()->text();
      QVERIFY2(pair.contains("predicted CTR") && pair.contains("interval"), qPrintable(pair));
      QVERIFY2(pair.contains("likely") || pair.contains("no clear difference"), qPrintable(pair));
      caig::test::screenshot(*compare, "gui_readout_compare.png");
      compare->close();

      // A training run on the team's clicks (as the Training dock runs it) makes a new active
      // ranker: the grid names it and offers to rank again; Re-rank does.
      caig::SyntheticClickOptions synth;
      synth.products = 8;
      synth.variantsPerProduct = 6;
      synth.shotSize = 192;
      const auto data = caig::writeSyntheticClicks(tmp.filePath("synth").toStdString(), synth);
      QVERIFY(caig::importClicks(*window.project(), data.csvFile).rowsImported > 0);
      const caig::RmTrainResult trained = caig::trainBuiltinRewardModel(*window.project());
      Q_EMIT window.trainingPanel()->trainingFinished(true, QString::fromStdString(trained.summary()));
      QVERIFY2(note->text().startsWith("Ranker: built-in, trained on your clicks ("), qPrintable(note->text()));
      QVERIFY2(note->text().contains("3 of these variants were ranked by another ranker"), qPrintable(note->text()));
      QVERIFY(rerank->isVisible());
      caig::test::screenshot(window, "gui_readout_stale.png");
      ranked.clear();
      QTest::mouseClick(rerank, Qt::LeftButton);
      QVERIFY(ranked.wait(120000));
      QCOMPARE(ranked.at(0).at(0).toInt(), 3);
      for (const auto& v : window.project()->store().variants(product)) {
        QCOMPARE(QString::fromStdString(v.rankerId), QString::fromStdString(trained.rankerId));
      }
      QTRY_VERIFY(!rerank->isVisible());
      QVERIFY2(!note->text().contains("another ranker"), qPrintable(note->text()));
    }
    // After a restart the studio still names the trained ranker and when it was trained.
    MainWindow again;
    caig::test::openDemoWindow(again, dir, QSize(1500, 950));
    if (QTest::currentTestFailed()) return;
    again.showProduct(product);
    auto* note = again.findChild<QLabel*>("rankerNote");
    QVERIFY2(note->isVisible() && note->text().contains("trained on your clicks (20"), qPrintable(note->text()));
    QVERIFY2(note->text().contains("held-out pairwise accuracy"), qPrintable(note->text()));
    QVERIFY(!again.findChild<QPushButton*>("rerankButton")->isVisible());
    caig::test::screenshot(again, "gui_readout_trained.png");
    qunsetenv("CAIG_ISNET_DIR");
  }
};

QTEST_MAIN(RankingReadoutTest)
#include "test_ranking_readout.moc"
