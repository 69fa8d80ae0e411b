#pragma once
// Models already on disk elsewhere, used where they are (never copied): the Hugging Face cache
// (what diffusers and transformers downloaded), a ComfyUI install (models/checkpoints, controlnet,
// loras, vae, vae_approx) and an A1111 / Forge install (models/Stable-diffusion, ControlNet, Lora,
// VAE). A location is given once by the user (kept in <models dir>/locations.json by the
// registry) or found at its usual place. Torch-free; reads directory listings only.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace caig {

enum class LocationKind { HuggingFaceCache, ComfyUI, A1111 };
const char* locationKindName(LocationKind kind);  // "Hugging Face cache", "ComfyUI", "A1111"
const char* locationKindKey(LocationKind kind);   // "hf-cache", "comfyui", "a1111" (locations.json)
std::optional<LocationKind> locationKindFromKey(const std::string& key);

struct ModelLocation {
  LocationKind kind = LocationKind::HuggingFaceCache;
  std::filesystem::path root;  // the cache, or the install's root folder (the one holding models/)
  bool userGiven = false;
};

// What a folder the user points at is: a Hugging Face cache (it holds models--org--name folders),
// a ComfyUI or A1111 install (its root, or its models/ folder). nullopt when it is none of them.
std::optional<ModelLocation> detectLocation(const std::filesystem::path& folder);

// The usual places that exist: the Hugging Face cache (HF_HUB_CACHE / HF_HOME rules), ComfyUI at
// ~/ComfyUI, ~/comfyui, ~/ComfyUI_windows_portable/ComfyUI; A1111 at ~/stable-diffusion-webui,
// ~/stable-diffusion-webui-forge. None when CAIG_MODEL_DISCOVERY=off (the tests set it, so the
// machine's own models never change what they see).
std::vector<ModelLocation> usualLocations();

struct FoundModel {
  std::filesystem::path path;  // a model folder or a .safetensors file, as the registry inspects them
  std::string name;            // "org/name" for a cache repository ("org/name/file" for its files), else the file stem
  std::string source;          // "Hugging Face cache", "ComfyUI ~/ComfyUI", ...
};

// The models of one location. Never throws; unreadable folders are skipped.
std::vector<FoundModel> findModels(const ModelLocation& location);

}  // namespace caig
