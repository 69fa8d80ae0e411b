#include "core/project/export.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <regex>
#include <sstream>

#include <set>

#include "core/base/csv.h"
#include "core/generation/composition.h"
#include "core/image/image_io.h"
#include "core/project/project.h"
#include "core/project/variant_params.h"
#include "core/ranking/variant_ranking.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"

namespace caig {

namespace {

using Bytes = std::vector<unsigned char>;
using Metadata = std::vector<std::pair<std::string, std::string>>;

std::uint32_t crc32(const unsigned char* data, std::size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void putBE32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<unsigned char>(v >> s));
}
void putLE(Bytes& out, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}
std::uint32_t getBE32(const Bytes& b, std::size_t at) {
  return std::uint32_t(b[at]) << 24 | std::uint32_t(b[at + 1]) << 16 | std::uint32_t(b[at + 2]) << 8 | b[at + 3];
}
std::uint32_t getLE32(const Bytes& b, std::size_t at) {
  return std::uint32_t(b[at]) | std::uint32_t(b[at + 1]) << 8 | std::uint32_t(b[at + 2]) << 16 |
         std::uint32_t(b[at + 3]) << 24;
}

// PNG: one text chunk per pair, placed before the image data, where readers that stop at the
// first IDAT (Pillow's Image.open, A1111's PNG Info) find them. A pure-ASCII value goes in a tEXt
// chunk, which every tool shows (ImageMagick 6 ignores iTXt); any other value in an uncompressed
// iTXt chunk, the one PNG text chunk that is UTF-8 (tEXt is Latin-1).
Bytes withPngText(const Bytes& png, const Metadata& metadata) {
  if (png.size() < 20) throw ExportError("PNG encoder returned too few bytes");
  std::size_t firstData = 8;
  while (firstData + 12 <= png.size() && std::memcmp(&png[firstData + 4], "IDAT", 4) != 0) {
    firstData += 12 + getBE32(png, firstData);
  }
  if (firstData + 12 > png.size()) throw ExportError("PNG encoder returned no image data");
  Bytes out(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(firstData));
  for (const auto& [key, value] : metadata) {
    const bool ascii = std::all_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    Bytes chunk = {'i', 'T', 'X', 't'};
    if (ascii) chunk = {'t', 'E', 'X', 't'};
    chunk.insert(chunk.end(), key.begin(), key.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(key.size(), 79)));
    chunk.push_back(0);  // end of key
    if (!ascii) {
      for (unsigned char c : {0, 0, 0, 0}) chunk.push_back(c);  // no compression, "" language, "" translated key
    }
    chunk.insert(chunk.end(), value.begin(), value.end());
    putBE32(out, static_cast<std::uint32_t>(chunk.size() - 4));
    out.insert(out.end(), chunk.begin(), chunk.end());
    putBE32(out, crc32(chunk.data(), chunk.size()));
  }
  out.insert(out.end(), png.begin() + static_cast<std::ptrdiff_t>(firstData), png.end());
  return out;
}

std::string keyValueLines(const Metadata& metadata) {
  std::string text;
  for (const auto& [key, value] : metadata) {
    std::string v = value;
    for (char& c : v) c = (c == '\n' || c == '\r') ? ' ' : c;  // one pair per line
    text += key + "=" + v + "\n";
  }
  return text;
}

// JPEG: a COM segment right after SOI (and after the JFIF APP0 when present).
Bytes withJpegComment(const Bytes& jpeg, const Metadata& metadata) {
  std::string text = keyValueLines(metadata);
  if (text.size() > 65533) text.resize(65533);  // one segment's limit
  std::size_t at = 2;
  if (jpeg.size() > 6 && jpeg[2] == 0xFF && jpeg[3] == 0xE0) at = 4 + (std::size_t(jpeg[4]) << 8 | jpeg[5]);
  Bytes out(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(at));
  const std::size_t length = text.size() + 2;
  for (unsigned char c : {0xFF, 0xFE, int(length >> 8), int(length & 0xFF)}) out.push_back(c);
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(at), jpeg.end());
  return out;
}

