#pragma once
// ISNet (DIS, "Highly Accurate Dichotomous Image Segmentation", Qin et al. 2022) as LibTorch
// modules: a U^2-Net-style encoder/decoder of residual U-blocks (RSU7..RSU4, RSU4F) with six
// side outputs, of which the first (full resolution) is the mask. Parameter names are those of
// the reference PyTorch module (stage1.rebnconvin.conv_s1.weight, side1.bias, ...), so they
// are the checkpoint keys. Torch-light header: the modules live in isnet.cpp.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace caig::io {
class Checkpoint;
}

namespace caig {

struct IsnetConfig {
  int inChannels = 3;
  int outChannels = 1;
  // The reference has Conv -> BatchNorm -> ReLU in every block; exporters that fold BatchNorm
  // into the convolution (as the ONNX release does) leave Conv(+bias) -> ReLU.
  bool batchNorm = false;
  int inputSize = 1024;  // the size the weights were trained at; any multiple of 32 runs
  // Input normalisation on 0..255 pixel values: (x - inputMean) * inputScale.
  double inputMean = 128.0;
  double inputScale = 1.0 / 256.0;
};

// config.json of an ISNet model folder <-> IsnetConfig. Throws io::FileError / io::FormatError.
IsnetConfig readIsnetConfig(const std::filesystem::path& modelDir);

class IsnetModel {
 public:
  explicit IsnetModel(const IsnetConfig& config = {});
  ~IsnetModel();
  IsnetModel(IsnetModel&&) noexcept;
  IsnetModel& operator=(IsnetModel&&) noexcept;

  // A model folder: config.json + isnet.safetensors. Throws io::FileError / io::FormatError.
  static IsnetModel load(const std::filesystem::path& modelDir, c10::Device device = c10::Device("cpu"));

  const IsnetConfig& config() const;
  // Checkpoint keys and shapes the model expects (parameters and buffers), in module order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expectedTensors() const;
  // Copies weights in; throws io::FormatError naming missing/unexpected/mismatched keys.
  void loadWeights(const io::Checkpoint& checkpoint);
  void to(c10::Device device);
  c10::Device device() const;

  // input: [N, inChannels, H, W] float, already normalised, H and W multiples of 32.
  // Returns [N, outChannels, H, W]: the sigmoid of the first (full-resolution) side output.
  at::Tensor forward(const at::Tensor& input) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace caig
