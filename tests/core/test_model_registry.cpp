// The model registry over the tiny fixture folders of tests/data and broken copies of them.

#include "core/model_files/model_registry.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "models/io/errors.h"
#include "tests/tiny_models.h"

namespace fs = std::filesystem;
using caig::InstalledModel;
using caig::ModelKind;
using caig::ModelRegistry;
using caig::ModelStatus;
using nlohmann::json;

namespace {

const fs::path kData = CAIG_TEST_DATA;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("caig-registry-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void writeAll(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

// Parameters of a safetensors file computed straight from its header (independent of the registry).
uint64_t countParams(const fs::path& file) {
  const std::string bytes = readAll(file);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  const json header = json::parse(bytes.substr(8, n));
  uint64_t total = 0;
  for (const auto& [key, t] : header.items()) {
    if (key == "__metadata__") continue;
    uint64_t numel = 1;
    for (const auto& d : t["shape"]) numel *= d.get<uint64_t>();
    total += numel;
  }
  return total;
}

// A small safetensors file of zeros: {name, dtype, shape}.
struct Spec {
  std::string name, dtype;
  std::vector<int64_t> shape;
};
void writeSafetensors(const fs::path& file, const std::vector<Spec>& tensors) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<uint64_t>(d);
    const uint64_t bytes = numel * (t.dtype == "F32" ? 4 : 2);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  const std::string text = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  out += text + std::string(offset, '\0');
  writeAll(file, out);
}

fs::path makeRewardModel(const fs::path& where) {
  return caig::test::assembleTinyRewardModel(kData, where / "tiny-rm");
}

bool mentions(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(ModelRegistry, BuiltInEnginesAreAlwaysListed) {
  TempDir tmp;
  const ModelRegistry registry(tmp.path() / "no-such-models-dir");
  const auto models = registry.scan();
  ASSERT_EQ(models.size(), ModelRegistry::builtInEngines().size());
  ASSERT_GE(models.size(), 3u);
  for (const auto& m : models) {
    EXPECT_EQ(m.kind, ModelKind::BuiltIn);
    EXPECT_EQ(m.status, ModelStatus::Ok);
    EXPECT_FALSE(m.neural);
    EXPECT_TRUE(m.path.empty());
  }
}

TEST(ModelRegistry, DefaultModelsDirMatchesTheIsnetImport) {
  const char* old = std::getenv("CAIG_MODELS_DIR");
  const std::string saved = old ? old : "";
  unsetenv("CAIG_MODELS_DIR");
  setenv("XDG_DATA_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(ModelRegistry::defaultModelsDir(), fs::path("/tmp/xdg-test/caig-studio/models"));
  setenv("CAIG_MODELS_DIR", "/opt/models", 1);
  EXPECT_EQ(ModelRegistry::defaultModelsDir(), fs::path("/opt/models"));
  if (old) setenv("CAIG_MODELS_DIR", saved.c_str(), 1); else unsetenv("CAIG_MODELS_DIR");
  unsetenv("XDG_DATA_HOME");
}

TEST(ModelRegistry, ClassifiesLlavaFolders) {
  for (const char* name : {"tiny-llava", "tiny-llava-hf"}) {
    SCOPED_TRACE(name);
    const InstalledModel m = ModelRegistry::inspect(kData / name);
    EXPECT_EQ(m.kind, ModelKind::Llava);
    EXPECT_EQ(m.status, ModelStatus::Ok) << m.reason;
    EXPECT_EQ(m.name, name);
    EXPECT_EQ(m.precision(), "F32");
    EXPECT_EQ(m.parameters, countParams(kData / name / "model.safetensors"));
    EXPECT_GT(m.parameters, 0u);
    EXPECT_EQ(m.bytesOnDisk, fs::file_size(kData / name / "model.safetensors") + fs::file_size(kData / name / "config.json"));
    ASSERT_EQ(m.weightFiles.size(), 1u);
  }
}

TEST(ModelRegistry, OtherTransformersModelKeepsItsArchitecture) {
  const InstalledModel m = ModelRegistry::inspect(kData / "tiny-qwen2");
  EXPECT_EQ(m.kind, ModelKind::Other);
  EXPECT_EQ(m.status, ModelStatus::Ok) << m.reason;
  EXPECT_EQ(m.detail, "Qwen2ForCausalLM");
  EXPECT_EQ(m.parameters, countParams(kData / "tiny-qwen2" / "model.safetensors"));
}

TEST(ModelRegistry, PipelineWithoutUnetWeightsIsMissingFiles) {
  const InstalledModel m = ModelRegistry::inspect(kData / "tiny-sd-configs");
  EXPECT_EQ(m.kind, ModelKind::StableDiffusion);
  EXPECT_EQ(m.status, ModelStatus::MissingFiles);
  EXPECT_TRUE(mentions(m.reason, "unet weights")) << m.reason;
  EXPECT_TRUE(mentions(m.reason, "vae weights")) << m.reason;
  EXPECT_TRUE(mentions(m.reason, "controlnet weights")) << m.reason;
  EXPECT_FALSE(mentions(m.reason, "text_encoder")) << m.reason;  // present
  EXPECT_FALSE(mentions(m.reason, "tokenizer")) << m.reason;     // config-only component
  // The text encoder's header was read all the same.
  EXPECT_EQ(m.parameters, countParams(kData / "tiny-sd-configs" / "text_encoder" / "model.safetensors"));

  const InstalledModel cn = ModelRegistry::inspect(kData / "tiny-sd-configs" / "controlnet");
  EXPECT_EQ(cn.kind, ModelKind::ControlNet);
  EXPECT_EQ(cn.status, ModelStatus::MissingFiles);
}

TEST(ModelRegistry, CompletePipelineIsOk) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "sd";
  fs::copy(kData / "tiny-sd-configs", dir, fs::copy_options::recursive);
  for (const char* c : {"unet", "vae", "controlnet"}) {
    writeSafetensors(dir / c / "diffusion_pytorch_model.safetensors", {{"conv.weight", "F16", {4, 4, 3, 3}}});
  }
  const InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::Ok) << m.reason;
  EXPECT_EQ(m.precision(), "F16+F32");
  EXPECT_EQ(m.weightFiles.size(), 4u);
  EXPECT_EQ(m.parameters, 3 * 144 + countParams(dir / "text_encoder" / "model.safetensors"));
}

TEST(ModelRegistry, RewardModelAcrossShards) {
  TempDir tmp;
  const fs::path dir = makeRewardModel(tmp.path());
  InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.kind, ModelKind::RewardModel);
  EXPECT_EQ(m.status, ModelStatus::Ok) << m.reason;
  EXPECT_EQ(m.weightFiles.size(), 2u);
  EXPECT_EQ(m.parameters, countParams(dir / "language-and-vision.safetensors") + countParams(dir / "score-head.safetensors"));