std::string xmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\n': out += "&#10;"; break;
      default: out += c;
    }
  }
  return out;
}

// WebP: OpenCV writes the simple format (one VP8/VP8L chunk); XMP needs the extended one, so a
// VP8X header (XMP flag, canvas size) goes first and an "XMP " chunk last.
Bytes withWebpXmp(const Bytes& webp, const Metadata& metadata, cv::Size size) {
  if (webp.size() < 20 || std::memcmp(webp.data(), "RIFF", 4) != 0 || std::memcmp(webp.data() + 8, "WEBP", 4) != 0) {
    throw ExportError("WebP encoder returned an unexpected container");
  }
  std::string xmp = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
                    "<rdf:Description xmlns:caig=\"https://caig.studio/ns/1.0/\"";
  for (const auto& [key, value] : metadata) xmp += "\n " + key + "=\"" + xmlEscape(value) + "\"";
  xmp += "/></rdf:RDF></x:xmpmeta>";
  Bytes body = {'W', 'E', 'B', 'P', 'V', 'P', '8', 'X'};
  putLE(body, 10, 4);
  for (unsigned char c : {0x04, 0, 0, 0}) body.push_back(c);  // flags: XMP
  putLE(body, static_cast<std::uint32_t>(size.width - 1), 3);
  putLE(body, static_cast<std::uint32_t>(size.height - 1), 3);
  body.insert(body.end(), webp.begin() + 12, webp.end());
  for (char c : std::string("XMP ")) body.push_back(static_cast<unsigned char>(c));
  putLE(body, static_cast<std::uint32_t>(xmp.size()), 4);
  body.insert(body.end(), xmp.begin(), xmp.end());
  if (xmp.size() % 2) body.push_back(0);  // chunks are padded to even sizes
  Bytes out = {'R', 'I', 'F', 'F'};
  putLE(out, static_cast<std::uint32_t>(body.size()), 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

void writeAtomically(const std::filesystem::path& path, const void* data, std::size_t bytes) {
  try {
    io::AtomicFile file(path);
    file.write(data, bytes);
    file.commit();
  } catch (const io::FileError& e) {
    throw ExportError("cannot write " + path.string() + ": " + e.what());
  }
}

std::string presetSlug(const std::string& id) {
  std::string s;
  for (char c : id) s += (c == ':' ? 'x' : c == '.' ? '_' : c);
  return s;
}

// Lower-case ASCII letters and digits, anything else one '-', at most 40 characters: a name
// that survives every file system, upload form and shell.
std::string nameSlug(const std::string& text) {
  std::string s;
  for (unsigned char c : text) {
    if (std::isalnum(c) && c < 0x80) {
      s += static_cast<char>(std::tolower(c));
    } else if (!s.empty() && s.back() != '-') {
      s += '-';
    }
  }
  while (!s.empty() && s.back() == '-') s.pop_back();
  if (s.size() > 40) s.resize(40);
  while (!s.empty() && s.back() == '-') s.pop_back();
  return s;
}

std::string twoDigits(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

}  // namespace

const char* extension(ExportFormat format) {
  switch (format) {
    case ExportFormat::Png: return "png";
    case ExportFormat::Jpeg: return "jpg";
    case ExportFormat::Webp: return "webp";
  }
  return "png";
}

const std::vector<std::string>& exportPresetIds() {
  static const std::vector<std::string> ids = {"1:1-1080", "4:5", "9:16", "1.91:1"};
  return ids;
}

cv::Mat fitToAdSize(const cv::Mat& image, cv::Size target) {
  if (image.empty() || target.width <= 0 || target.height <= 0) throw ExportError("nothing to fit: empty image or size");
  const double scale = std::min(double(target.width) / image.cols, double(target.height) / image.rows);
  const cv::Size fitted(std::max(1, int(std::lround(image.cols * scale))), std::max(1, int(std::lround(image.rows * scale))));
  cv::Mat sharp;
  cv::resize(image, sharp, fitted, 0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  if (fitted == target) return sharp;
  const int left = (target.width - fitted.width) / 2, top = (target.height - fitted.height) / 2;
  // The edge rows/columns carried outwards, then blurred: they hold the backdrop (the product is
  // placed away from the edges), whereas a mirror would bring back a flipped copy of the product.
  cv::Mat extended;
  cv::copyMakeBorder(sharp, extended, top, target.height - fitted.height - top, left,
                     target.width - fitted.width - left, cv::BORDER_REPLICATE);
  cv::Mat blurred;
  const double sigma = 0.04 * std::max(target.width, target.height);
  // Blurred at 1/8 scale: the same look as a full-size blur of this width, ~50x cheaper.
  cv::Mat small;
  cv::resize(extended, small, cv::Size(), 0.125, 0.125, cv::INTER_AREA);
  cv::GaussianBlur(small, small, cv::Size(), sigma / 8);
  cv::resize(small, blurred, target, 0, 0, cv::INTER_LINEAR);
  // Weight 1 inside the fitted image, falling to 0 over `ramp` pixels outside it: no hard seam.
  cv::Mat inside(target, CV_8UC1, cv::Scalar(255));
  inside(cv::Rect(left, top, fitted.width, fitted.height)).setTo(0);
  cv::Mat distance;
  cv::distanceTransform(inside, distance, cv::DIST_L2, 3);
  const float ramp = 0.02f * std::max(target.width, target.height);
  cv::Mat weight = 1.0f - cv::min(distance / ramp, 1.0f), weight3;
  cv::merge(std::vector<cv::Mat>(3, weight), weight3);
  cv::Mat a, b, out;
  extended.convertTo(a, CV_32FC3);
  blurred.convertTo(b, CV_32FC3);
  out = a.mul(weight3) + b.mul(cv::Scalar::all(1.0) - weight3);
  out.convertTo(out, CV_8UC3);
  return out;
}

Metadata exportMetadata(const ExportItem& item, const std::string& presetId, const std::string& frame) {
  Metadata m = {{"caig:variant_id", std::to_string(item.variantId)},
                {"caig:preset", presetId},
                {"caig:frame", frame},
                {"caig:prompt", item.prompt},
                {"caig:seed", std::to_string(item.seed)},
                {"caig:engine", item.engine},
                {"caig:product", item.product},
                {"caig:style", item.style},
                {"caig:params", item.paramsJson}};
  if (item.score) m.emplace_back("caig:ctr_score", number(*item.score));
  if (item.rank) m.emplace_back("caig:ctr_rank", std::to_string(*item.rank));
  if (item.winProbability) m.emplace_back("caig:win_probability", number(*item.winProbability));
  if (item.liftOverOriginal) {
    m.emplace_back("caig:ctr_lift", number(item.liftOverOriginal->lift));
    m.emplace_back("caig:ctr_lift_low", number(item.liftOverOriginal->low));
    m.emplace_back("caig:ctr_lift_high", number(item.liftOverOriginal->high));
    m.emplace_back("caig:verdict", verdictText(item.liftOverOriginal->verdict));
  }
  if (!item.rankerId.empty()) m.emplace_back("caig:ranker", item.rankerId);
  return m;
}

Bytes encodeWithMetadata(const cv::Mat& image, ExportFormat format, const Metadata& metadata, int quality) {
  Bytes encoded;
  std::vector<int> params;
  if (format == ExportFormat::Jpeg) params = {cv::IMWRITE_JPEG_QUALITY, quality};
  if (format == ExportFormat::Webp) params = {cv::IMWRITE_WEBP_QUALITY, quality};
  const std::string ext = std::string(".") + extension(format);
  try {
    if (!cv::imencode(ext, image, encoded, params)) throw ExportError("cannot encode " + ext);
  } catch (const cv::Exception& e) {
    throw ExportError("cannot encode " + ext + ": " + e.what());
  }
  switch (format) {
    case ExportFormat::Png: return withPngText(encoded, metadata);
    case ExportFormat::Jpeg: return withJpegComment(encoded, metadata);
    case ExportFormat::Webp: return withWebpXmp(encoded, metadata, image.size());
  }
  return encoded;
}

std::map<std::string, std::string> readExportMetadata(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ExportError("cannot read " + file.string());
  const Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, std::string> out;
  auto parseLines = [&](const std::string& text) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  };
  if (b.size() > 8 && b[0] == 0x89 && b[1] == 'P') {  // PNG: walk the chunks
    for (std::size_t at = 8; at + 12 <= b.size();) {
      const std::uint32_t len = getBE32(b, at);
      if (at + 12 + len > b.size()) break;
      if (std::memcmp(&b[at + 4], "tEXt", 4) == 0) {
        const std::string body(b.begin() + static_cast<std::ptrdiff_t>(at + 8), b.begin() + static_cast<std::ptrdiff_t>(at + 8 + len));
        const auto keyEnd = body.find('\0');
        if (keyEnd != std::string::npos) out[body.substr(0, keyEnd)] = body.substr(keyEnd + 1);
      }
      if (std::memcmp(&b[at + 4], "iTXt", 4) == 0) {
        const std::string body(b.begin() + static_cast<std::ptrdiff_t>(at + 8), b.begin() + static_cast<std::ptrdiff_t>(at + 8 + len));
        const auto keyEnd = body.find('\0');
        std::size_t textAt = keyEnd + 3;  // flag, method
        for (int nul = 0; nul < 2 && textAt < body.size(); ++textAt) nul += body[textAt] == '\0';
        if (keyEnd != std::string::npos && textAt <= body.size()) out[body.substr(0, keyEnd)] = body.substr(textAt);
      }
      at += 12 + len;
    }
  } else if (b.size() > 4 && b[0] == 0xFF && b[1] == 0xD8) {  // JPEG: the COM segments before the scan
    for (std::size_t at = 2; at + 4 <= b.size() && b[at] == 0xFF && b[at + 1] != 0xDA;) {
      const std::size_t len = std::size_t(b[at + 2]) << 8 | b[at + 3];
      if (b[at + 1] == 0xFE && at + 2 + len <= b.size()) {
        parseLines(std::string(b.begin() + static_cast<std::ptrdiff_t>(at + 4), b.begin() + static_cast<std::ptrdiff_t>(at + 2 + len)));
      }
      at += 2 + len;
    }
  } else if (b.size() > 12 && std::memcmp(b.data(), "RIFF", 4) == 0) {  // WebP: the XMP chunk
    for (std::size_t at = 12; at + 8 <= b.size();) {
      const std::uint32_t len = getLE32(b, at + 4);
      if (at + 8 + len > b.size()) break;
      if (std::memcmp(&b[at], "XMP ", 4) == 0) {
        const std::string xmp(b.begin() + static_cast<std::ptrdiff_t>(at + 8), b.begin() + static_cast<std::ptrdiff_t>(at + 8 + len));
        static const std::regex attr("(caig:[a-z_]+)=\"([^\"]*)\"");
        for (std::sregex_iterator it(xmp.begin(), xmp.end(), attr), end; it != end; ++it) {
          std::string v = (*it)[2];
          for (const auto& [from, to] : {std::pair<std::string, std::string>{"&#10;", "\n"}, {"&quot;", "\""},
                                         {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
            for (std::size_t p; (p = v.find(from)) != std::string::npos;) v.replace(p, from.size(), to);
          }
          out[(*it)[1]] = v;
        }
      }
      at += 8 + len + (len % 2);
    }
  } else {
    throw ExportError(file.string() + " is not a PNG, JPEG or WebP file");
  }
  return out;
}

std::vector<ExportItem> exportItemsFromProject(const Project& project, std::optional<std::int64_t> productId,
                                               const std::vector<std::int64_t>& variantIds) {
  const ProjectStore& store = project.store();
  std::vector<Product> products;
  if (productId) {
    const auto product = store.product(*productId);
    if (!product) throw ExportError("the project has no product " + std::to_string(*productId));
    products.push_back(*product);
  } else {
    products = store.products();
  }
  std::map<std::int64_t, ExportItem> byId;
  std::vector<std::int64_t> order;
  for (const auto& product : products) {
    std::map<std::int64_t, std::string> prompts;
    for (const auto& p : store.prompts(product.id)) prompts[p.id] = p.text;
    std::vector<ExportItem> productOrder;
    for (const auto& v : store.variants(product.id)) {
      ExportItem item;
      item.variantId = v.id;
      item.productId = product.id;
      item.image = project.absolute(v.imagePath);
      item.product = product.title;
      if (v.promptId && prompts.count(*v.promptId)) item.prompt = prompts[*v.promptId];
      item.seed = v.seed;
      item.paramsJson = v.paramsJson;
      const VariantParams params = variantParams(v);
      item.engine = params.engine;
      // The text it was made with wins over the prompt record, which the user may have edited since.
      if (!params.prompt.empty()) item.prompt = params.prompt;
      item.style = params.style.empty() ? params.engine : params.style;
      item.score = v.score;
      item.rank = v.rank;
      item.winProbability = v.winProbability;
      item.liftOverOriginal = liftOverOriginal(v);
      item.rankerId = v.rankerId;
      productOrder.push_back(item);
      byId.emplace(v.id, std::move(item));
    }
    // Each product's variants best first (as the grid ranks them), the unranked after, oldest first.
    std::stable_sort(productOrder.begin(), productOrder.end(), [](const ExportItem& x, const ExportItem& y) {
      if (!x.rank || !y.rank) return x.rank.has_value() && !y.rank.has_value();
      return *x.rank < *y.rank;
    });
    for (const auto& item : productOrder) order.push_back(item.variantId);
  }
  if (variantIds.empty()) {
    std::vector<ExportItem> all;
    for (const auto id : order) all.push_back(byId.at(id));
    return all;
  }
  std::vector<ExportItem> chosen;
  for (const auto id : variantIds) {
    const auto it = byId.find(id);
    if (it == byId.end()) {
      throw ExportError("the project has no variant " + std::to_string(id) +
                        (productId ? " of product " + std::to_string(*productId) : std::string()));
    }
    chosen.push_back(it->second);
  }
  return chosen;
}

std::vector<std::string> exportFileNames(const ExportRequest& request) {
  std::vector<std::string> names;
  std::set<std::string> taken;
  for (const auto& item : request.items) {
    std::string product = nameSlug(item.product);
    if (product.empty()) product = "product";
    const std::string rank = item.rank ? "rank" + twoDigits(*item.rank) : "unranked";
    const std::string style = nameSlug(item.style);
    const std::string stem = product + "-" + rank + (style.empty() ? "" : "-" + style);
    for (const auto& presetId : request.presetIds) {
      const std::string base = stem + "-" + presetSlug(presetId);
      std::string name = base + "." + extension(request.format);
      for (int n = 2; !taken.insert(name).second; ++n) name = base + "-" + std::to_string(n) + "." + extension(request.format);
      names.push_back(name);
    }
  }
  return names;
}

namespace {
// The files of `names` and manifest.csv that exist in `folder`.
std::vector<std::filesystem::path> existingIn(const std::filesystem::path& folder, const std::vector<std::string>& names) {
  std::vector<std::filesystem::path> existing;
  for (const auto& name : names) {
    std::error_code ec;
    if (std::filesystem::exists(folder / name, ec)) existing.push_back(folder / name);
  }
  std::error_code ec;
  if (std::filesystem::exists(folder / "manifest.csv", ec)) existing.push_back(folder / "manifest.csv");
  return existing;
}
}  // namespace

std::vector<std::filesystem::path> existingExportFiles(const ExportRequest& request) {
  return existingIn(request.folder, exportFileNames(request));
}

ExportResult exportVariants(const ExportRequest& request, const std::function<bool(int, int)>& progress) {
  if (request.items.empty() || request.presetIds.empty()) throw ExportError("nothing to export: no variants or no sizes chosen");
  for (const auto& presetId : request.presetIds) {
    try {
      adPreset(presetId);
    } catch (const std::exception& e) {
      throw ExportError(e.what());
    }
  }
  const std::vector<std::string> names = exportFileNames(request);
  if (!request.replaceExisting) {
    auto existing = existingIn(request.folder, names);
    if (!existing.empty()) {
      const std::string first = existing.front().filename().string();
      const std::string count = std::to_string(existing.size());
      throw ExportWouldReplace(std::move(existing),
                               count + " file(s) to export exist already in " + request.folder.string() + " (" +
                                   first + (count == "1" ? "" : ", ...") +
                                   "): choose another folder, or replace them");
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(request.folder, ec);
  if (ec || !std::filesystem::is_directory(request.folder)) {
    throw ExportError("cannot create the export folder " + request.folder.string() + ": " + ec.message());
  }
  ExportResult result;
  // Files written so far are removed when anything fails: an export is all or nothing.
  struct Cleanup {
    std::vector<std::filesystem::path>* files;
    bool keep = false;
    ~Cleanup() {
      if (keep) return;
      std::error_code ignored;
      for (const auto& f : *files) std::filesystem::remove(f, ignored);
    }
  } cleanup{&result.files};

  std::string csv =
      "file,variant_id,preset,width,height,prompt,seed,engine,score,rank,win_probability,product,style,frame,"
      "ctr_lift,ctr_lift_low,ctr_lift_high,verdict\n";
  const int total = static_cast<int>(request.items.size() * request.presetIds.size());
  int done = 0;
  std::size_t nameAt = 0;
  for (std::size_t index = 0; index < request.items.size(); ++index) {
    const ExportItem& item = request.items[index];
    cv::Mat source;
    try {
      source = loadImage(item.image);
    } catch (const std::exception& e) {
      throw ExportError("cannot read variant " + std::to_string(item.variantId) + ": " + e.what());
    }
    for (const auto& presetId : request.presetIds) {
      const cv::Size size = adPreset(presetId).size;
      ExportFrame drawn = request.drawFrame ? request.drawFrame(index, presetId) : ExportFrame{};
      cv::Mat ad = drawn.image;
      const std::string frame = ad.empty() ? "fitted" : drawn.how;
      if (ad.empty()) {
        ad = fitToAdSize(source, size);
      } else if (ad.size() != size) {
        throw ExportError("the ad drawn for " + presetId + " has the wrong size");
      }
      const Bytes bytes =
          encodeWithMetadata(ad, request.format, exportMetadata(item, presetId, frame), request.jpegQuality);
      const std::string& name = names[nameAt++];
      const auto path = request.folder / name;
      writeAtomically(path, bytes.data(), bytes.size());
      result.files.push_back(path);
      csv += csvField(name) + "," + std::to_string(item.variantId) + "," + csvField(presetId) + "," +
             std::to_string(size.width) + "," + std::to_string(size.height) + "," + csvField(item.prompt) + "," +
             std::to_string(item.seed) + "," + csvField(item.engine) + "," + (item.score ? number(*item.score) : "") +
             "," + (item.rank ? std::to_string(*item.rank) : "") + "," +
             (item.winProbability ? number(*item.winProbability) : "") + "," + csvField(item.product) + "," +
             csvField(item.style) + "," + frame + ",";
      if (const auto& l = item.liftOverOriginal) {
        csv += number(l->lift) + "," + number(l->low) + "," + number(l->high) + "," + verdictText(l->verdict);
      } else {
        csv += ",,,";
      }
      csv += "\n";
      ++done;
      if (progress && !progress(done, total)) throw ExportError("export cancelled");
    }
  }
  result.manifest = request.folder / "manifest.csv";
  writeAtomically(result.manifest, csv.data(), csv.size());
  cleanup.keep = true;
  return result;
}

}  // namespace caig
