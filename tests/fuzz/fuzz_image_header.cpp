// libFuzzer entry: arbitrary bytes through the image header check (core/image/image_io.h) and,
// when it passes and the image is small, the decoder behind it. Anything but a decoded image or
// an ImageError is a bug, and no accepted image may exceed the pixel cap.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/image/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const caig::ImageHeader h = caig::inspectImageHeader(data, size);
  if (h.format == caig::ImageFormat::Unknown && (h.width || h.height || h.complete)) __builtin_trap();
  if (uint64_t(h.width) * h.height > (1u << 20)) return 0;  // keep each input cheap: the cap is tested elsewhere
  try {
    const cv::Mat m = caig::decodeImage(std::vector<unsigned char>(data, data + size), "fuzz");
    if (uint64_t(m.cols) * m.rows > caig::kMaxImagePixels) __builtin_trap();
  } catch (const caig::ImageError&) {
  }
  return 0;
}