  fs::remove(dir / "score-head.safetensors");
  m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::MissingFiles);
  EXPECT_TRUE(mentions(m.reason, "score-head.safetensors")) << m.reason;
}

// A project's own trained models: the merged reward model and PCPO's round models, named after
// their run; nothing else under models/ (adapters, JSON weights) is listed.
TEST(ModelRegistry, ProjectModelsAreTheTrainedStandaloneFolders) {
  TempDir tmp;
  const fs::path project = tmp.path() / "p";
  fs::create_directories(project / "models" / "shop-rm" / "merged");
  fs::create_directories(project / "models" / "adapter-only");
  const fs::path rm = makeRewardModel(tmp.path());
  for (const auto& e : fs::directory_iterator(rm))
    fs::copy(e.path(), project / "models" / "shop-rm" / "merged" / e.path().filename());
  fs::create_directories(project / "models" / "llava-pcpo-1" / "round-2" / "model");
  std::ofstream(project / "models" / "builtin-ranker.json") << "{}";

  const auto models = ModelRegistry::projectModels(project);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "llava-pcpo-1 round 2 (project)");
  EXPECT_EQ(models[1].name, "shop-rm (project)");
  EXPECT_EQ(models[1].kind, ModelKind::RewardModel);
  EXPECT_EQ(models[1].status, ModelStatus::Ok) << models[1].reason;
  EXPECT_EQ(models[1].path, project / "models" / "shop-rm" / "merged");
  EXPECT_TRUE(ModelRegistry::projectModels(tmp.path() / "no-such-project").empty());
}

TEST(ModelRegistry, IndexNamingAnAbsentTensorIsInvalid) {
  TempDir tmp;
  const fs::path dir = makeRewardModel(tmp.path());
  json index = json::parse(readAll(dir / "model.safetensors.index.json"));
  index["weight_map"]["score.extra"] = "score-head.safetensors";
  writeAll(dir / "model.safetensors.index.json", index.dump());
  const InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::Invalid);
  EXPECT_TRUE(mentions(m.reason, "score.extra")) << m.reason;
}

