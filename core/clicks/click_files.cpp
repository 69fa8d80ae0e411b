// Reading click files: CSV exports and the CAIG / CreativeRanking JSON layout (core/clicks/click_data.h).
#include "core/clicks/click_data.h"
#include "core/clicks/click_file_util.h"

#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/base/utf8.h"
#include "core/image/image_io.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;

namespace caig {

using clicks_detail::isImageFile;
using clicks_detail::looksLikeHash;
using clicks_detail::lower;
using clicks_detail::readBytes;
namespace {

// Header/key normalisation: "Ad Name" -> "ad_name", "Exp.Impression-Cnt" -> "exp_impression_cnt".
std::string normaliseName(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// Field values of one record by normalised name.
using Fields = std::map<std::string, std::string>;

std::optional<std::string> field(const Fields& f, const std::vector<std::string>& names, std::string* usedName = nullptr) {
  for (const auto& n : names) {
    const auto it = f.find(n);
    if (it != f.end()) {
      if (usedName) *usedName = n;
      return trim(it->second);
    }
  }
  return std::nullopt;
}

// A count: digits with optional thousands separators, or a float with an integral value.
// Returns an error text or empty.
std::string parseCount(const std::string& raw, const char* what, int64_t& out) {
  std::string s;
  for (char c : trim(raw)) {
    if (c != ',' && c != '_' && c != ' ' && c != '\'') s += c;
  }
  if (s.empty()) return std::string("missing ") + what;
  // Decimal only: strtod would also read "0x10" as 16 and "inf"/"nan".
  if (s.find_first_not_of("0123456789+-.eE") != std::string::npos) {
    return std::string(what) + " '" + trim(raw) + "' is not a whole number";
  }
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end && *end == '\0' && errno == 0) {
    if (v < 0) return std::string("negative ") + what + " (" + trim(raw) + ")";
    out = v;
    return {};
  }
  const double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15) {
    if (d < 0) return std::string("negative ") + what + " (" + trim(raw) + ")";
    out = static_cast<int64_t>(d);
    return {};
  }
  return std::string(what) + " '" + trim(raw) + "' is not a whole number";
}

// Turns one record into a ClickRow or a rejection. `seen` finds duplicates within the file.
void checkRecord(const Fields& f, int line, std::map<std::string, int>& seen, ClickFile& out) {
  ++out.rowsRead;
  RejectedRow reject{line, field(f, ClickColumnNames::creativeId()).value_or(""), ""};
  auto fail = [&](std::string why) {
    reject.reason = std::move(why);
    out.rejected.push_back(reject);
  };
  ClickRow row;
  row.line = line;
  row.creativeId = reject.creativeId;
  if (row.creativeId.empty()) return fail("missing creative id");
  std::string keyName;
  row.productKey = field(f, ClickColumnNames::product(), &keyName).value_or("");
  for (const auto& n : ClickColumnNames::productTitle()) {
    if (n == keyName) continue;
    if (auto v = field(f, {n}); v && !v->empty()) {
      row.productTitle = *v;
      break;
    }
  }
  if (row.productKey.empty()) row.productKey = row.productTitle;
  if (row.productKey.empty()) return fail("missing product");
  row.category = field(f, ClickColumnNames::category()).value_or("");
  row.image = field(f, ClickColumnNames::image()).value_or("");
  row.imageHash = field(f, ClickColumnNames::imageHash()).value_or("");
  if (row.image.empty() && row.imageHash.empty()) return fail("missing image (no path or hash)");
  const auto impressions = field(f, ClickColumnNames::impressions());
  const auto clicks = field(f, ClickColumnNames::clicks());
  std::string why = parseCount(impressions.value_or(""), "impressions", row.impressions);
  if (why.empty()) why = parseCount(clicks.value_or(""), "clicks", row.clicks);
  if (!why.empty()) return fail(why);
  if (row.clicks > row.impressions) {
    return fail("clicks (" + std::to_string(row.clicks) + ") > impressions (" + std::to_string(row.impressions) + ")");
  }
  const auto [it, fresh] = seen.emplace(row.creativeId, line);
  if (!fresh) return fail("duplicate creative id (first at " + std::to_string(it->second) + ")");
  out.rows.push_back(std::move(row));
}

// RFC 4180 records: quoted fields may hold delimiters, "" and newlines. Each record comes with
// the 1-based line it starts on.
struct CsvRecord {
  int line = 0;
  std::vector<std::string> fields;
};

std::vector<CsvRecord> splitCsv(const std::string& text, char delim, const fs::path& source) {
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string cur;
  bool quoted = false, fieldStarted = false, any = false;
  int line = 1;
  rec.line = 1;
  auto endField = [&] {
    rec.fields.push_back(cur);
    cur.clear();
    fieldStarted = false;
  };
  auto endRecord = [&] {
    endField();
    const bool blank = rec.fields.size() == 1 && trim(rec.fields[0]).empty();
    if (!blank) out.push_back(std::move(rec));
    rec = CsvRecord{};
    any = false;
  };
  int quoteLine = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        cur += c;
      }
      continue;
    }
    if (!any) {
      rec.line = line;
      any = true;
    }
    if (c == '"' && !fieldStarted && trim(cur).empty()) {
      cur.clear();
      quoted = true;
      fieldStarted = true;
      quoteLine = line;
    } else if (c == delim) {
      endField();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // CRLF: the '\n' ends the record
    } else if (c == '\n' || c == '\r') {
      endRecord();
      ++line;
    } else {
      cur += c;
      if (c != ' ' && c != '\t') fieldStarted = true;
    }
  }
  if (quoted) {
    throw ClickImportError(source.string() + ": line " + std::to_string(quoteLine) +
                           ": a quoted field is never closed (missing '\"')");
  }
  if (any || !cur.empty()) endRecord();
  return out;
}

