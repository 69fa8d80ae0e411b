#pragma once
// Helpers the GUI tests share: saving a screenshot into the build folder, and answering the next
// modal dialog (a test that clicks a button which opens one is blocked in the dialog's exec()).
// Needs CAIG_SCREENSHOT_DIR from tests/gui/CMakeLists.txt.

#include <QApplication>
#include <QTimer>
#include <QWidget>
#include <QtTest>
#include <functional>

namespace caig::test {

inline void screenshot(QWidget& w, const char* name) {
  const QString path = QStringLiteral(CAIG_SCREENSHOT_DIR "/") + name;
  QVERIFY(w.grab().save(path));
  qInfo("screenshot: %s", qPrintable(path));
}

// Runs `act` on the next modal dialog once it is up.
inline void onNextModal(const std::function<void(QWidget*)>& act) {
  auto* timer = new QTimer;
  timer->setInterval(50);
  QObject::connect(timer, &QTimer::timeout, [timer, act] {
    QWidget* modal = QApplication::activeModalWidget();
    if (!modal || !modal->isVisible()) return;
    timer->stop();
    timer->deleteLater();
    act(modal);
  });
  timer->start();
}

}  // namespace caig::test
