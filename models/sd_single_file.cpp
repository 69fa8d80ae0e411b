#include "models/sd_single_file.h"

#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "models/io/checkpoint.h"
#include "models/io/errors.h"
#include "models/io/sd_file_kind.h"

namespace caig {
namespace fs = std::filesystem;

namespace {

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream in(name);
  std::string part;
  while (std::getline(in, part, '.')) parts.push_back(part);
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

int number(const std::string& s) {
  return std::stoi(s);
}

const std::vector<int64_t>& shapeOf(const io::Checkpoint& checkpoint, const std::string& key, const std::string& what) {
  if (!checkpoint.contains(key)) throw io::FormatError(what + ": no tensor " + key);
  return checkpoint.info(key).shape;
}

// Inside a UNet resnet: diffusers' names -> LDM's.
std::string ldmResnet(const std::string& rest) {
  static const std::pair<const char*, const char*> map[] = {
      {"norm1", "in_layers.0"},  {"conv1", "in_layers.2"},  {"time_emb_proj", "emb_layers.1"},
      {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"}};
  for (const auto& [from, to] : map) {
    if (startsWith(rest, std::string(from) + ".")) return to + rest.substr(std::char_traits<char>::length(from));
  }
  return rest;
}

// Inside a VAE resnet only the shortcut is renamed.
std::string ldmVaeResnet(const std::string& rest) {
  return startsWith(rest, "conv_shortcut.") ? "nin_shortcut." + rest.substr(14) : rest;
}

std::string ldmVaeAttention(const std::string& rest) {
  static const std::pair<const char*, const char*> map[] = {
      {"group_norm", "norm"}, {"to_q", "q"}, {"to_k", "k"}, {"to_v", "v"}, {"to_out.0", "proj_out"}};
  for (const auto& [from, to] : map) {
    if (startsWith(rest, std::string(from) + ".")) return to + rest.substr(std::char_traits<char>::length(from));
  }
  return rest;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

// ---- Hints ----------------------------------------------------------------------------------

SdSingleFileHints readLdmYamlHints(const fs::path& yaml) {
  std::ifstream in(yaml);
  if (!in) throw io::FileError(yaml.string() + ": cannot read");
  SdSingleFileHints hints;
  std::string line, section;  // section: the innermost "*_config:" key seen
  int sectionIndent = -1;
  while (std::getline(in, line)) {
    const std::string text = trim(line.substr(0, line.find('#')));
    if (text.empty()) continue;
    const int indent = static_cast<int>(line.find_first_not_of(' '));
    if (indent <= sectionIndent) section.clear(), sectionIndent = -1;
    const auto colon = text.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(text.substr(0, colon)), value = trim(text.substr(colon + 1));
    if (value.empty() && key.size() > 7 && key.compare(key.size() - 7, 7, "_config") == 0) {
      section = key;
      sectionIndent = indent;
      continue;
    }
    try {
      if (key == "norm_num_groups" || key == "tiny_fixture_norm_num_groups") hints.normNumGroups = std::stoll(value);
      if (key == "num_heads" && (section == "unet_config" || section == "control_stage_config")) {
        hints.unetHeads = std::stoll(value);
      }
      if (key == "scale_factor") hints.scalingFactor = std::stod(value);
      if (key == "caig_clip_num_heads") hints.clipHeads = std::stoll(value);
    } catch (const std::exception&) {
      throw io::FormatError(yaml.string() + ": '" + key + "' is not a number: " + value);
    }
  }
  return hints;
}

SdSingleFileHints ldmHintsBeside(const fs::path& checkpointFile) {
  fs::path yaml = checkpointFile;
  yaml.replace_extension(".yaml");
  std::error_code ec;
  return fs::is_regular_file(yaml, ec) ? readLdmYamlHints(yaml) : SdSingleFileHints{};
}

// ---- Layout ---------------------------------------------------------------------------------

SdSingleFile inspectSdSingleFile(const io::Checkpoint& checkpoint, const std::string& file) {
  SdSingleFile out;
  out.tensors = static_cast<int64_t>(checkpoint.size());
  const std::vector<std::string> names = checkpoint.names();
  for (const auto& name : names) out.emaTensors += startsWith(name, "model_ema.") ? 1 : 0;
  const io::SdFileKind kind = io::classifySdFile(names);
  if (kind != io::SdFileKind::Sd1Checkpoint) throw io::FormatError(file + ": " + io::sdFileRefusal(kind));
  out.unetPrefix = "model.diffusion_model.";
  const auto& convIn = checkpoint.info(io::kLdmUnetConvIn).shape;
  if (convIn.size() != 4) throw io::FormatError(file + ": " + io::kLdmUnetConvIn + " is not a convolution");
  out.unetInChannels = convIn[1];
  for (const char* vae : {"first_stage_model.", "vae."}) {
    if (checkpoint.contains(std::string(vae) + "encoder.conv_in.weight")) {
      out.vaePrefix = vae;
      break;
    }
  }
  if (checkpoint.contains("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight")) {
    out.clipPrefix = "cond_stage_model.transformer.text_model.";
  } else if (checkpoint.contains("cond_stage_model.transformer.embeddings.token_embedding.weight")) {
    out.clipPrefix = "cond_stage_model.transformer.";
  }
  return out;
}

// ---- UNet -----------------------------------------------------------------------------------

namespace {

// The encoder half of an LDM UNet under `p` (a ControlNet has only this half): block channels,
// layers per block, where the attention is, the text width, the projection's form.
UNet2DConfig ldmEncoderConfig(const io::Checkpoint& checkpoint, const std::string& p, const SdSingleFileHints& hints,
                              const std::string& what) {
  UNet2DConfig c;
  const auto& convIn = shapeOf(checkpoint, p + "input_blocks.0.0.weight", what);
  if (convIn.size() != 4) throw io::FormatError(what + ": " + p + "input_blocks.0.0.weight is not a convolution");
  c.inChannels = convIn[1];
  // Layers per block: the resnets before the first downsampler (input_blocks.{L+1}.0.op).
  int layers = 0;
  while (checkpoint.contains(p + "input_blocks." + std::to_string(layers + 1) + ".0.in_layers.2.weight")) ++layers;
  if (layers < 1 || !checkpoint.contains(p + "input_blocks." + std::to_string(layers + 1) + ".0.op.weight")) {
    throw io::FormatError(what + ": the input blocks are not SD1.x's (no downsampler after the first resnets)");
  }
  c.layersPerBlock = layers;
  c.blockOutChannels.clear();
  c.downBlockTypes.clear();
  std::vector<bool> attention;
  for (int level = 0;; ++level) {
    const std::string block = p + "input_blocks." + std::to_string((layers + 1) * level + 1);
    if (!checkpoint.contains(block + ".0.out_layers.3.weight")) break;
    c.blockOutChannels.push_back(checkpoint.info(block + ".0.out_layers.3.weight").shape.at(0));
    attention.push_back(checkpoint.contains(block + ".1.proj_in.weight"));
    c.downBlockTypes.push_back(attention.back() ? "CrossAttnDownBlock2D" : "DownBlock2D");
  }
  const std::size_t levels = c.blockOutChannels.size();
  c.upBlockTypes.clear();
  for (std::size_t i = 0; i < levels; ++i) {
    c.upBlockTypes.push_back(attention[levels - 1 - i] ? "CrossAttnUpBlock2D" : "UpBlock2D");
  }
  c.midBlockType =
      checkpoint.contains(p + "middle_block.1.proj_in.weight") ? "UNetMidBlock2DCrossAttn" : "UNetMidBlock2D";
  // The first attention tells the text width, the projection's form and the transformer depth.
  c.transformerLayersPerBlock.assign(levels, 1);
  for (std::size_t level = 0; level < levels; ++level) {
    if (!attention[level]) continue;
    const std::string a = p + "input_blocks." + std::to_string((layers + 1) * level + 1) + ".1.";
    c.crossAttentionDim = shapeOf(checkpoint, a + "transformer_blocks.0.attn2.to_k.weight", what).at(1);
    c.useLinearProjection = checkpoint.info(a + "proj_in.weight").shape.size() == 2;
    int64_t depth = 0;
    while (checkpoint.contains(a + "transformer_blocks." + std::to_string(depth) + ".attn1.to_q.weight")) ++depth;
    c.transformerLayersPerBlock.assign(levels, depth);
    break;
  }
  c.numAttentionHeads.assign(levels, hints.unetHeads.value_or(8));
  c.normNumGroups = hints.normNumGroups.value_or(32);
  // What the shapes cannot tell must still fit them: otherwise a clear word, not a failed allocation.
  for (std::size_t level = 0; level < levels; ++level) {
    const int64_t ch = c.blockOutChannels[level], heads = c.numAttentionHeads[level];
    if (attention[level] && (heads < 1 || ch % heads != 0)) {
      throw io::FormatError(what + ": attention of " + std::to_string(ch) + " channels does not split into " +
                            std::to_string(heads) + " heads" + (hints.unetHeads ? "" : " (SD1.5's count)") +
                            ": give num_heads in an LDM .yaml of the same name beside the file");
    }
    if (c.normNumGroups < 1 || ch % c.normNumGroups != 0) {
      throw io::FormatError(what + ": " + std::to_string(ch) + " channels do not split into " +
                            std::to_string(c.normNumGroups) + " GroupNorm groups: not an SD1.x network");
    }
  }
  return c;
}

}  // namespace

UNet2DConfig ldmUnetConfig(const io::Checkpoint& checkpoint, const SdSingleFile& layout,
                           const SdSingleFileHints& hints) {
  const std::string what = "the single-file UNet";
  UNet2DConfig c = ldmEncoderConfig(checkpoint, layout.unetPrefix, hints, what);
  c.outChannels = shapeOf(checkpoint, layout.unetPrefix + "out.2.weight", what).at(0);
  return c;
}

std::string ldmUnetKey(const std::string& name, const UNet2DConfig& config) {
  const auto parts = split(name);
  const int per = static_cast<int>(config.layersPerBlock) + 1;  // input blocks per level
  const auto tail = [&](std::size_t from) { return join(parts, from); };
  if (parts.size() >= 2 && parts[0] == "time_embedding") {
    return "time_embed." + std::string(parts[1] == "linear_1" ? "0" : "2") + "." + tail(2);
  }
  if (parts[0] == "conv_in") return "input_blocks.0.0." + tail(1);
  if (parts[0] == "conv_norm_out") return "out.0." + tail(1);
  if (parts[0] == "conv_out") return "out.2." + tail(1);
  if (parts.size() >= 4 && parts[0] == "down_blocks") {
    const int i = number(parts[1]);
    if (parts[2] == "resnets")
      return "input_blocks." + std::to_string(per * i + number(parts[3]) + 1) + ".0." + ldmResnet(tail(4));
    if (parts[2] == "attentions")
      return "input_blocks." + std::to_string(per * i + number(parts[3]) + 1) + ".1." + tail(4);
    if (parts[2] == "downsamplers") return "input_blocks." + std::to_string(per * (i + 1)) + ".0.op." + tail(5);
  }
  if (parts.size() >= 4 && parts[0] == "mid_block") {
    if (parts[1] == "resnets") return "middle_block." + std::to_string(2 * number(parts[2])) + "." + ldmResnet(tail(3));
    if (parts[1] == "attentions") return "middle_block.1." + tail(3);
  }
  if (parts.size() >= 4 && parts[0] == "up_blocks") {
    const int i = number(parts[1]);
    if (parts[2] == "resnets")
      return "output_blocks." + std::to_string(per * i + number(parts[3])) + ".0." + ldmResnet(tail(4));
    if (parts[2] == "attentions")
      return "output_blocks." + std::to_string(per * i + number(parts[3])) + ".1." + tail(4);
    if (parts[2] == "upsamplers") {
      const bool attn = static_cast<std::size_t>(i) < config.upBlockTypes.size() &&
                        startsWith(config.upBlockTypes[static_cast<std::size_t>(i)], "CrossAttn");
      return "output_blocks." + std::to_string(per * i + per - 1) + (attn ? ".2." : ".1.") + tail(4);
    }
  }
  return name;  // not a diffusers UNet name: reported as missing under its own name
}

WeightNaming ldmUnetNaming(const UNet2DConfig& config, const std::string& prefix) {
  WeightNaming n;
  n.checkpointKey = [config, prefix](const std::string& name) { return prefix + ldmUnetKey(name, config); };
  n.ignore = [prefix](const std::string& key) { return !startsWith(key, prefix); };
  return n;
}

// ---- VAE ------------------------------------------------------------------------------------

AutoencoderKLConfig ldmVaeConfig(const io::Checkpoint& checkpoint, const std::string& p,
                                 const SdSingleFileHints& hints) {
  const std::string what = "the single-file VAE";
  AutoencoderKLConfig c;
  c.inChannels = shapeOf(checkpoint, p + "encoder.conv_in.weight", what).at(1);
  c.outChannels = shapeOf(checkpoint, p + "decoder.conv_out.weight", what).at(0);
  c.latentChannels = shapeOf(checkpoint, p + "post_quant_conv.weight", what).at(0);
  c.blockOutChannels.clear();
  for (int level = 0; checkpoint.contains(p + "encoder.down." + std::to_string(level) + ".block.0.conv2.weight");
       ++level) {
    c.blockOutChannels.push_back(
        checkpoint.info(p + "encoder.down." + std::to_string(level) + ".block.0.conv2.weight").shape.at(0));
  }
  if (c.blockOutChannels.empty()) throw io::FormatError(what + ": no " + p + "encoder.down.0.block.0.conv2.weight");
  c.layersPerBlock = 0;
  while (checkpoint.contains(p + "encoder.down.0.block." + std::to_string(c.layersPerBlock) + ".conv1.weight"))
    ++c.layersPerBlock;
  c.normNumGroups = hints.normNumGroups.value_or(32);
  c.scalingFactor = hints.scalingFactor.value_or(0.18215);
  return c;
}

namespace {

AutoencoderKLConfig diffusersVaeConfig(const io::Checkpoint& checkpoint, const SdSingleFileHints& hints) {
  const std::string what = "the VAE file";
  AutoencoderKLConfig c;
  c.inChannels = shapeOf(checkpoint, "encoder.conv_in.weight", what).at(1);
  c.outChannels = shapeOf(checkpoint, "decoder.conv_out.weight", what).at(0);
  c.latentChannels = shapeOf(checkpoint, "post_quant_conv.weight", what).at(0);
  c.blockOutChannels.clear();
  const auto level = [](int i) { return "encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv2.weight"; };
  for (int i = 0; checkpoint.contains(level(i)); ++i)
    c.blockOutChannels.push_back(checkpoint.info(level(i)).shape.at(0));
  c.layersPerBlock = 0;
  while (checkpoint.contains("encoder.down_blocks.0.resnets." + std::to_string(c.layersPerBlock) + ".conv1.weight"))
    ++c.layersPerBlock;
  c.normNumGroups = hints.normNumGroups.value_or(32);
  c.scalingFactor = hints.scalingFactor.value_or(0.18215);
  return c;
}

}  // namespace

std::string ldmVaeKey(const std::string& name, const AutoencoderKLConfig& config) {
  const auto parts = split(name);
  const int levels = static_cast<int>(config.blockOutChannels.size());
  const auto tail = [&](std::size_t from) { return join(parts, from); };
  if (parts.size() < 2 || (parts[0] != "encoder" && parts[0] != "decoder")) return name;  // quant convs
  const std::string& side = parts[0];
  if (parts[1] == "conv_norm_out") return side + ".norm_out." + tail(2);
  if (parts.size() >= 5 && parts[1] == "down_blocks") {
    const std::string level = parts[2];
    if (parts[3] == "resnets") return side + ".down." + level + ".block." + parts[4] + "." + ldmVaeResnet(tail(5));
    if (parts[3] == "downsamplers") return side + ".down." + level + ".downsample." + tail(5);
  }
  if (parts.size() >= 5 && parts[1] == "up_blocks") {
    const std::string level = std::to_string(levels - 1 - number(parts[2]));  // LDM counts from the bottom
    if (parts[3] == "resnets") return side + ".up." + level + ".block." + parts[4] + "." + ldmVaeResnet(tail(5));
    if (parts[3] == "upsamplers") return side + ".up." + level + ".upsample." + tail(5);
  }
  if (parts.size() >= 4 && parts[1] == "mid_block") {
    if (parts[2] == "resnets")
      return side + ".mid.block_" + std::to_string(number(parts[3]) + 1) + "." + ldmVaeResnet(tail(4));
    if (parts[2] == "attentions") return side + ".mid.attn_1." + ldmVaeAttention(tail(4));
  }
  return name;
}

WeightNaming ldmVaeNaming(const AutoencoderKLConfig& config, const std::string& prefix) {
  WeightNaming n;
  n.checkpointKey = [config, prefix](const std::string& name) { return prefix + ldmVaeKey(name, config); };
  n.ignore = [prefix](const std::string& key) { return !startsWith(key, prefix); };
  // The attention projections are 1x1 convolutions there, linear layers here.
  n.reshapes = [](const std::string& key) {
    static const std::regex projection(R"(\.mid\.attn_1\.(q|k|v|proj_out)\.weight$)");
    return std::regex_search(key, projection);
  };
  return n;
}

// ---- CLIP text ------------------------------------------------------------------------------

ClipTextConfig ldmClipConfig(const io::Checkpoint& checkpoint, const std::string& p, const SdSingleFileHints& hints) {
  const std::string what = "the single-file CLIP text encoder";
  ClipTextConfig c;  // SD1.5's: openai/clip-vit-large-patch14's text tower
  const auto& tokens = shapeOf(checkpoint, p + "embeddings.token_embedding.weight", what);
  c.vocabSize = static_cast<int>(tokens.at(0));
  c.hiddenSize = static_cast<int>(tokens.at(1));
  c.maxPositionEmbeddings =
      static_cast<int>(shapeOf(checkpoint, p + "embeddings.position_embedding.weight", what).at(0));
  c.intermediateSize = static_cast<int>(shapeOf(checkpoint, p + "encoder.layers.0.mlp.fc1.weight", what).at(0));
  c.numHiddenLayers = 0;
  while (checkpoint.contains(p + "encoder.layers." + std::to_string(c.numHiddenLayers) + ".self_attn.q_proj.weight")) {
    ++c.numHiddenLayers;
  }
  const int64_t heads = hints.clipHeads.value_or(c.hiddenSize / 64);
  if (heads < 1 || c.hiddenSize % heads != 0) {
    throw io::FormatError(
        what + ": a hidden size of " + std::to_string(c.hiddenSize) +
        " does not split into heads of 64: name them with caig_clip_num_heads in the .yaml beside the file");
  }
  c.numAttentionHeads = static_cast<int>(heads);
  c.padTokenId = c.eosTokenId;  // SD1.5's tokenizer pads with the end token
  return c;
}

WeightNaming ldmClipNaming(const std::string& prefix) {
  WeightNaming n;
  n.checkpointKey = [prefix](const std::string& name) {
    return prefix + (startsWith(name, "text_model.") ? name.substr(11) : name);
  };
  n.ignore = [prefix](const std::string& key) {
    return !startsWith(key, prefix) || key == prefix + "embeddings.position_ids";
  };
  return n;
}

// ---- ControlNet -----------------------------------------------------------------------------

std::string ldmControlNetPrefix(const io::Checkpoint& checkpoint) {
  if (checkpoint.contains("control_model.input_hint_block.0.weight")) return "control_model.";
  if (checkpoint.contains("input_hint_block.0.weight")) return "";
  return "-";
}

ControlNetConfig ldmControlNetConfig(const io::Checkpoint& checkpoint, const std::string& p,
                                     const SdSingleFileHints& hints) {
  const std::string what = "the single-file ControlNet";
  ControlNetConfig c;
  c.unet = ldmEncoderConfig(checkpoint, p, hints, what);
  c.unet.upBlockTypes.clear();
  const auto& hintIn = shapeOf(checkpoint, p + "input_hint_block.0.weight", what);
  c.conditioningChannels = hintIn.at(1);
  // conv_in (0), pairs of convs whose second strides (2 4, 6 8, ...), conv_out (4n - 2): the
  // channels are conv_in's and each pair's second.
  c.conditioningEmbeddingOutChannels = {hintIn.at(0)};
  for (int second = 4; checkpoint.contains(p + "input_hint_block." + std::to_string(second + 2) + ".weight");
       second += 4) {
    c.conditioningEmbeddingOutChannels.push_back(
        shapeOf(checkpoint, p + "input_hint_block." + std::to_string(second) + ".weight", what).at(0));
  }
  return c;
}

std::string ldmControlNetKey(const std::string& name, const ControlNetConfig& config) {
  const auto parts = split(name);
  const int n = static_cast<int>(config.conditioningEmbeddingOutChannels.size());
  if (parts[0] == "controlnet_cond_embedding" && parts.size() >= 3) {
    if (parts[1] == "conv_in") return "input_hint_block.0." + join(parts, 2);
    if (parts[1] == "conv_out") return "input_hint_block." + std::to_string(4 * n - 2) + "." + join(parts, 2);
    if (parts[1] == "blocks" && parts.size() >= 4) {
      return "input_hint_block." + std::to_string(2 * number(parts[2]) + 2) + "." + join(parts, 3);
    }
  }
  if (parts[0] == "controlnet_down_blocks" && parts.size() >= 3)
    return "zero_convs." + parts[1] + ".0." + join(parts, 2);
  if (parts[0] == "controlnet_mid_block") return "middle_block_out.0." + join(parts, 1);
  return ldmUnetKey(name, config.unet);
}

WeightNaming ldmControlNetNaming(const ControlNetConfig& config, const std::string& prefix) {
  WeightNaming n;
  n.checkpointKey = [config, prefix](const std::string& name) { return prefix + ldmControlNetKey(name, config); };
  n.ignore = [prefix](const std::string& key) { return !prefix.empty() && !startsWith(key, prefix); };
  return n;
}

// ---- Loading --------------------------------------------------------------------------------

namespace {

template <class Load>
auto withFileName(const fs::path& file, Load load) {
  try {
    return load();
  } catch (const io::FormatError& e) {
    const std::string what = e.what();
    if (what.rfind(file.string(), 0) == 0) throw;
    throw io::FormatError(file.string() + ": " + what);
  }
}

}  // namespace

UNet2DConditionModel loadSingleFileUnet(const fs::path& file, c10::Device device, c10::ScalarType dtype,
                                        const std::optional<SdSingleFileHints>& hints) {
  const auto checkpoint = io::Checkpoint::open(file);
  return withFileName(file, [&] {
    const SdSingleFile layout = inspectSdSingleFile(checkpoint, file.string());
    const UNet2DConfig config = ldmUnetConfig(checkpoint, layout, hints ? *hints : ldmHintsBeside(file));
    UNet2DConditionModel model(config);
    model.loadWeights(checkpoint, ldmUnetNaming(config, layout.unetPrefix), "UNet2DConditionModel");
    model.to(device, dtype);
    return model;
  });
}

AutoencoderKL loadSingleFileVae(const fs::path& file, c10::Device device, c10::ScalarType dtype,
                                const std::optional<SdSingleFileHints>& hints) {
  const auto checkpoint = io::Checkpoint::open(file);
  return withFileName(file, [&] {
    if (checkpoint.contains("encoder.down_blocks.0.resnets.0.conv1.weight")) {
      // diffusers' names without the config.json beside them (a renamed
      // diffusion_pytorch_model.safetensors): the same sizes from the same shapes.
      const AutoencoderKLConfig config = diffusersVaeConfig(checkpoint, hints ? *hints : ldmHintsBeside(file));
      AutoencoderKL model(config);
      model.loadWeights(checkpoint, {}, "AutoencoderKL");
      model.to(device, dtype);
      return model;
    }
    // A VAE file on its own (vae-ft-mse-840000-ema-pruned.safetensors) has the LDM names at the top.
    std::string prefix;
    if (!checkpoint.contains("encoder.conv_in.weight")) {
      prefix = inspectSdSingleFile(checkpoint, file.string()).vaePrefix;
      if (prefix.empty()) throw io::FormatError("the file has no VAE (first_stage_model.* or vae.*)");
    }
    const AutoencoderKLConfig config = ldmVaeConfig(checkpoint, prefix, hints ? *hints : ldmHintsBeside(file));
    AutoencoderKL model(config);
    model.loadWeights(checkpoint, ldmVaeNaming(config, prefix), "AutoencoderKL");
    model.to(device, dtype);
    return model;
  });
}

ClipTextModel loadSingleFileClip(const fs::path& file, c10::Device device,
                                 const std::optional<SdSingleFileHints>& hints) {
  const auto checkpoint = io::Checkpoint::open(file);
  return withFileName(file, [&] {
    const SdSingleFile layout = inspectSdSingleFile(checkpoint, file.string());
    if (layout.clipPrefix.empty())
      throw io::FormatError("the file has no text encoder (cond_stage_model.transformer.*)");
    const ClipTextConfig config = ldmClipConfig(checkpoint, layout.clipPrefix, hints ? *hints : ldmHintsBeside(file));
    ClipTextModel model(config);
    model.loadWeights(checkpoint, ldmClipNaming(layout.clipPrefix), "CLIP text");
    model.to(device);
    return model;
  });
}

ControlNetModel loadSingleFileControlNet(const fs::path& file, c10::Device device, c10::ScalarType dtype,
                                         const std::optional<SdSingleFileHints>& hints) {
  const auto checkpoint = io::Checkpoint::open(file);
  return withFileName(file, [&] {
    const std::string prefix = ldmControlNetPrefix(checkpoint);
    if (prefix == "-") {
      throw io::FormatError("not a ControlNet in the original layout (no control_model.input_hint_block.0.weight)");
    }
    const ControlNetConfig config = ldmControlNetConfig(checkpoint, prefix, hints ? *hints : ldmHintsBeside(file));
    ControlNetModel model(config);
    model.loadWeights(checkpoint, ldmControlNetNaming(config, prefix), "ControlNetModel");
    model.to(device, dtype);
    return model;
  });
}

}  // namespace caig
