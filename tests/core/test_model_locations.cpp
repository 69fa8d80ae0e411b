// Models already on disk: a Hugging Face cache, ComfyUI and A1111 installs built from the tiny
// fixtures, listed by the registry where they are (never copied).

#include "core/model_files/model_locations.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "core/model_files/hf_cache.h"
#include "core/model_files/model_registry.h"
#include "models/io/errors.h"
#include "tests/models/test_util.h"
#include "tests/support/fake_hub.h"

namespace fs = std::filesystem;
using caig::LocationKind;
using caig::ModelKind;
using caig::ModelRegistry;
using caig::ModelStatus;
using caig::test::TempDir;

namespace {

const fs::path kData = CAIG_TEST_DATA;

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A repository as huggingface_hub leaves it: blobs by content hash, relative links, refs/main.
fs::path cacheRepo(const fs::path& cache, const std::string& id, const fs::path& from, const std::string& commit) {
  const fs::path folder = cache / caig::hf::repoFolderName(id);
  std::vector<fs::path> files;
  if (fs::is_regular_file(from)) {
    files.push_back(from);
  } else {
    for (fs::recursive_directory_iterator it(from), end; it != end; ++it)
      if (it->is_regular_file()) files.push_back(it->path());
  }
  for (const auto& f : files) {
    const std::string bytes = readAll(f);
    const std::string etag = caig::test::sha256Hex(bytes);
    fs::create_directories(folder / "blobs");
    caig::test::writeFile(folder / "blobs" / etag, bytes);
    const std::string rel =
        fs::is_regular_file(from) ? f.filename().string() : f.lexically_relative(from).generic_string();
    caig::hf::linkSnapshotFile(folder, commit, rel, etag);
  }
  caig::hf::writeRef(folder, "main", commit);
  return folder / "snapshots" / commit;
}

const std::string kCommitA(40, 'a');
const std::string kCommitB(40, 'b');

std::map<std::string, caig::InstalledModel> byName(const std::vector<caig::InstalledModel>& models) {
  std::map<std::string, caig::InstalledModel> out;
  for (const auto& m : models) out[m.name] = m;
  return out;
}

}  // namespace

TEST(HfCache, NamesAndSnapshotsAsHuggingFaceHub) {
  EXPECT_EQ(caig::hf::repoFolderName("stable-diffusion-v1-5/stable-diffusion-v1-5"),
            "models--stable-diffusion-v1-5--stable-diffusion-v1-5");
  EXPECT_EQ(caig::hf::repoIdFromFolder("models--madebyollin--taesd"), "madebyollin/taesd");
  EXPECT_EQ(caig::hf::repoIdFromFolder("datasets--a--b"), std::nullopt);
  EXPECT_FALSE(caig::hf::validRepoId("../etc"));
  EXPECT_FALSE(caig::hf::validRepoId("a/b/c"));
  EXPECT_FALSE(caig::hf::validRepoId("a/.."));
  EXPECT_THROW(caig::hf::repoFolderName("nope"), std::invalid_argument);
  TempDir cache;
  const fs::path snap = cacheRepo(cache.path(), "tiny/taesd", kData / "taesd" / "tiny-taesd", kCommitA);
  EXPECT_EQ(caig::hf::cachedSnapshot(cache.path(), "tiny/taesd"), snap);
  EXPECT_EQ(caig::hf::cachedSnapshot(cache.path(), "tiny/taesd", kCommitA), snap);
  EXPECT_EQ(caig::hf::cachedSnapshot(cache.path(), "tiny/taesd", "v2"), std::nullopt);
  EXPECT_EQ(caig::hf::cachedSnapshot(cache.path(), "tiny/other"), std::nullopt);
  // A link leaving the snapshot is refused.
  EXPECT_THROW(caig::hf::linkSnapshotFile(cache.path() / "models--tiny--taesd", kCommitA, "../../evil", "x"),
               caig::io::FileError);
  const auto repos = caig::hf::listCachedModels(cache.path());
  ASSERT_EQ(repos.size(), 1u);
  EXPECT_EQ(repos[0].repoId, "tiny/taesd");
  EXPECT_EQ(repos[0].commit, kCommitA);
}

