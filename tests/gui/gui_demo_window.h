#pragma once
// The main window on a fresh project of the demo products, shown and exposed (most GUI tests start
// so). Needs the widgets library.

#include <QSize>
#include <QString>
#include <QtTest>

#include "widgets/main_window.h"

namespace caig::test {

inline void openDemoWindow(caig::ui::MainWindow& window, const QString& projectDir, QSize size = QSize(1280, 800)) {
  QVERIFY(window.openProject(projectDir));
  QVERIFY(window.ensureDemoProducts());
  window.resize(size);
  window.show();
  QVERIFY(QTest::qWaitForWindowExposed(&window));
}

}  // namespace caig::test
