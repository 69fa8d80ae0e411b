#pragma once
// The bundled demo product shots: studio photos of a perfume bottle, a mug and a cream jar on
// seamless paper, drawn by the project itself (no third-party images). Each comes with its exact
// alpha, so cutout quality can be measured against ground truth.

#include <filesystem>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace caig {

struct DemoProduct {
  std::string name;      // file stem in resources/demo/
  std::string title;     // product title as a marketer would write it
  std::string category;
  cv::Mat shot;          // CV_8UC3 BGR, size x size
  cv::Mat alpha;         // CV_8UC1, 255 = product
};

// Deterministic: the same pixels on every run (fixed noise seed).
std::vector<DemoProduct> renderDemoProducts(int size = 768);

// Writes <name>.png, <name>.alpha.png and products.json (titles, categories) into `dir`.
void writeDemoProducts(const std::filesystem::path& dir, int size = 768);

class Project;
struct Product;
// Imports every shot listed in `demoDir`/products.json into the project, with its title, and
// its exact mask (products.json "alpha") as its cutout (engine "alpha-file").
std::vector<Product> importDemoProducts(Project& project, const std::filesystem::path& demoDir);

}  // namespace caig
