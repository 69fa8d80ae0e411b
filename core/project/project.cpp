#include "core/project/project.h"

#include <xxhash.h>

#include <opencv2/core.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/base/utf8.h"
#include "core/image/image_io.h"
#include "models/io/atomic_file.h"
#include "models/io/errors.h"
#include "models/io/json_file.h"

namespace fs = std::filesystem;

namespace caig {

std::string contentHash(const void* data, std::size_t bytes) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits(data, bytes)));
  return hex;
}

Project::Project(fs::path dir, ProjectStore store) : dir_(std::move(dir)), store_(std::move(store)) {}

bool Project::isProject(const fs::path& dir) { return fs::is_regular_file(dir / kDatabaseName); }

Project Project::create(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    throw StoreError("cannot create a project in '" + dir.string() + "': the folder is not empty");
  }
  fs::create_directories(dir / "products", ec);
  if (!ec) fs::create_directories(dir / "variants", ec);
  if (ec) throw StoreError("cannot create project folder '" + dir.string() + "': " + ec.message());
  return Project(dir, ProjectStore::open(dir / kDatabaseName));
}

Project Project::open(const fs::path& dir) {
  if (!isProject(dir)) throw StoreError("'" + dir.string() + "' is not a CAIG Studio project (no project.caig)");
  ProjectStore store = ProjectStore::open(dir / kDatabaseName);  // a refused project gets no new folders
  std::error_code ec;
  fs::create_directories(dir / "products", ec);
  fs::create_directories(dir / "variants", ec);
  return Project(dir, std::move(store));
}

Project Project::openReadOnly(const fs::path& dir) {
  if (!isProject(dir)) throw StoreError("'" + dir.string() + "' is not a CAIG Studio project (no project.caig)");
  return Project(dir, ProjectStore::open(dir / kDatabaseName, ProjectStore::Access::ReadOnly));
}

Project Project::openOrCreate(const fs::path& dir) { return isProject(dir) ? open(dir) : create(dir); }

Product Project::importProductShot(const fs::path& image, std::string title, const std::string& category) {
  requireUtf8(title, "the product title");  // before anything is copied
  requireUtf8(category, "the product category");
  try {
    io::requireRegularFile(image, "shot");
  } catch (const io::FileError& e) {
    throw ImageError(e.what());
  }
  std::ifstream in(image, std::ios::binary);
  if (!in) throw ImageError("cannot open '" + image.string() + "'");
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  decodeImage(bytes, image.string());  // refuse anything that is not an image before copying

  std::string ext = image.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::string relative = "products/" + contentHash(bytes.data(), bytes.size()) + ext;
  const fs::path target = absolute(relative);
  if (!fs::exists(target)) {
    try {
      io::AtomicFile out(target);
      out.write(bytes.data(), bytes.size());
      out.commit();
    } catch (const io::FileError& e) {
      throw StoreError(std::string("cannot copy the shot into the project: ") + e.what());
    }
  }
  Product p;
  p.title = title.empty() ? utf8Lossy(image.stem().string()) : std::move(title);
  p.category = category;
  p.imagePath = relative;
  p.id = store_.addProduct(p);
  return *store_.product(p.id);
}

Product Project::setCutout(int64_t productId, const cv::Mat& alpha, const std::string& engine) {
  auto product = store_.product(productId);
  if (!product) throw StoreError("no product with id " + std::to_string(productId));
  if (alpha.empty() || alpha.type() != CV_8UC1) throw ImageError("a cutout must be a non-empty 8-bit mask");
  const cv::Mat shot = loadImage(absolute(product->imagePath));
  if (alpha.size() != shot.size()) throw ImageError("the cutout's size differs from the product shot's");
  const auto png = encodeImage(alpha, ".png");
  const std::string relative = "products/" + contentHash(png.data(), png.size()) + ".alpha.png";
  if (!std::filesystem::exists(absolute(relative))) {
    try {
      io::AtomicFile out(absolute(relative));
      out.write(png.data(), png.size());
      out.commit();
    } catch (const io::FileError& e) {
      throw StoreError(std::string("cannot save the cutout: ") + e.what());
    }
  }
  product->cutoutPath = relative;
  product->cutoutEngine = engine;
  store_.updateProduct(*product);
  return *product;
}

cv::Mat Project::cutout(int64_t productId) const {
  const auto product = store_.product(productId);
  if (!product || product->cutoutPath.empty()) return {};
  cv::Mat alpha = loadImage(absolute(product->cutoutPath));
  cv::extractChannel(alpha, alpha, 0);  // loadImage widens grey to BGR
  return alpha;
}

namespace {
// Removes each file no record names any more; returns those removed.
std::vector<std::filesystem::path> removeUnreferenced(const Project& project, std::vector<std::string> relative) {
  std::sort(relative.begin(), relative.end());
  relative.erase(std::unique(relative.begin(), relative.end()), relative.end());
  std::vector<std::filesystem::path> removed;
  for (const auto& r : relative) {
    if (r.empty() || project.store().fileReferenced(r)) continue;
    std::error_code ec;
    const auto path = project.absolute(r);
    if (std::filesystem::remove(path, ec) && !ec) removed.push_back(path);
  }
  return removed;
}
}  // namespace

std::vector<std::filesystem::path> Project::removeVariants(const std::vector<int64_t>& variantIds) {
  std::vector<std::string> files;
  store_.transaction([&] {
    for (const int64_t id : variantIds) {
      const auto v = store_.variant(id);
      if (!v) throw StoreError("no variant with id " + std::to_string(id));  // rolls back the others
      files.push_back(v->imagePath);
      store_.removeVariant(id);
    }
  });
  return removeUnreferenced(*this, files);
}

std::vector<std::filesystem::path> Project::removeProduct(int64_t productId) {
  const auto product = store_.product(productId);
  if (!product) throw StoreError("no product with id " + std::to_string(productId));
  std::vector<std::string> files = {product->imagePath, product->cutoutPath};
  for (const auto& v : store_.variants(productId)) files.push_back(v.imagePath);
  store_.transaction([&] { store_.removeProduct(productId); });
  return removeUnreferenced(*this, files);
}

}  // namespace caig