TEST(ModelRegistry, TruncatedSafetensorsIsInvalid) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "qwen";
  fs::copy(kData / "tiny-qwen2", dir, fs::copy_options::recursive);
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
  const InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::Invalid);
  EXPECT_TRUE(mentions(m.reason, "model.safetensors")) << m.reason;

  fs::resize_file(dir / "model.safetensors", 5);  // not even the length prefix
  EXPECT_EQ(ModelRegistry::inspect(dir).status, ModelStatus::Invalid);
}

TEST(ModelRegistry, GarbageConfigIsInvalid) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "llava";
  fs::copy(kData / "tiny-llava", dir, fs::copy_options::recursive);
  writeAll(dir / "config.json", "{\"architectures\": [\"Llava");
  const InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::Invalid);
  EXPECT_TRUE(mentions(m.reason, "config.json")) << m.reason;
}

TEST(ModelRegistry, ConfigDisagreeingWithShapesIsInvalid) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "llava";
  fs::copy(kData / "tiny-llava", dir, fs::copy_options::recursive);
  json config = json::parse(readAll(dir / "config.json"));
  config["hidden_size"] = config["hidden_size"].get<int>() * 2;
  writeAll(dir / "config.json", config.dump());
  const InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::Invalid);
  EXPECT_TRUE(mentions(m.reason, "embed_tokens")) << m.reason;
}

TEST(ModelRegistry, MissingWeightsAndNonModelFolders) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "noweights";
  fs::create_directories(dir);
  fs::copy_file(kData / "tiny-qwen2" / "config.json", dir / "config.json");
  writeAll(dir / "pytorch_model.bin", "pickle");
  InstalledModel m = ModelRegistry::inspect(dir);
  EXPECT_EQ(m.status, ModelStatus::MissingFiles);
  EXPECT_TRUE(mentions(m.reason, "pickle")) << m.reason;

  fs::create_directories(tmp.path() / "photos");
  m = ModelRegistry::inspect(tmp.path() / "photos");
  EXPECT_EQ(m.status, ModelStatus::Invalid);
  EXPECT_TRUE(mentions(m.reason, "not a model folder")) << m.reason;

  m = ModelRegistry::inspect(tmp.path() / "gone");
  EXPECT_EQ(m.status, ModelStatus::MissingFiles);
  EXPECT_TRUE(mentions(m.reason, "not found")) << m.reason;
}

TEST(ModelRegistry, IsnetAndLoraFolders) {
  TempDir tmp;
  const fs::path isnet = tmp.path() / "isnet";
  fs::create_directories(isnet);
  writeSafetensors(isnet / "isnet.safetensors", {{"stage1.conv.weight", "F16", {8, 3, 3, 3}}});
  writeAll(isnet / "config.json", "{\"model_type\": \"isnet\"}");
  InstalledModel m = ModelRegistry::inspect(isnet);
  EXPECT_EQ(m.kind, ModelKind::Isnet);
  EXPECT_EQ(m.status, ModelStatus::Ok) << m.reason;
  EXPECT_EQ(m.precision(), "F16");
  EXPECT_EQ(m.parameters, 216u);

  const fs::path lora = tmp.path() / "style-lora";
  fs::create_directories(lora);
  writeAll(lora / "adapter_config.json", R"({"r": 4, "lora_alpha": 8, "base_model_name_or_path": "caig-rm"})");
  writeSafetensors(lora / "adapter_model.safetensors",
                   {{"base_model.model.q_proj.lora_A.weight", "F32", {4, 32}},
                    {"base_model.model.q_proj.lora_B.weight", "F32", {32, 4}}});
  m = ModelRegistry::inspect(lora);
  EXPECT_EQ(m.kind, ModelKind::LoraAdapter);
  EXPECT_EQ(m.status, ModelStatus::Ok) << m.reason;
  EXPECT_EQ(m.parameters, 256u);
  EXPECT_TRUE(mentions(m.detail, "caig-rm"));

  writeAll(lora / "adapter_config.json", R"({"r": 8})");
  m = ModelRegistry::inspect(lora);
  EXPECT_EQ(m.status, ModelStatus::Invalid);
  EXPECT_TRUE(mentions(m.reason, "r = 8")) << m.reason;
}

