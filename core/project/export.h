#pragma once
// Exporting variants as ready-to-upload ads: each variant fitted to the ad-size presets without
// distorting the product, written as PNG / JPEG / WebP with its parameters and predicted CTR
// embedded, plus a CSV manifest. Every file is written atomically; a failed export removes the
// files it wrote and never leaves a manifest behind.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <opencv2/core.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

class ExportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ExportFormat { Png, Jpeg, Webp };
const char* extension(ExportFormat format);  // "png", "jpg", "webp"

// The ad-size presets offered for export: ids of core/generation/composition.h's adPresets().
const std::vector<std::string>& exportPresetIds();  // "1:1-1080", "4:5", "9:16", "1.91:1"

// What the export knows about one variant (read from the project by the caller).
struct ExportItem {
  std::int64_t variantId = 0;
  std::filesystem::path image;  // the stored variant (any size)
  std::string prompt;
  std::int64_t seed = 0;
  std::string engine;
  std::string paramsJson = "{}";
  std::optional<double> score;
  std::optional<int> rank;
  std::optional<double> winProbability;
  std::string rankerId;
};

struct ExportRequest {
  std::vector<ExportItem> items;
  std::vector<std::string> presetIds;
  ExportFormat format = ExportFormat::Png;
  int jpegQuality = 92;  // also the WebP quality
  std::filesystem::path folder;
};

struct ExportResult {
  std::vector<std::filesystem::path> files;
  std::filesystem::path manifest;
};

// The image scaled to fit inside `target` (aspect kept, so the product is never stretched),
// centred, the rest of the canvas filled by the image's own background: its edge pixels carried
// outwards and blurred (a soft continuation of the backdrop; a mirror would repeat the product),
// blended into the sharp image over a short ramp. Chosen over re-rendering at the target size
// because it works for every engine and keeps the exported pixels those that were ranked.
// Throws ExportError for an empty image.
cv::Mat fitToAdSize(const cv::Mat& image, cv::Size target);

// Name/value pairs embedded in each exported file ("caig:prompt", "caig:seed", ...).
std::vector<std::pair<std::string, std::string>> exportMetadata(const ExportItem& item, const std::string& presetId);

// Encodes BGR `image` with `metadata` embedded: PNG iTXt chunks (UTF-8), a JPEG COM segment of
// "key=value" lines, or a WebP XMP chunk (extended VP8X format). Throws ExportError.
std::vector<unsigned char> encodeWithMetadata(const cv::Mat& image, ExportFormat format,
                                              const std::vector<std::pair<std::string, std::string>>& metadata,
                                              int quality = 92);
// Reads the metadata back from an exported file (for tests and re-imports). Throws ExportError.
std::map<std::string, std::string> readExportMetadata(const std::filesystem::path& file);

// Writes every item at every preset, then "manifest.csv" (file, variant id, preset, prompt,
// seed, engine, score, rank, win probability). `progress(done, total)` after each file;
// returning false cancels (and cleans up like an error). Throws ExportError naming the file.
ExportResult exportVariants(const ExportRequest& request, const std::function<bool(int, int)>& progress = {});

}  // namespace caig