char sniffDelimiter(const std::string& text) {
  std::map<char, int> count{{',', 0}, {';', 0}, {'\t', 0}};
  bool quoted = false;
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (quoted) continue;
    if (c == '\n') break;
    if (count.count(c)) ++count[c];
  }
  char best = ',';
  for (char c : {';', '\t'}) {
    if (count[c] > count[best]) best = c;
  }
  return best;
}

std::string jsonScalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    std::ostringstream s;
    s.precision(17);
    s << v.get<double>();
    return s.str();
  }
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return {};
}

Fields jsonFields(const nlohmann::json& obj) {
  Fields f;
  for (const auto& [k, v] : obj.items()) {
    if (v.is_primitive() && !v.is_null()) f[normaliseName(k)] = jsonScalar(v);
  }
  return f;
}

}  // namespace

// ---- Column names ---------------------------------------------------------------------------

const std::vector<std::string>& ClickColumnNames::creativeId() {
  static const std::vector<std::string> n = {"creative_id", "creativeid", "ad_id", "adid", "ad_name", "ad",
                                             "creative", "creative_name", "id"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::image() {
  static const std::vector<std::string> n = {"image_path", "image", "image_file", "file", "filename", "path",
                                             "creative_image", "img"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::imageHash() {
  static const std::vector<std::string> n = {"image_hash", "creative_image_hash", "hash", "pixel_hash"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::product() {
  static const std::vector<std::string> n = {"product_id", "productid", "product", "sku", "item_id", "product_name"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::productTitle() {
  static const std::vector<std::string> n = {"product_name", "product_title", "title", "name"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::category() {
  static const std::vector<std::string> n = {"category", "product_category", "vertical"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::impressions() {
  static const std::vector<std::string> n = {"impressions", "impr", "imps", "exp_impression_cnt", "impression_cnt",
                                             "impression"};
  return n;
}
const std::vector<std::string>& ClickColumnNames::clicks() {
  static const std::vector<std::string> n = {"clicks", "click", "exp_click_cnt", "click_cnt"};
  return n;
}

// ---- Parsing --------------------------------------------------------------------------------

namespace {

// Click files must be UTF-8 (a BOM is allowed). UTF-16 is refused naming the encoding, and bytes
// that are not UTF-8 (typically a Latin-1 / Windows-1252 export) are refused naming the line:
// guessing a legacy code page would silently turn product names into different strings.
void requireUtf8ClickFile(const std::string& text, const fs::path& source) {
  if (text.rfind("\xFF\xFE", 0) == 0 || text.rfind("\xFE\xFF", 0) == 0) {
    throw ClickImportError(source.string() + ": the file is UTF-16 (" +
                           (text[0] == '\xFF' ? "little" : "big") +
                           "-endian, with a byte order mark); save it as UTF-8 and import again");
  }
  const std::size_t at = firstInvalidUtf8(text);  // the studio's one UTF-8 rule (core/base/utf8.h)
  if (at == std::string::npos) return;
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[at]));
  throw ClickImportError(source.string() + ": line " + std::to_string(line) + " is not valid UTF-8 (byte " + hex +
                         "; a Latin-1 or Windows-1252 export?); save the file as UTF-8 and import again");
}

}  // namespace

ClickFile parseClickCsv(const std::string& input, const fs::path& source) {
  requireUtf8ClickFile(input, source);
  std::string text = input;
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  ClickFile out;
  out.path = source;
  out.format = "csv";
  out.delimiter = sniffDelimiter(text);
  const auto records = splitCsv(text, out.delimiter, source);
  if (records.empty()) throw ClickImportError(source.string() + ": the file is empty (no header row)");
  out.columns = records[0].fields;
  std::vector<std::string> names;
  std::set<std::string> have;
  for (const auto& c : out.columns) {
    names.push_back(normaliseName(c));
    have.insert(names.back());
  }
  auto haveAny = [&](const std::vector<std::string>& accepted) {
    return std::any_of(accepted.begin(), accepted.end(), [&](const std::string& n) { return have.count(n) > 0; });
  };
  std::string missing;
  auto require = [&](const char* what, const std::vector<std::string>& accepted) {
    if (!haveAny(accepted)) missing += std::string("\n  ") + what + ": one of " + joinNames(accepted);
  };
  require("creative id", ClickColumnNames::creativeId());
  if (!haveAny(ClickColumnNames::product()) && !haveAny(ClickColumnNames::productTitle())) {
    require("product", ClickColumnNames::product());
  }
  if (!haveAny(ClickColumnNames::image()) && !haveAny(ClickColumnNames::imageHash())) {
    std::vector<std::string> both = ClickColumnNames::image();
    both.insert(both.end(), ClickColumnNames::imageHash().begin(), ClickColumnNames::imageHash().end());
    require("image (path or hash)", both);
  }
  require("impressions", ClickColumnNames::impressions());
  require("clicks", ClickColumnNames::clicks());
  if (!missing.empty()) {
    std::string found;
    for (const auto& c : out.columns) found += (found.empty() ? "" : ", ") + std::string("'") + c + "'";
    throw ClickImportError(source.string() + ": required columns missing (header has " + found +
                           "; names are matched ignoring case, spaces and punctuation):" + missing);
  }
  std::map<std::string, int> seen;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& rec = records[r];
    if (rec.fields.size() != names.size()) {
      ++out.rowsRead;
      Fields f;
      for (std::size_t i = 0; i < std::min(names.size(), rec.fields.size()); ++i) f[names[i]] = rec.fields[i];
      out.rejected.push_back({rec.line, field(f, ClickColumnNames::creativeId()).value_or(""),
                              "has " + std::to_string(rec.fields.size()) + " fields, the header has " +
                                  std::to_string(names.size())});
      continue;
    }
    Fields f;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!f.count(names[i])) f[names[i]] = rec.fields[i];  // the first of repeated columns wins
    }
    checkRecord(f, rec.line, seen, out);
  }
  for (auto& r : out.rejected) r.reason = "line " + std::to_string(r.line) + ": " + r.reason;
  for (auto& r : out.rejected) {
    // Duplicate messages name the first line.
    const auto at = r.reason.find("(first at ");
    if (at != std::string::npos) r.reason.replace(at, 10, "(first on line ");
  }
  return out;
}

ClickFile parseClickJson(const std::string& text, const fs::path& source) {
  requireUtf8ClickFile(text, source);
  nlohmann::json j;
  try {
    j = io::parseJson(text, source.string());
  } catch (const io::FormatError& e) {
    throw ClickImportError(e.what());
  }
  ClickFile out;
  out.path = source;
  out.format = "json";
  std::map<std::string, int> seen;
  int index = 0;
  auto creativeList = [&](const nlohmann::json& list, const Fields& product) {
    if (!list.is_array()) throw ClickImportError(source.string() + ": 'creatives' must be a list");
    for (const auto& c : list) {
      ++index;
      if (!c.is_object()) {
        ++out.rowsRead;
        out.rejected.push_back({index, "", "creative " + std::to_string(index) + ": not an object"});
        continue;
      }
      Fields f = jsonFields(c);
      // Product-level fields fill what the creative does not say; its "id"/"name" are the product's.
      for (const auto& [k, v] : product) {
        std::string key = k;
        if (k == "id") key = "product_id";
        if (k == "name" || k == "title") key = "product_name";
        if (!f.count(key)) f[key] = v;
      }
      const std::size_t before = out.rejected.size();
      checkRecord(f, index, seen, out);
      for (std::size_t r = before; r < out.rejected.size(); ++r) {
        auto& rr = out.rejected[r];
        const auto at = rr.reason.find("(first at ");
        if (at != std::string::npos) rr.reason.replace(at, 10, "(first as creative ");
        rr.reason = "creative " + std::to_string(index) + ": " + rr.reason;
      }
    }
  };
  auto productObject = [&](const nlohmann::json& p, const std::string& keyFromMap) {
    if (p.is_array()) {
      creativeList(p, Fields{{"product_id", keyFromMap}});
      return;
    }
    if (!p.is_object() || !p.contains("creatives")) {
      throw ClickImportError(source.string() + ": a product must be an object with a 'creatives' list");
    }
    Fields pf = jsonFields(p);
    if (!keyFromMap.empty() && !pf.count("product_id")) pf["product_id"] = keyFromMap;
    creativeList(p["creatives"], pf);
  };
  auto listOfProductsOrCreatives = [&](const nlohmann::json& list) {
    const bool products = !list.empty() && list[0].is_object() && list[0].contains("creatives");
    if (products) {
      for (const auto& p : list) productObject(p, "");
    } else {
      creativeList(list, {});
    }
  };
  if (j.is_array()) {
    listOfProductsOrCreatives(j);
  } else if (j.is_object() && j.contains("products") && j["products"].is_array()) {
    listOfProductsOrCreatives(j["products"]);
  } else if (j.is_object() && j.contains("creatives") && j["creatives"].is_array()) {
    listOfProductsOrCreatives(j["creatives"]);
  } else if (j.is_object()) {
    for (const auto& [key, p] : j.items()) productObject(p, key);
  } else {
    throw ClickImportError(source.string() + ": expected a list of products or creatives, or {\"products\": [...]}");
  }
  return out;
}

ClickFile readClickFile(const fs::path& path) {
  const std::string text = readBytes(path);
  const auto first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  const bool json = lower(path.extension().string()) == ".json" ||
                    (first != std::string::npos && (text[first] == '[' || text[first] == '{'));
  return json ? parseClickJson(text, path) : parseClickCsv(text, path);
}

std::string pixelHash(const cv::Mat& image) {
  if (image.empty() || image.depth() != CV_8U) throw ImageError("pixelHash: needs a non-empty 8-bit image");
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  const std::string header = std::to_string(image.cols) + "x" + std::to_string(image.rows) + "x" +
                             std::to_string(image.channels()) + ":";
  XXH64_update(st, header.data(), header.size());
  const std::size_t rowBytes = static_cast<std::size_t>(image.cols) * image.elemSize();
  for (int y = 0; y < image.rows; ++y) XXH64_update(st, image.ptr(y), rowBytes);
  const auto h = XXH64_digest(st);
  XXH64_freeState(st);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace caig
