#pragma once
// A studio project: a folder holding the SQLite store (project.caig) and the images it refers
// to (products/, variants/). Paths in the store are relative, so a project folder can be moved.

#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/project/project_store.h"

namespace caig {

class Project {
 public:
  static constexpr const char* kDatabaseName = "project.caig";

  // Creates the folder (absent or empty) and a fresh store. Throws StoreError.
  static Project create(const std::filesystem::path& dir);
  // Opens an existing project folder. Throws StoreError.
  static Project open(const std::filesystem::path& dir);
  // For commands that only read (`caig project info`, a dry-run import): changes nothing on
  // disk and works on a read-only mount; the store refuses transactions.
  static Project openReadOnly(const std::filesystem::path& dir);
  static Project openOrCreate(const std::filesystem::path& dir);
  static bool isProject(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  ProjectStore& store() { return store_; }
  const ProjectStore& store() const { return store_; }
  std::filesystem::path absolute(const std::string& relativePath) const { return dir_ / relativePath; }

  // Checks that the shot decodes, copies it into products/ under a content-hash name (so a
  // re-import shares the file) and records the product. Empty title = the file name's stem.
  Product importProductShot(const std::filesystem::path& image, std::string title = {},
                            const std::string& category = {});

  // Stores a product's alpha (CV_8UC1, the shot's size) as a PNG in the project and records
  // which engine made it ("isnet", "grabcut", "painted"). Returns the updated product.
  Product setCutout(int64_t productId, const cv::Mat& alpha, const std::string& engine);
  // The stored alpha, or an empty Mat when the product has not been cut out.
  cv::Mat cutout(int64_t productId) const;

  // Deleting. The records go in one transaction (an unknown id throws StoreError and removes
  // nothing); then the files that no remaining record names are removed (files are shared by
  // content). Returns the files removed; one that cannot be removed stays, unnamed by any record.
  // The variants' images:
  std::vector<std::filesystem::path> removeVariants(const std::vector<int64_t>& variantIds);
  // The product with its prompts, variants, placement and cutout; click records keep their rows
  // with no product. The shot, the cutout and the variants' images:
  std::vector<std::filesystem::path> removeProduct(int64_t productId);

 private:
  Project(std::filesystem::path dir, ProjectStore store);
  std::filesystem::path dir_;
  ProjectStore store_;
};

// Hex XXH3-64 of a byte range: content addresses for images.
std::string contentHash(const void* data, std::size_t bytes);

}  // namespace caig
