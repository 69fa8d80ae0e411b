#include "core/model_files/model_locations.h"

#include <algorithm>
#include <cstdlib>

#include "core/model_files/hf_cache.h"

namespace fs = std::filesystem;

namespace caig {
namespace {

bool isDir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool isFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The folders under <root>/models where each install keeps SD files (what the registry can use).
const std::vector<std::string>& modelSubfolders(LocationKind kind) {
  static const std::vector<std::string> comfy = {"checkpoints", "diffusion_models", "controlnet", "loras", "vae"};
  static const std::vector<std::string> a1111 = {"Stable-diffusion", "ControlNet", "Lora", "VAE"};
  static const std::vector<std::string> none;
  return kind == LocationKind::ComfyUI ? comfy : kind == LocationKind::A1111 ? a1111 : none;
}

std::string homeRelative(const fs::path& p) {
  const char* home = std::getenv("HOME");
  const std::string s = p.string();
  if (home && *home) {
    const std::string h = fs::path(home).lexically_normal().string();
    if (s.rfind(h + "/", 0) == 0) return "~" + s.substr(h.size());
  }
  return s;
}

// .safetensors files under `dir`, two levels deep (ComfyUI and A1111 allow subfolders), sorted.
std::vector<fs::path> safetensorsUnder(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it.depth() > 1) {
      it.disable_recursion_pending();
      continue;
    }
    std::error_code e;
    if (it->is_regular_file(e) && it->path().extension() == ".safetensors") out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void findInSnapshot(const hf::CachedRepo& repo, std::vector<FoundModel>& out) {
  const std::string source = locationKindName(LocationKind::HuggingFaceCache);
  const fs::path& s = repo.snapshot;
  const bool model = isFile(s / "config.json") || isFile(s / "adapter_config.json");
  const bool pipeline = isFile(s / "model_index.json");
  if (model || pipeline || isFile(s / "taesd_decoder.safetensors")) out.push_back({s, repo.repoId, source});
  if (model) return;  // its .safetensors are its own weights
  // Repositories of single files (LCM-LoRA's pytorch_lora_weights, original-layout checkpoints
  // beside a pipeline): each top-level file on its own.
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(s, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e;
    const std::string name = it->path().filename().string();
    if (it->path().extension() != ".safetensors" || !it->is_regular_file(e)) continue;
    if (name.rfind("taesd", 0) == 0) continue;  // the TAESD folder above
    files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) out.push_back({f, repo.repoId + "/" + f.stem().string(), source});
}

}  // namespace

const char* locationKindName(LocationKind kind) {
  switch (kind) {
    case LocationKind::HuggingFaceCache: return "Hugging Face cache";
    case LocationKind::ComfyUI: return "ComfyUI";
    case LocationKind::A1111: return "A1111";
  }
  return "?";
}

const char* locationKindKey(LocationKind kind) {
  switch (kind) {
    case LocationKind::HuggingFaceCache: return "hf-cache";
    case LocationKind::ComfyUI: return "comfyui";
    case LocationKind::A1111: return "a1111";
  }
  return "?";
}

std::optional<LocationKind> locationKindFromKey(const std::string& key) {
  for (auto k : {LocationKind::HuggingFaceCache, LocationKind::ComfyUI, LocationKind::A1111}) {
    if (key == locationKindKey(k)) return k;
  }
  return std::nullopt;
}

std::optional<ModelLocation> detectLocation(const fs::path& folder) {
  std::error_code ec;
  fs::path root = fs::absolute(folder, ec).lexically_normal();
  if (root.filename().empty()) root = root.parent_path();
  if (!isDir(root)) return std::nullopt;
  if (!hf::listCachedModels(root).empty()) return ModelLocation{LocationKind::HuggingFaceCache, root, true};
  if (isDir(root / "hub") && !hf::listCachedModels(root / "hub").empty()) {  // HF_HOME given
    return ModelLocation{LocationKind::HuggingFaceCache, root / "hub", true};
  }
  // The install's root or its models/ folder.
  for (const fs::path& r : {root, root.parent_path()}) {
    if (r.empty()) continue;
    if (root != r && root.filename() != "models") continue;
    if (isDir(r / "models" / "checkpoints") || isDir(r / "models" / "vae_approx")) {
      return ModelLocation{LocationKind::ComfyUI, r, true};
    }
    if (isDir(r / "models" / "Stable-diffusion")) return ModelLocation{LocationKind::A1111, r, true};
  }
  return std::nullopt;
}

std::vector<ModelLocation> usualLocations() {
  std::vector<ModelLocation> out;
  const char* off = std::getenv("CAIG_MODEL_DISCOVERY");
  if (off && std::string(off) == "off") return out;
  const fs::path cache = hf::defaultCacheDir();
  if (isDir(cache)) out.push_back({LocationKind::HuggingFaceCache, cache.lexically_normal(), false});
  const char* homeEnv = std::getenv("HOME");
  if (!homeEnv || !*homeEnv) return out;
  const fs::path home(homeEnv);
  for (const char* c : {"ComfyUI", "comfyui", "ComfyUI_windows_portable/ComfyUI"}) {
    if (isDir(home / c / "models")) out.push_back({LocationKind::ComfyUI, (home / c).lexically_normal(), false});
  }
  for (const char* a : {"stable-diffusion-webui", "stable-diffusion-webui-forge"}) {
    if (isDir(home / a / "models")) out.push_back({LocationKind::A1111, (home / a).lexically_normal(), false});
  }
  return out;
}

std::vector<FoundModel> findModels(const ModelLocation& location) {
  std::vector<FoundModel> out;
  if (location.kind == LocationKind::HuggingFaceCache) {
    for (const auto& repo : hf::listCachedModels(location.root)) findInSnapshot(repo, out);
    return out;
  }
  const std::string source = std::string(locationKindName(location.kind)) + " " + homeRelative(location.root);
  const fs::path models = location.root / "models";
  for (const auto& sub : modelSubfolders(location.kind)) {
    for (const auto& f : safetensorsUnder(models / sub)) out.push_back({f, f.stem().string(), source});
  }
  if (location.kind == LocationKind::A1111) {  // the ControlNet extension's own folder
    for (const auto& f : safetensorsUnder(location.root / "extensions" / "sd-webui-controlnet" / "models")) {
      out.push_back({f, f.stem().string(), source});
    }
  }
  if (location.kind == LocationKind::ComfyUI && isFile(models / "vae_approx" / "taesd_decoder.safetensors")) {
    out.push_back({models / "vae_approx", "taesd (vae_approx)", source});
  }
  return out;
}

}  // namespace caig
