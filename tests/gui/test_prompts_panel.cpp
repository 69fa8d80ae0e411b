// The Prompts dock through the UI of the real main window: prompts written by the built-in
// planner, one added by typing + Add, edits in place (F2 and the item editor, and a user edit of
// the item), pinning, deleting (Delete key and button), empty input refused with a message and
// nothing lost, and the same prompts in the store and in the list after reopening the project.

#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "core/project/project.h"
#include "widgets/generate_panel.h"
#include "widgets/main_window.h"
#include "widgets/prompts_panel.h"

using caig::ui::MainWindow;
using caig::ui::PromptsPanel;

namespace {

struct Shown {
  QString text, source;
  bool pinned = false;
  bool operator==(const Shown& o) const { return text == o.text && source == o.source && pinned == o.pinned; }
};

std::vector<Shown> inStore(MainWindow& window) {
  std::vector<Shown> out;
  for (const auto& p : window.project()->store().prompts(window.currentProductId())) {
    out.push_back({QString::fromStdString(p.text), QString::fromStdString(p.source), p.pinned});
  }
  return out;
}

std::vector<Shown> inList(const QListWidget* list) {
  std::vector<Shown> out;
  for (int i = 0; i < list->count(); ++i) {
    const auto* item = list->item(i);
    out.push_back({item->text(), item->data(PromptsPanel::SourceRole).toString(), item->checkState() == Qt::Checked});
  }
  return out;
}

QString describe(const std::vector<Shown>& prompts) {
  QStringList lines;
  for (const auto& p : prompts) lines << QStringLiteral("[%1]%2 %3").arg(p.source, p.pinned ? " pinned" : "", p.text);
  return lines.join('\n');
}

void screenshot(QWidget& widget, const char* name) {
  QVERIFY(widget.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/") + name));
}

// The item editor open on the list, if any (a closed one may linger until deleted).
QLineEdit* openEditor(QListWidget* list) {
  for (auto* editor : list->viewport()->findChildren<QLineEdit*>()) {
    if (editor->isVisible()) return editor;
  }
  return nullptr;
}

// Opens the item editor with F2 on `row`, replaces its text by typing and commits with Return.
void editWithKeyboard(QListWidget* list, int row, const QString& text) {
  list->setCurrentRow(row);
  QTest::keyClick(list, Qt::Key_F2);
  QLineEdit* editor = openEditor(list);
  QVERIFY2(editor, "F2 opened no editor");
  QCOMPARE(editor->text(), list->item(row)->text());
  editor->selectAll();
  if (text.isEmpty()) QTest::keyClick(editor, Qt::Key_Backspace);
  else QTest::keyClicks(editor, text);
  QTest::keyClick(editor, Qt::Key_Return);
  QTRY_VERIFY(!openEditor(list));
}

}  // namespace

class PromptsPanelTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("CAIG Studio Tests");
    QCoreApplication::setApplicationName("caig-studio-test-prompts");
  }

  void addEditPinDeleteAndReopen() {
    QTemporaryDir tmp;
    const QString dir = tmp.filePath("p");
    qputenv("CAIG_MODELS_DIR", tmp.filePath("models").toUtf8());  // the built-in writer only
    std::vector<Shown> expected;
    qint64 productId = 0;
    {
      MainWindow window;
      QString error;
      QVERIFY2(window.openProject(dir, &error), qPrintable(error));
      QVERIFY2(window.ensureDemoProducts(&error), qPrintable(error));
      window.resize(1500, 950);
      window.show();
      QVERIFY(QTest::qWaitForWindowExposed(&window));
      productId = window.currentProductId();
      QVERIFY(productId > 0);
      auto* panel = window.promptsPanel();
      QVERIFY(panel);
      auto* list = window.findChild<QListWidget*>("promptList");
      QCOMPARE(list, panel->list());
      QCOMPARE(list->count(), static_cast<int>(inStore(window).size()));
      QVERIFY(window.findChild<QWidget*>("promptListDock"));  // saved layouts still find the dock
      if (list->count() == 0) screenshot(*panel, "gui_prompts_panel_empty.png");

      // Generated prompts: the Generate dock's "Write prompts" with the built-in planner.
      QSignalSpy written(&window, &MainWindow::promptsWritten);
      QSignalSpy changed(panel, &PromptsPanel::promptsChanged);
      window.writePrompts();
      QVERIFY(written.wait(30000));
      QVERIFY2(written.at(0).at(1).toString().isEmpty(), qPrintable(written.at(0).at(1).toString()));
      const int n = written.at(0).at(0).toInt();
      QVERIFY(n >= 4);
      QCOMPARE(n, window.generatePanel()->promptCount());
      QCOMPARE(list->count(), n);
      QCOMPARE(list->item(0)->data(PromptsPanel::SourceRole).toString(), QStringLiteral("builtin"));

      // Add one of the user's own: typed, then the Add button.
      auto* input = window.findChild<QLineEdit*>("promptInput");
      auto* add = window.findChild<QPushButton*>("promptAdd");
      QVERIFY(input && add && add->isEnabled());
      QTest::keyClicks(input, QStringLiteral("  linen backdrop, soft morning light "));
      QTest::mouseClick(add, Qt::LeftButton);
      QCOMPARE(list->count(), n + 1);
      QCOMPARE(list->item(n)->text(), QStringLiteral("linen backdrop, soft morning light"));
      QCOMPARE(list->item(n)->data(PromptsPanel::SourceRole).toString(), QStringLiteral("user"));
      QCOMPARE(list->currentRow(), n);  // the new prompt is selected and in view
      QVERIFY(input->text().isEmpty());
      QCOMPARE(changed.count(), 1);

      // Edit a generated prompt in place: F2, type, Return. It becomes the user's.
      editWithKeyboard(list, 0, QStringLiteral("white marble podium, soft north light"));
      if (QTest::currentTestFailed()) return;
      QCOMPARE(list->item(0)->text(), QStringLiteral("white marble podium, soft north light"));
      QCOMPARE(list->item(0)->data(PromptsPanel::SourceRole).toString(), QStringLiteral("user (edited from builtin)"));
      QCOMPARE(inStore(window)[0].text, QStringLiteral("white marble podium, soft north light"));
      // A user edit of another item (what the view's editor commits), with stray spaces.
      list->item(1)->setText(QStringLiteral("oak table, warm evening light  "));
      QCOMPARE(list->item(1)->text(), QStringLiteral("oak table, warm evening light"));
      QCOMPARE(inStore(window)[1].source, QStringLiteral("user (edited from builtin)"));
      // Editing the user's own prompt keeps it "user".
      list->item(n)->setText(QStringLiteral("linen backdrop, golden hour"));
      QCOMPARE(inStore(window)[n].source, QStringLiteral("user"));

      // Pin the edited one and the user's own.
      list->item(1)->setCheckState(Qt::Checked);
      list->item(n)->setCheckState(Qt::Checked);
      int pinned = 0;
      for (const auto& p : inStore(window)) pinned += p.pinned;
      QCOMPARE(pinned, 2);

      // Delete: the Delete key on the list, then the Delete button.
      const QString doomedByKey = list->item(2)->text();
      list->setCurrentRow(2);
      QTest::keyClick(list, Qt::Key_Delete);
      QCOMPARE(list->count(), n);
      const QString doomedByButton = list->item(2)->text();  // the next one moved up and is selected
      QCOMPARE(list->currentRow(), 2);
      auto* remove = window.findChild<QPushButton*>("promptDelete");
      QVERIFY(remove && remove->isEnabled());
      QTest::mouseClick(remove, Qt::LeftButton);
      QCOMPARE(list->count(), n - 1);
      for (const auto& p : inStore(window)) QVERIFY(p.text != doomedByKey && p.text != doomedByButton);

      expected = inStore(window);
      QCOMPARE(static_cast<int>(expected.size()), n - 1);
      QVERIFY2(inList(list) == expected, qPrintable(describe(inList(list)) + "\n---\n" + describe(expected)));
      panel->setFocus();
      screenshot(window, "gui_prompts_panel.png");
      screenshot(*panel, "gui_prompts_panel_dock.png");
    }

    // Reopen the project in a new window: the store and the list say the same as before.
    MainWindow reopened;
    QString error;
    QVERIFY2(reopened.openProject(dir, &error), qPrintable(error));
    reopened.showProduct(productId);
    QCOMPARE(reopened.currentProductId(), productId);
    QVERIFY2(inStore(reopened) == expected, qPrintable(describe(inStore(reopened))));
    QVERIFY2(inList(reopened.promptsPanel()->list()) == expected,
             qPrintable(describe(inList(reopened.promptsPanel()->list()))));
    qunsetenv("CAIG_MODELS_DIR");
  }

  // Empty prompts (added or edited) are refused with a message; nothing already there is lost.
  void emptyInputIsRefusedAndNothingIsLost() {
    QTemporaryDir tmp;
    MainWindow window;
    QString error;
    QVERIFY2(window.openProject(tmp.filePath("p"), &error), qPrintable(error));
    QVERIFY2(window.ensureDemoProducts(&error), qPrintable(error));
    window.resize(1500, 950);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto* panel = window.promptsPanel();
    auto* list = panel->list();
    auto* input = window.findChild<QLineEdit*>("promptInput");
    auto* add = window.findChild<QPushButton*>("promptAdd");
    QTest::keyClicks(input, QStringLiteral("terrazzo counter"));
    QTest::keyClick(input, Qt::Key_Return);  // Enter adds too
    QCOMPARE(list->count(), 1);
    const auto before = inStore(window);

    QSignalSpy changed(panel, &PromptsPanel::promptsChanged);
    QTest::keyClicks(input, QStringLiteral("   \t "));
    QTest::mouseClick(add, Qt::LeftButton);
    QCOMPARE(list->count(), 1);
    QVERIFY2(panel->feedback().contains("empty"), qPrintable(panel->feedback()));
    QVERIFY(window.findChild<QWidget*>("promptFeedback")->isVisible());
    screenshot(*panel, "gui_prompts_panel_refused.png");

    // Emptied in the item editor: the old text stays.
    editWithKeyboard(list, 0, QString());
    if (QTest::currentTestFailed()) return;
    QCOMPARE(list->item(0)->text(), QStringLiteral("terrazzo counter"));
    QVERIFY2(panel->feedback().contains("cannot be empty"), qPrintable(panel->feedback()));
    // Emptied as an item edit: put back.
    list->item(0)->setText(QStringLiteral("  "));
    QCOMPARE(list->item(0)->text(), QStringLiteral("terrazzo counter"));
    // Delete with nothing selected does nothing.
    list->clearSelection();
    QVERIFY(!panel->deleteSelectedPrompt());
    QVERIFY(!window.findChild<QPushButton*>("promptDelete")->isEnabled());
    QCOMPARE(changed.count(), 0);
    QVERIFY(inStore(window) == before);
    QCOMPARE(list->count(), 1);

    // A long prompt wraps onto more lines instead of running off the side.
    QTest::keyClicks(input, QStringLiteral("sunlit terrazzo bathroom counter with a folded white towel, a sprig of eucalyptus "
                                           "in a ceramic vase, soft shadows from a window, pale sage green wall, "
                                           "clean minimal spa mood, high detail product photography"));
    QTest::mouseClick(add, Qt::LeftButton);
    QCOMPARE(list->count(), 2);
    QTRY_VERIFY(list->visualItemRect(list->item(1)).height() > 2 * list->visualItemRect(list->item(0)).height() - 8);
    QVERIFY(list->visualItemRect(list->item(1)).right() <= list->viewport()->width());
    screenshot(*panel, "gui_prompts_panel_wrap.png");

    // A project without products: nothing to add to, and the panel says why.
    MainWindow empty;
    QVERIFY(empty.openProject(tmp.filePath("empty")));
    QCOMPARE(empty.promptsPanel()->list()->count(), 0);
    QVERIFY(!empty.findChild<QPushButton*>("promptAdd")->isEnabled());
    QVERIFY(!empty.promptsPanel()->addPrompt(QStringLiteral("a backdrop")));
    QVERIFY(!empty.promptsPanel()->feedback().isEmpty());
  }
};

QTEST_MAIN(PromptsPanelTest)
#include "test_prompts_panel.moc"
