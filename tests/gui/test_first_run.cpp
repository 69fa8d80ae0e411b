// The first-run setup in a real X server, against a fake Hugging Face Hub on 127.0.0.1 serving the
// tiny fixtures under the catalogue's repository names (SD1.5 without a ControlNet of its own, the
// ControlNet, TAESD, LCM-LoRA): the studio opens the setup once, the user picks "Install the SD1.5
// generator" and presses Continue, the progress runs, and the Generate dock ends set up with the
// installed pipeline and the installed ControlNet; one variant is then generated with them.
// Screenshots go to the build folder.

#include <QApplication>
#include <QComboBox>
#include <QLabel>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStatusBar>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTreeWidget>
#include <QtTest>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/generation/standard_generators.h"
#include "core/model_files/hf_cache.h"
#include "core/model_files/model_registry.h"
#include "gui_demo_window.h"
#include "gui_test_support.h"
#include "tests/support/fake_hub.h"
#include "widgets/first_run_dialog.h"
#include "widgets/main_window.h"
#include "widgets/model_install.h"
#include "widgets/model_manager.h"

namespace fs = std::filesystem;
using caig::test::screenshot;
using caig::ui::FirstRunDialog;
using caig::ui::MainWindow;

class FirstRunTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void initTestCase() {
    QCoreApplication::setOrganizationName("CAIG Studio Tests");
    QCoreApplication::setApplicationName("caig-studio-first-run-test");
    QSettings().clear();
    const fs::path tmp = tmp_.path().toStdString();
    qputenv("CAIG_ISNET_DIR", (tmp / "no-isnet").c_str());
    qputenv("CAIG_MODELS_DIR", (tmp / "models").c_str());
    qputenv("HOME", tmp.c_str());  // no ComfyUI or A1111 of this machine's
    qputenv("HF_HUB_CACHE", (tmp / "hub").c_str());
    qputenv("CAIG_MODEL_DISCOVERY", "on");  // the cache above is this test's usual place
    qunsetenv("HF_TOKEN");
    qunsetenv("HF_HOME");

    // SD1.5's repository has no controlnet/: the fixture pipeline without it.
    const fs::path data = CAIG_TEST_DATA;
    const fs::path sd = tmp / "serve" / "sd15";
    fs::create_directories(sd);
    fs::copy(data / "tiny-sd-e2e", sd, fs::copy_options::recursive);
    fs::remove_all(sd / "controlnet");
    nlohmann::json index = nlohmann::json::parse(std::ifstream(data / "tiny-sd-e2e" / "model_index.json"));
    index.erase("controlnet");
    index["_class_name"] = "StableDiffusionPipeline";
    fs::remove(sd / "model_index.json");
    std::ofstream(sd / "model_index.json") << index.dump(1);
    const fs::path lcm = tmp / "serve" / "lcm";
    fs::create_directories(lcm);
    fs::copy_file(data / "lora" / "lcm-lora-style.safetensors", lcm / "pytorch_lora_weights.safetensors");

