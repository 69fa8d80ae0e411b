// The model manager dialog over the tiny model folders of tests/data.

#include <QLabel>
#include <QMimeData>
#include <QPushButton>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>
#include <filesystem>

#include "widgets/model_manager.h"

namespace fs = std::filesystem;
using caig::ModelKind;
using caig::ModelRegistry;
using caig::ui::ModelManager;

namespace {
const fs::path kData = CAIG_TEST_DATA;

int rowNamed(const ModelManager& dialog, const QString& name) {
  for (int r = 0; r < dialog.table()->rowCount(); ++r) {
    if (dialog.table()->item(r, ModelManager::Name)->text() == name) return r;
  }
  return -1;
}
}  // namespace

class ModelManagerTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void emptyStateExplainsHowToAddModels() {
    QTemporaryDir tmp;
    ModelManager dialog(fs::path(tmp.path().toStdString()) / "models");
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QVERIFY(dialog.emptyState()->isVisible());
    QVERIFY(dialog.emptyState()->text().contains("No model installed: using the built-in engines"));
    QVERIFY(dialog.emptyState()->text().contains("packaging/fetch-isnet.sh"));
    QCOMPARE(dialog.table()->rowCount(), static_cast<int>(ModelRegistry::builtInEngines().size()));
    for (int r = 0; r < dialog.table()->rowCount(); ++r) {
      QCOMPARE(dialog.table()->item(r, ModelManager::Status)->text(), QStringLiteral("ok"));
      QCOMPARE(dialog.table()->item(r, ModelManager::Device)->text(), QStringLiteral("CPU"));
    }
    QVERIFY(dialog.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_model_manager_empty.png")));
  }

  void listsAddsVerifiesAndRemoves() {
    QTemporaryDir tmp;
    const fs::path models = fs::path(tmp.path().toStdString()) / "models";
    fs::create_directories(models);
    fs::copy(kData / "tiny-llava", models / "llava-tiny", fs::copy_options::recursive);

    ModelManager dialog(models);
    dialog.resize(1200, 440);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QVERIFY(!dialog.emptyState()->isVisible());
    const int builtins = static_cast<int>(ModelRegistry::builtInEngines().size());
    QCOMPARE(dialog.table()->rowCount(), builtins + 1);
    const int llava = rowNamed(dialog, "llava-tiny");
    QVERIFY(llava >= 0);
    QVERIFY(dialog.table()->item(llava, ModelManager::Kind)->text().startsWith("LLaVA prompt model"));
    QCOMPARE(dialog.table()->item(llava, ModelManager::Precision)->text(), QStringLiteral("F32"));
    QCOMPARE(dialog.table()->item(llava, ModelManager::Status)->text(), QStringLiteral("ok"));
    QCOMPARE(dialog.table()->item(llava, ModelManager::Params)->text(),
             ModelManager::formatParameters(dialog.models()[static_cast<size_t>(llava)].parameters));

    QVERIFY(dialog.addFolder(QString::fromStdString((kData / "tiny-sd-configs").string())));
    QVERIFY(dialog.addFolder(QString::fromStdString((kData / "tiny-qwen2").string())));
    QVERIFY(!dialog.addFolder(QString::fromStdString((kData / "tiny-qwen2").string())));
    QVERIFY(dialog.message().contains("already listed"));
    QVERIFY(!dialog.addFolder(tmp.filePath("nowhere")));
    QVERIFY2(dialog.message().contains("neither a model folder nor a .safetensors checkpoint"),
             qPrintable(dialog.message()));
    // A single-file checkpoint, as the "Add file..." button hands it over.
    QVERIFY(dialog.addFolder(QString::fromStdString((kData / "single_file_sd15" / "tiny-sd15.safetensors").string())));
    QVERIFY2(dialog.message().contains("Added tiny-sd15: Stable Diffusion model"), qPrintable(dialog.message()));
    QVERIFY(dialog.findChild<QPushButton*>("addModelFile"));
    QCOMPARE(dialog.table()->rowCount(), builtins + 4);
    const int single = rowNamed(dialog, "tiny-sd15");
    QCOMPARE(dialog.table()->item(single, ModelManager::Status)->text(), QStringLiteral("ok"));
    QCOMPARE(dialog.table()->item(single, ModelManager::Precision)->text(), QStringLiteral("F32"));
    // A file dropped from a file manager is added the same way.
    {
      QMimeData mime;
      mime.setUrls({QUrl::fromLocalFile(
          QString::fromStdString((kData / "single_file_sd15" / "tiny-sd15-inpainting.safetensors").string()))});
      QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
      QApplication::sendEvent(&dialog, &enter);
      QVERIFY(enter.isAccepted());
      QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
      QApplication::sendEvent(&dialog, &drop);
      QVERIFY(drop.isAccepted());
    }
    QVERIFY2(dialog.message().contains("Added tiny-sd15-inpainting"), qPrintable(dialog.message()));
    QCOMPARE(dialog.table()->rowCount(), builtins + 5);
    const int sd = rowNamed(dialog, "tiny-sd-configs");
    const QString sdStatus = dialog.table()->item(sd, ModelManager::Status)->text();
    QVERIFY2(sdStatus.startsWith("missing files: missing ") && sdStatus.contains("unet weights"), qPrintable(sdStatus));

    // Verify one model with hashing: the message carries the hash.
    dialog.table()->selectRow(llava);
    QVERIFY(dialog.verifySelected(true));
    QVERIFY2(dialog.message().contains("1 model verified") && dialog.message().contains("xxHash64: model.safetensors "),
             qPrintable(dialog.message()));
    QVERIFY(dialog.grab().save(QStringLiteral(CAIG_SCREENSHOT_DIR "/gui_model_manager.png")));

    // A folder broken after the scan shows up as invalid once verified.
    fs::resize_file(models / "llava-tiny" / "model.safetensors", 1000);
    QVERIFY(dialog.verifySelected(false));
    QVERIFY(dialog.table()->item(llava, ModelManager::Status)->text().startsWith("invalid"));

    // Remove from list: only user-added rows, and no file is deleted.
    dialog.table()->selectRow(llava);
    QVERIFY(!dialog.removeSelected());
    dialog.table()->selectRow(rowNamed(dialog, "tiny-qwen2"));
    QVERIFY(dialog.removeSelected());
    QCOMPARE(dialog.table()->rowCount(), builtins + 4);
    QVERIFY(rowNamed(dialog, "tiny-qwen2") < 0);
    QVERIFY(fs::exists(kData / "tiny-qwen2" / "model.safetensors"));
    QCOMPARE(ModelRegistry(models).userFolders().size(), size_t{3});
  }
};

QTEST_MAIN(ModelManagerTest)
#include "test_model_manager.moc"