TEST(ModelLocations, ListsTheHuggingFaceCacheInPlace) {
  TempDir tmp;
  const fs::path cache = tmp / "hub";
  const fs::path sd = cacheRepo(cache, "tiny/sd-e2e", kData / "tiny-sd-e2e", kCommitA);
  cacheRepo(cache, "tiny/controlnet", kData / "single_file_sd15" / "tiny-controlnet", kCommitA);
  cacheRepo(cache, "tiny/taesd", kData / "taesd" / "tiny-taesd", kCommitB);
  // LCM-LoRA's repository holds one file without a config: listed as that file.
  cacheRepo(cache, "latent-consistency/lcm-lora-sdv1-5", kData / "lora" / "lcm-lora-style.safetensors", kCommitA);
  fs::rename(
      cache / "models--latent-consistency--lcm-lora-sdv1-5" / "snapshots" / kCommitA / "lcm-lora-style.safetensors",
      cache / "models--latent-consistency--lcm-lora-sdv1-5" / "snapshots" / kCommitA /
          "pytorch_lora_weights.safetensors");

  ModelRegistry registry(tmp / "models");
  const auto location = registry.addLocation(cache);
  EXPECT_EQ(location.kind, LocationKind::HuggingFaceCache);
  auto models = byName(registry.scan());
  ASSERT_TRUE(models.count("tiny/sd-e2e"));
  EXPECT_EQ(models["tiny/sd-e2e"].kind, ModelKind::StableDiffusion);
  EXPECT_EQ(models["tiny/sd-e2e"].status, ModelStatus::Ok) << models["tiny/sd-e2e"].reason;
  EXPECT_EQ(models["tiny/sd-e2e"].path, sd);
  EXPECT_EQ(models["tiny/sd-e2e"].source, "Hugging Face cache");
  // The size is the blobs' (the links followed), not the links'.
  uint64_t bytes = 0;
  for (fs::recursive_directory_iterator it(kData / "tiny-sd-e2e"), end; it != end; ++it)
    if (it->is_regular_file()) bytes += it->file_size();
  EXPECT_EQ(models["tiny/sd-e2e"].bytesOnDisk, bytes);
  EXPECT_EQ(models["tiny/controlnet"].kind, ModelKind::ControlNet);
  EXPECT_EQ(models["tiny/taesd"].kind, ModelKind::Taesd);
  const std::string lcm = "latent-consistency/lcm-lora-sdv1-5/pytorch_lora_weights";
  ASSERT_TRUE(models.count(lcm));
  EXPECT_EQ(models[lcm].kind, ModelKind::SdLora);
  EXPECT_EQ(registry.findTaesd(), models["tiny/taesd"].path);
  // Kept in locations.json, read back by a new registry; forgetting it deletes nothing.
  EXPECT_EQ(ModelRegistry(tmp / "models").userLocations().size(), 1u);
  EXPECT_TRUE(registry.removeLocation(cache));
  EXPECT_FALSE(byName(ModelRegistry(tmp / "models").scan()).count("tiny/sd-e2e"));
  EXPECT_TRUE(fs::exists(sd / "unet" / "diffusion_pytorch_model.safetensors"));
}

