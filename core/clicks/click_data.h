#pragma once
// Importing click data: marketers' CSV exports and the CAIG / CreativeRanking JSON layout
// (products with creatives carrying creative_id, creative_image_hash, exp_impression_cnt,
// exp_click_cnt). Reading checks every row and says why a row is rejected; importing writes
// the accepted rows into the project's store in ONE transaction (all or nothing).
//
// Images are matched by path (relative to the click file, or absolute) or by content hash:
// pixelHash() of the decoded pixels, looked up among the project's images and the images in
// the folder beside the click file (by file stem first: CreativeRanking names files by hash).
// Matched images are copied into the project under clicks/ (content-addressed), with their
// product mask when a "<stem>.alpha.png" lies beside them.
//
// Re-importing: a file whose bytes were imported before is refused with an error naming the
// earlier import (ClickImportError); rows whose creative id is already in the project are
// rejected as duplicates. So a re-import never changes anything. CTR is always computed from
// impressions and clicks; a CTR column in the file is ignored. A row with 0 impressions (and 0
// clicks) is kept, with CTR 0; it never forms a training pair (PairRules::minImpressions).
//
// Encoding: files must be UTF-8, with or without a BOM. UTF-16 (a BOM FF FE / FE FF) is refused
// with a ClickImportError naming UTF-16; bytes that are not valid UTF-8 (typically a Latin-1 or
// Windows-1252 export) are refused with one naming the first bad line. Nothing is converted:
// guessing a legacy code page could silently turn product names into different strings.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace caig {

class Project;

// A file that cannot be imported at all: unreadable, not CSV/JSON, a required column missing,
// or already imported. Nothing is written when it is thrown.
class ClickImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClickRow {
  int line = 0;  // CSV: 1-based line of the record; JSON: 1-based creative index
  std::string creativeId;
  std::string image;      // path as written in the file (may be empty)
  std::string imageHash;  // as written (may be empty)
  std::string productKey;
  std::string productTitle;
  std::string category;
  int64_t impressions = 0;
  int64_t clicks = 0;
  double ctr() const { return impressions > 0 ? double(clicks) / double(impressions) : 0.0; }
};

struct RejectedRow {
  int line = 0;
  std::string creativeId;
  std::string reason;
};

struct ClickFile {
  std::filesystem::path path;
  std::string format;           // "csv" or "json"
  char delimiter = ',';         // CSV only
  std::vector<std::string> columns;  // CSV header as written
  int rowsRead = 0;
  std::vector<ClickRow> rows;   // parsed and checked (numbers, ids, duplicates within the file)
  std::vector<RejectedRow> rejected;
};

// The accepted header names (after lower-casing and turning spaces, dashes and dots into '_').
struct ClickColumnNames {
  static const std::vector<std::string>& creativeId();
  static const std::vector<std::string>& image();      // a path, or a hash when no such file
  static const std::vector<std::string>& imageHash();
  static const std::vector<std::string>& product();
  static const std::vector<std::string>& productTitle();
  static const std::vector<std::string>& category();
  static const std::vector<std::string>& impressions();
  static const std::vector<std::string>& clicks();
};

// Parses CSV (RFC 4180 quoting, UTF-8 BOM, CRLF, ',' ';' or tab sniffed from the header).
// Throws ClickImportError for a missing required column (listing the accepted names) or an
// unterminated quote. Row-level problems go to `rejected`.
ClickFile parseClickCsv(const std::string& text, const std::filesystem::path& source = "<memory>");
// Parses the CreativeRanking layout ([{product..., creatives: [...]}], {"products": [...]},
// {"<product key>": [...]}) or a flat list of creatives.
ClickFile parseClickJson(const std::string& text, const std::filesystem::path& source = "<memory>");
// By extension (.json) or first non-space character; reads the file.
ClickFile readClickFile(const std::filesystem::path& path);

// XXH64 (seed 0) over "<cols>x<rows>x<channels>:" followed by the 8-bit pixel rows, as 16 hex
// digits: the same for a PNG and a lossless re-encode, different for any pixel change.
std::string pixelHash(const cv::Mat& image);

struct ImportOptions {
  bool dryRun = false;  // check everything, write nothing
  // Test hook: called before each record is written, with its index; throwing aborts the
  // import (everything rolls back).
  std::function<void(int)> beforeRecord;
  // Called as rows are checked (images decoded) and written: (done, total) with total = twice
  // the parsed rows (once for a dry run).
  std::function<void(int, int)> progress;
};

struct ImportReport {
  std::filesystem::path file;
  std::string format;
  int rowsRead = 0;
  int rowsImported = 0;  // (would be) written
  std::vector<RejectedRow> rejected;
  int productsSeen = 0;
  int imagesMatchedByPath = 0;
  int imagesMatchedByHash = 0;
  bool dryRun = false;
  int64_t importId = 0;  // 0 for a dry run
  std::string summary() const;  // multi-line text for people
  std::string toJson() const;   // the same as JSON
};

// Reads, checks, matches images and (unless dry-run) writes in one transaction. Throws
// ClickImportError / StoreError on a fatal problem; the project is then unchanged.
ImportReport importClicks(Project& project, const std::filesystem::path& file, const ImportOptions& options = {});

}  // namespace caig
