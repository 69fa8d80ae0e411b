// Every built-in style rendered for the three demo products into one contact sheet
// (<build>/backdrop_gallery.png), to look at; the test checks what can be checked by numbers.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <fstream>
#include <iostream>
#include <set>

#include "core/backdrop/backdrop_renderer.h"
#include "core/image/image_io.h"
#include "core/prompts/prompt_writer.h"
#include "core/base/resources.h"

namespace caig {
namespace {

struct Placed {
  cv::Mat bgr, alpha;
};

// The product's cutout scaled so that its longer side is 0.78 of the canvas, centred.
Placed place(const cv::Mat& shot, const cv::Mat& alpha, int side) {
  const cv::Rect box = cv::boundingRect(alpha > 0);
  const double scale = 0.78 * side / std::max(box.width, box.height);
  const cv::Size sz(std::max(1, int(box.width * scale + 0.5)), std::max(1, int(box.height * scale + 0.5)));
  Placed p{cv::Mat::zeros(side, side, CV_8UC3), cv::Mat::zeros(side, side, CV_8UC1)};
  const cv::Rect dst((side - sz.width) / 2, (side - sz.height) / 2, sz.width, sz.height);
  cv::resize(shot(box), p.bgr(dst), sz, 0, 0, cv::INTER_AREA);
  cv::resize(alpha(box), p.alpha(dst), sz, 0, 0, cv::INTER_AREA);
  return p;
}

TEST(BackdropGallery, EveryStyleForEveryDemoProduct) {
  const auto demo = resourceDir() / "demo";
  const nlohmann::json products = nlohmann::json::parse(std::ifstream(demo / "products.json"));
  TemplatePromptWriter writer;
  const auto ids = writer.styleIds();
  constexpr int kTile = 320;
  const int cols = 6, rows = static_cast<int>((ids.size() * products.size() + cols - 1) / cols);
  cv::Mat sheet(rows * kTile, cols * kTile, CV_8UC3, cv::Scalar(30, 30, 30));
  std::set<std::uint64_t> distinct;
  int tile = 0;
  for (const auto& id : ids) {
    for (const auto& prod : products) {
      cv::Mat shot = loadImage(demo / prod["file"].get<std::string>());
      cv::Mat alpha = loadImage(demo / prod["alpha"].get<std::string>());
      cv::extractChannel(alpha, alpha, 0);
      const Placed p = place(shot, alpha, kTile);
      // Only this style may be chosen.
      for (const auto& other : ids) writer.styleWeights[other] = other == id ? 1.0 : 0.0;
      const ProductBrief brief{prod["title"], prod["category"], dominantColours(shot, alpha)};
      const BackgroundDescription d = writer.write(brief, 1, 11)[0];
      ASSERT_EQ(d.styleId, id);
      const cv::Mat ad = renderAd(d.spec, p.bgr, p.alpha);
      ASSERT_EQ(ad.size(), cv::Size(kTile, kTile));
      // The backdrop is not flat: light falloff or texture gives it some variation.
      cv::Scalar mean, dev;
      cv::meanStdDev(ad, mean, dev, p.alpha == 0);
      EXPECT_GT(dev[0] + dev[1] + dev[2], 3.0) << id;
      distinct.insert(cv::sum(ad)[0] * 7 + cv::sum(ad)[1]);
      cv::Mat cell = sheet(cv::Rect((tile % cols) * kTile, (tile / cols) * kTile, kTile, kTile));
      ad.copyTo(cell);
      cv::putText(cell, id + " / " + toString(d.harmony), {6, kTile - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.42,
                  cv::Scalar(0, 0, 0), 3, cv::LINE_AA);
      cv::putText(cell, id + " / " + toString(d.harmony), {6, kTile - 8}, cv::FONT_HERSHEY_SIMPLEX, 0.42,
                  cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
      std::cout << id << " | " << d.prompt << "\n";
      ++tile;
    }
  }
  EXPECT_EQ(distinct.size(), ids.size() * products.size());
  saveImage(std::filesystem::path(CAIG_BUILD_DIR) / "backdrop_gallery.png", sheet);
}

}  // namespace
}  // namespace caig