    hub_ = std::make_unique<caig::test::FakeHub>();
    hub_->addRepo(caig::test::FakeHub::repoFromFolder("stable-diffusion-v1-5/stable-diffusion-v1-5", sd));
    hub_->addRepo(
        caig::test::FakeHub::repoFromFolder("lllyasviel/control_v11p_sd15_canny", data / "tiny-sd-e2e" / "controlnet"));
    hub_->addRepo(caig::test::FakeHub::repoFromFolder("madebyollin/taesd", data / "taesd" / "tiny-taesd"));
    hub_->addRepo(caig::test::FakeHub::repoFromFolder("latent-consistency/lcm-lora-sdv1-5", lcm));
    hub_->addRepo(caig::test::FakeHub::repoFromFolder("someone/tiny-vae", data / "tiny-sd-e2e" / "vae"));
    qputenv("HF_ENDPOINT", hub_->endpoint().c_str());
  }

  void installsTheSd15GeneratorAndSetsUpGenerate() {
    caig::registerStandardGenerators();
    MainWindow window;
    caig::test::openDemoWindow(window, tmp_.filePath("Project"), QSize(1500, 950));
    if (QTest::currentTestFailed()) return;

    // A first start with no Stable Diffusion model: the setup opens (once).
    QVERIFY(window.maybeShowFirstRunSetup());
    QPointer<FirstRunDialog> dialog = window.findChild<FirstRunDialog*>("firstRunDialog");
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->isVisible());
    auto* sd15 = dialog->findChild<QRadioButton*>("firstRunChoice1");
    QVERIFY(sd15);
    QVERIFY2(sd15->text().startsWith("Install the SD1.5 generator (about 5.9 GB)"), qPrintable(sd15->text()));
    QVERIFY(dialog->findChild<QLabel*>("firstRunSpace")->text().contains("free where models are downloaded"));
    QVERIFY2(dialog->findChild<QLabel*>("firstRunFound")->text().contains("No Hugging Face cache"),
             qPrintable(dialog->findChild<QLabel*>("firstRunFound")->text()));
    screenshot(*dialog, "gui_first_run.png");

    QTest::mouseClick(sd15, Qt::LeftButton, {}, QPoint(8, sd15->height() / 2));  // on its circle
    QVERIFY(sd15->isChecked());
    auto* bar = dialog->findChild<QProgressBar*>();
    QVERIFY(bar);
    QTest::mouseClick(dialog->findChild<QPushButton*>("firstRunContinue"), Qt::LeftButton);
    QVERIFY(bar->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(!dialog || !dialog->isVisible(), 60000);

    // Everything landed in the Hugging Face cache; Generate starts with it.
    const fs::path cache = tmp_.filePath("hub").toStdString();
    for (const char* repo : {"stable-diffusion-v1-5/stable-diffusion-v1-5", "lllyasviel/control_v11p_sd15_canny",
                             "madebyollin/taesd", "latent-consistency/lcm-lora-sdv1-5"}) {
      QVERIFY2(caig::hf::cachedSnapshot(cache, repo).has_value(), repo);
    }
    QVERIFY(QSettings().value("setup/done").toBool());
    auto* engine = window.findChild<QComboBox*>("engineCombo");
    auto* controlnet = window.findChild<QComboBox*>("controlnetCombo");
    QVERIFY(engine && controlnet);
    QVERIFY2(engine->currentText().contains("stable-diffusion-v1-5/stable-diffusion-v1-5"),
             qPrintable(engine->currentText()));
    QVERIFY2(controlnet->currentText().contains("lllyasviel/control_v11p_sd15_canny"),
             qPrintable(controlnet->currentText()));
    QVERIFY2(window.statusBar()->currentMessage().startsWith("Generate is set up with"),
             qPrintable(window.statusBar()->currentMessage()));
    QVERIFY(!window.maybeShowFirstRunSetup());  // not again

    // And it generates with them.
    window.findChild<QSpinBox*>("workingSizeSpin")->setValue(64);
    window.findChild<QSpinBox*>("stepsSpin")->setValue(1);
    window.findChild<QSpinBox*>("variantCount")->setValue(1);
    window.findChild<QSpinBox*>("variantsPerPrompt")->setValue(1);
    QSignalSpy generated(&window, &MainWindow::generationFinished);
    QTest::mouseClick(window.findChild<QPushButton*>("generateButton"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!generated.isEmpty(), 120000);
    QVERIFY2(generated.at(0).at(1).toString().isEmpty(), qPrintable(generated.at(0).at(1).toString()));
    QCOMPARE(generated.at(0).at(0).toInt(), 1);
    QTest::qWait(300);
    screenshot(window, "gui_first_run_done.png");
  }

  // Tools > Models > Install...: the catalogue says what is installed; another repository installs
  // with the progress shown and is then listed with where it came from.
  void theInstallDialogInstallsAnyRepository() {
    caig::ui::ModelManager manager(caig::ModelRegistry::defaultModelsDir());
    manager.show();
    QTest::mouseClick(manager.findChild<QPushButton*>("installModels"), Qt::LeftButton);
    auto* dialog = manager.findChild<caig::ui::ModelInstallDialog*>("modelInstallDialog");
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->isVisible());
    QTreeWidget* list = dialog->list();
    QStringList installed;
    for (int i = 0; i < list->topLevelItemCount(); ++i)
      if (list->topLevelItem(i)->text(4) == "installed") installed << list->topLevelItem(i)->text(1);
    QCOMPARE(installed,
             (QStringList{"stable-diffusion-v1-5/stable-diffusion-v1-5", "lllyasviel/control_v11p_sd15_canny",
                          "madebyollin/taesd", "latent-consistency/lcm-lora-sdv1-5"}));
    dialog->selectModels({"caig"});  // a pack ticks its models: the summary adds them up
    QVERIFY2(dialog->findChild<QLabel*>("installSummary")->text().startsWith("7 model(s), about 36 GB"),
             qPrintable(dialog->findChild<QLabel*>("installSummary")->text()));
    screenshot(*dialog, "gui_install_dialog.png");
    dialog->selectModels({});
    dialog->setRepository("someone/tiny-vae");
    QSignalSpy done(dialog->runner(), &caig::ui::InstallRunner::finished);
    QTest::mouseClick(dialog->findChild<QPushButton*>("installButton"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!done.isEmpty(), 30000);
    QVERIFY2(done.at(0).at(0).toBool(), qPrintable(done.at(0).at(1).toString()));
    QVERIFY2(dialog->message().startsWith("Installed someone/tiny-vae"), qPrintable(dialog->message()));
    bool listed = false;
    for (int r = 0; r < manager.table()->rowCount(); ++r) {
      if (manager.table()->item(r, caig::ui::ModelManager::Name)->text() != "someone/tiny-vae") continue;
      listed = true;
      QCOMPARE(manager.table()->item(r, caig::ui::ModelManager::Source)->text(), QStringLiteral("Hugging Face cache"));
      QVERIFY(manager.table()->item(r, caig::ui::ModelManager::Kind)->text().startsWith("VAE"));
    }
    QVERIFY(listed);
    dialog->close();
    screenshot(manager, "gui_model_manager_sources.png");
  }

 private:
  QTemporaryDir tmp_;
  std::unique_ptr<caig::test::FakeHub> hub_;
};

QTEST_MAIN(FirstRunTest)
#include "test_first_run.moc"