TEST(ModelLocations, ListsComfyUiAndA1111Folders) {
  TempDir tmp;
  const fs::path sf = kData / "single_file_sd15";
  const fs::path comfy = tmp / "ComfyUI";
  for (const char* d : {"checkpoints", "controlnet", "loras", "vae", "vae_approx", "checkpoints/realistic"})
    fs::create_directories(comfy / "models" / d);
  fs::copy_file(sf / "tiny-sd15.safetensors", comfy / "models/checkpoints/realistic/tiny-comfy.safetensors");
  fs::copy_file(sf / "tiny-controlnet-ldm.safetensors", comfy / "models/controlnet/tiny-canny.safetensors");
  fs::copy_file(kData / "lora" / "lora-kohya-locon.safetensors", comfy / "models/loras/marble.safetensors");
  caig::test::writeFile(comfy / "models/checkpoints/old.ckpt", "pickle");  // never listed
  fs::copy_file(kData / "tiny-sd-controlnet-inpaint" / "vae" / "diffusion_pytorch_model.safetensors",
                comfy / "models/vae/vae-tiny.safetensors");
  const fs::path a1111 = tmp / "stable-diffusion-webui";
  fs::create_directories(a1111 / "models" / "Stable-diffusion");
  fs::create_directories(a1111 / "models" / "Lora");
  fs::create_directories(a1111 / "extensions/sd-webui-controlnet/models");
  fs::copy_file(sf / "tiny-sd15-inpainting.safetensors",
                a1111 / "models/Stable-diffusion/tiny-a1111-inpaint.safetensors");
  fs::copy_file(sf / "tiny-controlnet-ldm.safetensors",
                a1111 / "extensions/sd-webui-controlnet/models/cn-a1111.safetensors");

  // Pointing at models/ finds the install's root too.
  EXPECT_EQ(caig::detectLocation(comfy / "models")->root, comfy);
  EXPECT_EQ(caig::detectLocation(comfy / "models")->kind, LocationKind::ComfyUI);
  EXPECT_EQ(caig::detectLocation(a1111)->kind, LocationKind::A1111);
  EXPECT_EQ(caig::detectLocation(tmp / "nothing"), std::nullopt);

  ModelRegistry registry(tmp / "models");
  registry.addLocation(comfy / "models");
  registry.addLocation(a1111);
  try {
    registry.addLocation(tmp.path());
    ADD_FAILURE() << "a plain folder accepted as a location";
  } catch (const caig::io::FileError& e) {
    EXPECT_NE(std::string(e.what()).find("not a Hugging Face cache"), std::string::npos) << e.what();
  }
  auto models = byName(registry.scan());
  EXPECT_EQ(models["tiny-comfy"].kind, ModelKind::StableDiffusion);
  EXPECT_EQ(models["tiny-comfy"].status, ModelStatus::Ok) << models["tiny-comfy"].reason;
  EXPECT_EQ(models["tiny-comfy"].source.rfind("ComfyUI ", 0), 0u) << models["tiny-comfy"].source;
  EXPECT_EQ(models["tiny-canny"].kind, ModelKind::ControlNet);
  EXPECT_EQ(models["marble"].kind, ModelKind::SdLora);
  EXPECT_EQ(models["vae-tiny"].kind, ModelKind::Vae);
  EXPECT_FALSE(models.count("old"));
  EXPECT_EQ(models["tiny-a1111-inpaint"].detail, "single-file SD1.x inpainting checkpoint");
  EXPECT_EQ(models["tiny-a1111-inpaint"].source.rfind("A1111 ", 0), 0u);
  EXPECT_EQ(models["cn-a1111"].kind, ModelKind::ControlNet);
  // A ComfyUI LoRA answers <lora:marble:0.8> like one in the models folder.
  EXPECT_EQ(registry.findSdLora("marble"), comfy / "models/loras/marble.safetensors");
}

TEST(ModelLocations, FindsTheUsualPlacesUnlessSwitchedOff) {
  TempDir home;
  fs::create_directories(home / "ComfyUI/models/checkpoints");
  fs::create_directories(home / "stable-diffusion-webui/models/Stable-diffusion");
  cacheRepo(home / ".cache/huggingface/hub", "tiny/taesd", kData / "taesd" / "tiny-taesd", kCommitA);
  const std::string oldHome = std::getenv("HOME") ? std::getenv("HOME") : "";
  setenv("HOME", home.path().c_str(), 1);
  for (const char* v : {"HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"}) unsetenv(v);
  setenv("CAIG_MODEL_DISCOVERY", "on", 1);
  const auto found = caig::usualLocations();
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0].kind, LocationKind::HuggingFaceCache);
  EXPECT_EQ(found[0].root, home / ".cache/huggingface/hub");
  EXPECT_EQ(found[1].kind, LocationKind::ComfyUI);
  EXPECT_EQ(found[2].kind, LocationKind::A1111);
  EXPECT_TRUE(byName(ModelRegistry(home / "models").scan()).count("tiny/taesd"));
  setenv("CAIG_MODEL_DISCOVERY", "off", 1);
  EXPECT_TRUE(caig::usualLocations().empty());
  setenv("HOME", oldHome.c_str(), 1);
}

TEST(ModelLocations, AMalformedLocationsFileIsAnError) {
  TempDir tmp;
  fs::create_directories(tmp / "models");
  caig::test::writeFile(tmp / "models" / "locations.json", R"({"locations": [{"kind": "invokeai", "path": "/x"}]})");
  try {
    ModelRegistry registry(tmp / "models");
    ADD_FAILURE() << "accepted";
  } catch (const caig::io::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("hf-cache, comfyui, a1111"), std::string::npos) << e.what();
  }
}