TEST(ModelRegistry, ScansTheModelsDirAndUserFolders) {
  TempDir tmp;
  const fs::path modelsDir = tmp.path() / "models";
  fs::create_directories(modelsDir);
  fs::copy(kData / "tiny-llava", modelsDir / "llava-tiny", fs::copy_options::recursive);
  {
    ModelRegistry registry(modelsDir);
    EXPECT_TRUE(registry.addFolder(kData / "tiny-qwen2"));
    EXPECT_FALSE(registry.addFolder(kData / "tiny-qwen2" / ""));  // same folder
    EXPECT_TRUE(registry.addFolder(kData / "tiny-sd-configs"));
    EXPECT_THROW(registry.addFolder(tmp.path() / "absent"), caig::io::FileError);
  }
  EXPECT_TRUE(fs::exists(modelsDir / "user-folders.json"));
  EXPECT_FALSE(fs::exists(modelsDir / "user-folders.json.partial"));

  ModelRegistry registry(modelsDir);  // the list was persisted
  ASSERT_EQ(registry.userFolders().size(), 2u);
  const auto models = registry.scan();
  const size_t builtins = ModelRegistry::builtInEngines().size();
  ASSERT_EQ(models.size(), builtins + 3);
  EXPECT_EQ(models[builtins].name, "llava-tiny");
  EXPECT_FALSE(models[builtins].userAdded);
  EXPECT_EQ(models[builtins + 1].name, "tiny-qwen2");
  EXPECT_TRUE(models[builtins + 1].userAdded);
  EXPECT_EQ(models[builtins + 2].kind, ModelKind::StableDiffusion);

  EXPECT_TRUE(registry.removeFolder(models[builtins + 1].path));
  EXPECT_FALSE(registry.removeFolder(models[builtins + 1].path));
  EXPECT_TRUE(fs::exists(kData / "tiny-qwen2" / "model.safetensors"));  // never deleted
  EXPECT_EQ(ModelRegistry(modelsDir).userFolders().size(), 1u);
}

