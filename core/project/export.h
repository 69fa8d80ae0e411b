#pragma once
// Exporting variants as ready-to-upload ads: each variant drawn again for each ad size's frame
// (core/generation/ad_frames.h) or fitted to it without distorting the product, written as
// PNG / JPEG / WebP with its parameters and predicted CTR embedded, plus a CSV manifest. Every file is written atomically; a failed export removes the
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

#include "core/ranking/compare_math.h"

namespace caig {

class Project;

class ExportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The export would replace files already in its folder (a previous export's images or
// manifest.csv); nothing was written. The caller asks the user, then retries with
// ExportRequest::replaceExisting.
class ExportWouldReplace : public ExportError {
 public:
  ExportWouldReplace(std::vector<std::filesystem::path> existing, const std::string& message)
      : ExportError(message), existing_(std::move(existing)) {}
  const std::vector<std::filesystem::path>& existing() const { return existing_; }

 private:
  std::vector<std::filesystem::path> existing_;
};

enum class ExportFormat { Png, Jpeg, Webp };
const char* extension(ExportFormat format);  // "png", "jpg", "webp"

// The ad-size presets offered for export: ids of core/generation/composition.h's adPresets().
const std::vector<std::string>& exportPresetIds();  // "1:1-1080", "4:5", "9:16", "1.91:1"

// What the export knows about one variant (read from the project by the caller).
struct ExportItem {
  std::int64_t variantId = 0;
  std::int64_t productId = 0;   // its product in the project (0: none)
  std::filesystem::path image;  // the stored variant (any size)
  std::string product;          // the product's title, for the file name
  std::string style;            // the backdrop style (built-in engine) or the engine, for the file name
  std::string prompt;
  std::int64_t seed = 0;
  std::string engine;
  std::string paramsJson = "{}";
  std::optional<double> score;
  std::optional<int> rank;
  std::optional<double> winProbability;
  std::optional<CtrLift> liftOverOriginal;  // the readout (core/ranking/variant_ranking.h)
  std::string rankerId;
};

// One ad composed for its frame by core/generation/ad_frames.h: `image` at the preset's size and
// how it was made ("drawn" again, or "outpainted" from the stored variant), both written into the
// file's metadata and the manifest. An empty image: the stored variant is fitted instead.
struct ExportFrame {
  cv::Mat image;
  std::string how = "drawn";
};

struct ExportRequest {
  std::vector<ExportItem> items;
  std::vector<std::string> presetIds;
  ExportFormat format = ExportFormat::Png;
  int jpegQuality = 92;  // also the WebP quality
  std::filesystem::path folder;
  bool replaceExisting = false;  // false: ExportWouldReplace when a file to write exists already
  // The ad for item `index` at `presetId` composed for that frame (core/generation/ad_frames.h),
  // or an empty image when the stored variant is to be fitted (fitToAdSize). Unset: every file is
  // fitted. Called on the exporting thread.
  std::function<ExportFrame(std::size_t index, const std::string& presetId)> drawFrame;
};

struct ExportResult {
  std::vector<std::filesystem::path> files;
  std::filesystem::path manifest;
};

// The export items of a project's variants, with the prompt each was made with, its engine, style
// and ranking: every variant of `productId` (every product's when none), or only `variantIds`
// when given (in that order). Throws ExportError for an id the project (or product) lacks.
std::vector<ExportItem> exportItemsFromProject(const Project& project, std::optional<std::int64_t> productId,
                                               const std::vector<std::int64_t>& variantIds = {});

// The file names an export writes, in (item, preset) order: "<product>-rank01-<style>-9x16.png"
// (lower-case ASCII; "unranked" without a rank; "-2", "-3" appended where two would collide).
std::vector<std::string> exportFileNames(const ExportRequest& request);
// The files of `request` (images and manifest.csv) that exist in its folder already.
std::vector<std::filesystem::path> existingExportFiles(const ExportRequest& request);

// The image scaled to fit inside `target` (aspect kept, so the product is never stretched),
// centred, the rest of the canvas filled by the image's own background: its edge pixels carried
// outwards and blurred (a soft continuation of the backdrop; a mirror would repeat the product),
// blended into the sharp image over a short ramp. Chosen over re-rendering at the target size
// because it works for every engine and keeps the exported pixels those that were ranked.
// Throws ExportError for an empty image.
cv::Mat fitToAdSize(const cv::Mat& image, cv::Size target);

// Name/value pairs embedded in each exported file ("caig:prompt", "caig:seed", ...); `frame` is
// "drawn" (composed for this size), "outpainted" (the stored variant extended to it) or "fitted"
// (the stored variant fitted to it).
std::vector<std::pair<std::string, std::string>> exportMetadata(const ExportItem& item, const std::string& presetId,
                                                                const std::string& frame = "fitted");

// Encodes BGR `image` with `metadata` embedded: PNG text chunks before the image data (tEXt for
// ASCII values, iTXt for UTF-8 ones), a JPEG COM segment of
// "key=value" lines, or a WebP XMP chunk (extended VP8X format). Throws ExportError.
std::vector<unsigned char> encodeWithMetadata(const cv::Mat& image, ExportFormat format,
                                              const std::vector<std::pair<std::string, std::string>>& metadata,
                                              int quality = 92);
// Reads the metadata back from an exported file (for tests and re-imports). Throws ExportError.
std::map<std::string, std::string> readExportMetadata(const std::filesystem::path& file);

// Writes every item at every preset (drawn by request.drawFrame, or fitted), then "manifest.csv"
// (file, variant id, preset, size, prompt, seed, engine, score, rank, win probability, product,
// style, frame). Replaces no file unless request.replaceExisting
// (ExportWouldReplace, before anything is written). `progress(done, total)` after each file;
// returning false cancels (and cleans up like an error). Throws ExportError naming the file.
ExportResult exportVariants(const ExportRequest& request, const std::function<bool(int, int)>& progress = {});

}  // namespace caig