// Single-file checkpoints dropped into the models folder (or added by hand) are listed by what
// their keys say; what the sd15 engine cannot load is listed as invalid with the reason.
TEST(ModelRegistry, ListsSingleFileCheckpointsByWhatTheyHold) {
  TempDir tmp;
  const fs::path modelsDir = tmp.path() / "models";
  fs::create_directories(modelsDir);
  const fs::path sf = kData / "single_file_sd15";
  fs::copy_file(sf / "tiny-sd15.safetensors", modelsDir / "tiny-sd15.safetensors");
  fs::copy_file(sf / "tiny-sd15-inpainting.safetensors", modelsDir / "tiny-sd15-inpainting.safetensors");
  fs::copy_file(sf / "tiny-controlnet-ldm.safetensors", modelsDir / "canny.safetensors");
  writeAll(modelsDir / "notes.txt", "not a model");
  writeSafetensors(modelsDir / "style-lora.safetensors",
                   {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", "F16", {2, 4}}});
  ModelRegistry registry(modelsDir);
  const auto models = registry.scan();
  const size_t builtins = ModelRegistry::builtInEngines().size();
  ASSERT_EQ(models.size(), builtins + 4);  // notes.txt is not looked at
  std::map<std::string, caig::InstalledModel> byName;
  for (std::size_t i = builtins; i < models.size(); ++i) byName[models[i].name] = models[i];
  ASSERT_TRUE(byName.count("tiny-sd15") && byName.count("tiny-sd15-inpainting") && byName.count("style-lora"));
  EXPECT_EQ(byName["tiny-sd15"].kind, ModelKind::StableDiffusion);
  EXPECT_EQ(byName["tiny-sd15"].status, caig::ModelStatus::Ok) << byName["tiny-sd15"].reason;
  EXPECT_EQ(byName["tiny-sd15"].detail, "single-file SD1.x checkpoint");
  EXPECT_EQ(byName["tiny-sd15"].bytesOnDisk, fs::file_size(sf / "tiny-sd15.safetensors"));
  EXPECT_EQ(byName["tiny-sd15"].precision(), "F32");
  EXPECT_EQ(byName["tiny-sd15-inpainting"].detail, "single-file SD1.x inpainting checkpoint");
  EXPECT_EQ(byName["tiny-sd15-inpainting"].precision(), "F16");
  EXPECT_EQ(byName["canny"].kind, ModelKind::ControlNet);
  EXPECT_EQ(byName["canny"].status, caig::ModelStatus::Ok) << byName["canny"].reason;
  EXPECT_EQ(byName["style-lora"].kind, ModelKind::SdLora);
  EXPECT_EQ(byName["style-lora"].status, caig::ModelStatus::Ok) << byName["style-lora"].reason;
  EXPECT_EQ(byName["style-lora"].detail, "kohya / A1111 LoRA, rank 2, 1 UNet + 0 text encoder modules");
  // Added from elsewhere, as a file.
  EXPECT_TRUE(registry.addFolder(sf / "tiny-sd15-with-ema.safetensors"));
  EXPECT_THROW(registry.addFolder(sf / "tiny-sd15.yaml"), caig::io::FileError);
  EXPECT_EQ(registry.scan().back().name, "tiny-sd15-with-ema");
  EXPECT_EQ(registry.scan().back().kind, ModelKind::StableDiffusion);
  // Its own metadata is kept, the telling entries summarised for the model manager.
  const auto withEma = registry.scan().back();
  EXPECT_EQ(withEma.metadata.at("global_step"), "840000");
  EXPECT_EQ(withEma.metadataSummary(),
            "title: tiny-sd15 (test fixture); architecture: stable-diffusion-v1; format: pt");
  EXPECT_TRUE(byName["tiny-sd15"].metadata.empty());
  EXPECT_EQ(byName["tiny-sd15"].metadataSummary(), "");
}

// VAE files and TAESD in their three forms are listed as what they are; the first usable TAESD
// is the one --vae-decode taesd falls back on.
TEST(ModelRegistry, ListsVaeFilesAndTaesd) {
  TempDir tmp;
  const fs::path modelsDir = tmp.path() / "models";
  fs::create_directories(modelsDir / "vae_approx");
  ModelRegistry empty(modelsDir);
  EXPECT_TRUE(empty.findTaesd().empty());
  fs::copy_file(kData / "tiny-sd-controlnet-inpaint" / "vae" / "diffusion_pytorch_model.safetensors",
                modelsDir / "vae-ft-tiny.safetensors");
  fs::copy(kData / "tiny-sd-controlnet-inpaint" / "vae", modelsDir / "sd-vae-folder");
  fs::copy(kData / "taesd" / "tiny-taesd", modelsDir / "taesd");
  writeSafetensors(
      modelsDir / "vae_approx" / "taesd_decoder.safetensors",
      {{"1.weight", "F16", {8, 4, 3, 3}}, {"1.bias", "F16", {8}}, {"3.conv.0.weight", "F16", {8, 8, 3, 3}}});
  ModelRegistry registry(modelsDir);
  std::map<std::string, caig::InstalledModel> byName;
  for (const auto& m : registry.scan()) byName[m.name] = m;
  EXPECT_EQ(byName["vae-ft-tiny"].kind, ModelKind::Vae);
  EXPECT_EQ(byName["vae-ft-tiny"].detail, "VAE file (diffusers names)");
  EXPECT_EQ(byName["sd-vae-folder"].kind, ModelKind::Vae);
  EXPECT_EQ(byName["sd-vae-folder"].status, caig::ModelStatus::Ok) << byName["sd-vae-folder"].reason;
  EXPECT_EQ(byName["taesd"].kind, ModelKind::Taesd);
  EXPECT_EQ(byName["taesd"].status, caig::ModelStatus::Ok) << byName["taesd"].reason;
  EXPECT_EQ(byName["vae_approx"].kind, ModelKind::Taesd);  // madebyollin's files in a folder
  EXPECT_EQ(byName["vae_approx"].detail, "TAESD decoder");
  EXPECT_EQ(registry.findTaesd(), modelsDir / "taesd");
  EXPECT_STREQ(caig::modelKindName(ModelKind::Taesd), "TAESD (fast previews)");
}

// LoRAs in <models>/loras (A1111's models/Lora) are listed one by one and found by the name a
// prompt's <lora:name:weight> gives.
TEST(ModelRegistry, FindsLorasByTheirPromptName) {
  TempDir tmp;
  const fs::path modelsDir = tmp.path() / "models";
  fs::create_directories(modelsDir / "loras");
  fs::copy_file(kData / "lora" / "lora-kohya-locon.safetensors", modelsDir / "loras" / "marble.safetensors");
  fs::copy_file(kData / "lora" / "lora-diffusers" / "pytorch_lora_weights.safetensors",
                modelsDir / "loras" / "soft-light.safetensors");
  fs::copy_file(kData / "single_file_sd15" / "tiny-sd15.safetensors", modelsDir / "loras" / "not-a-lora.safetensors");
  ModelRegistry registry(modelsDir);
  const auto models = registry.scan();
  ASSERT_EQ(models.size(), ModelRegistry::builtInEngines().size() + 3);  // the loras/ folder itself is not a model
  const auto& marble = models[models.size() - 3];
  EXPECT_EQ(marble.name, "marble");
  EXPECT_EQ(marble.kind, ModelKind::SdLora);
  EXPECT_EQ(marble.detail, "kohya / A1111 LoCon, rank 2-3, 278 UNet + 18 text encoder modules (50 convolutions)");
  EXPECT_EQ(models.back().detail, "diffusers / PEFT LoRA, rank 2, 128 UNet + 12 text encoder modules");
  EXPECT_EQ(registry.findSdLora("marble"), modelsDir / "loras" / "marble.safetensors");
  const auto errorOf = [&](const std::string& name) {
    try {
      registry.findSdLora(name);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(errorOf("nope").find("<lora:nope>: no nope.safetensors among"), std::string::npos);
  EXPECT_NE(errorOf("not-a-lora").find("is not a usable LoRA"), std::string::npos);
}

TEST(ModelRegistry, ListsAnIsnetFolderMovedWithTheEnvironment) {
  TempDir tmp;
  const fs::path isnet = tmp.path() / "elsewhere" / "isnet";
  fs::create_directories(isnet);
  writeSafetensors(isnet / "isnet.safetensors", {{"w", "F16", {4}}});
  setenv("CAIG_ISNET_DIR", isnet.c_str(), 1);
  const auto models = ModelRegistry(tmp.path() / "models").scan();
  unsetenv("CAIG_ISNET_DIR");
  ASSERT_EQ(models.size(), ModelRegistry::builtInEngines().size() + 1);
  EXPECT_EQ(models.back().kind, ModelKind::Isnet);
  EXPECT_EQ(models.back().status, ModelStatus::Ok) << models.back().reason;
}

TEST(ModelRegistry, MalformedUserFolderListIsAnError) {
  TempDir tmp;
  writeAll(tmp.path() / "user-folders.json", "[1, 2");
  EXPECT_THROW(ModelRegistry{tmp.path()}, caig::io::FormatError);
  writeAll(tmp.path() / "user-folders.json", R"({"folders": [3]})");
  EXPECT_THROW(ModelRegistry{tmp.path()}, caig::io::FormatError);
}

TEST(ModelRegistry, VerifyHashesEveryWeightFile) {
  TempDir tmp;
  const fs::path dir = makeRewardModel(tmp.path());
  const InstalledModel m = ModelRegistry::inspect(dir);
  uint64_t lastDone = 0, lastTotal = 0;
  int calls = 0;
  caig::VerifyOptions options;
  options.hash = true;
  options.progress = [&](uint64_t done, uint64_t total, const fs::path&) {
    EXPECT_GE(done, lastDone);
    lastDone = done;
    lastTotal = total;
    ++calls;
    return true;
  };
  const caig::VerifyResult result = ModelRegistry::verify(m, options);
  EXPECT_FALSE(result.cancelled);
  EXPECT_EQ(result.model.status, ModelStatus::Ok) << result.model.reason;
  ASSERT_EQ(result.hashes.size(), m.weightFiles.size());
  for (const auto& h : result.hashes) {
    const std::string bytes = readAll(h.file);
    EXPECT_EQ(h.xxh64, XXH64(bytes.data(), bytes.size(), 0)) << h.file;
    EXPECT_EQ(h.hex().size(), 16u);
  }
  EXPECT_GE(calls, 2);
  EXPECT_EQ(lastDone, lastTotal);
  EXPECT_EQ(lastTotal, fs::file_size(dir / "language-and-vision.safetensors") + fs::file_size(dir / "score-head.safetensors"));

  caig::VerifyOptions cancel;
  cancel.hash = true;
  cancel.progress = [](uint64_t, uint64_t, const fs::path&) { return false; };
  EXPECT_TRUE(ModelRegistry::verify(m, cancel).cancelled);
}

TEST(ModelRegistry, VerifyRereadsHeadersChangedSinceTheScan) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "llava";
  fs::copy(kData / "tiny-llava-hf", dir, fs::copy_options::recursive);
  const InstalledModel m = ModelRegistry::inspect(dir);
  ASSERT_EQ(m.status, ModelStatus::Ok);
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") - 100);
  const caig::VerifyResult result = ModelRegistry::verify(m);
  EXPECT_EQ(result.model.status, ModelStatus::Invalid);
  EXPECT_TRUE(result.hashes.empty());

  const InstalledModel builtin = ModelRegistry::builtInEngines().front();
  EXPECT_EQ(ModelRegistry::verify(builtin).model.status, ModelStatus::Ok);
}
