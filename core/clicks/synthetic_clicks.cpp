#include "core/clicks/synthetic_clicks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "core/base/csv.h"
#include "core/base/splitmix.h"
#include "core/clicks/click_data.h"
#include "core/generation/generation_job.h"
#include "core/image/image_io.h"
#include "core/project/demo_products.h"
#include "models/io/atomic_file.h"

namespace fs = std::filesystem;

namespace caig {
namespace {

double gaussian(SplitMix64& rng) {
  // Box-Muller on the platform-independent stream.
  const double u1 = std::max(rng.uniform(), 1e-300), u2 = rng.uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * CV_PI * u2);
}

std::int64_t binomial(SplitMix64& rng, std::int64_t n, double p) {
  std::int64_t k = 0;
  for (std::int64_t i = 0; i < n; ++i) k += rng.uniform() < p ? 1 : 0;
  return k;
}

// The shot with the product's hue turned by `degrees` (OpenCV hue units are 2 degrees).
cv::Mat recolour(const cv::Mat& shot, const cv::Mat& alpha, double degrees) {
  cv::Mat hsv;
  cv::cvtColor(shot, hsv, cv::COLOR_BGR2HSV);
  const int shift = static_cast<int>(std::lround(degrees / 2.0));
  for (int y = 0; y < hsv.rows; ++y) {
    auto* p = hsv.ptr<cv::Vec3b>(y);
    const uchar* a = alpha.ptr<uchar>(y);
    for (int x = 0; x < hsv.cols; ++x) {
      if (a[x] > 0) p[x][0] = static_cast<uchar>(((p[x][0] + shift) % 180 + 180) % 180);
    }
  }
  cv::Mat out;
  cv::cvtColor(hsv, out, cv::COLOR_HSV2BGR);
  return out;
}

double logitOf(double p) { return std::log(p / (1 - p)); }
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

SyntheticClickData writeSyntheticClicks(const fs::path& dir, const SyntheticClickOptions& o,
                                        const std::function<void(int, int)>& progress) {
  if (o.products < 1 || o.variantsPerProduct < 2 || o.minImpressions < 1 || o.maxImpressions < o.minImpressions ||
      !(o.baseCtr > 0 && o.baseCtr < 1) || o.productSpread < 0 || o.noiseSigma < 0) {
    throw std::invalid_argument("synthetic clicks: need >= 1 product, >= 2 variants, 0 < base CTR < 1 and a valid impression range");
  }
  fs::create_directories(dir / "images");
  const auto demos = renderDemoProducts(o.shotSize);
  SplitMix64 rng{o.seed * 0x9E3779B97F4A7C15ull + 17};
  BuiltinRanker featureRanker;  // only its feature extractor is used

  SyntheticClickData data;
  data.dir = dir;
  data.trueWeights = o.trueWeights;
  const int total = o.products * o.variantsPerProduct;
  nlohmann::json products = nlohmann::json::array();
  for (int p = 0; p < o.products; ++p) {
    const DemoProduct& demo = demos[static_cast<std::size_t>(p) % demos.size()];
    const int round = p / static_cast<int>(demos.size());
    const cv::Mat shot = round == 0 ? demo.shot : recolour(demo.shot, demo.alpha, 47.0 * round);
    char key[32];
    std::snprintf(key, sizeof key, "P%03d", p + 1);
    const std::string title = demo.title + (round == 0 ? std::string() : " (colour " + std::to_string(round) + ")");
    const double productOffset = o.productSpread * gaussian(rng);
    nlohmann::json jp{{"product_id", key}, {"product_name", title}, {"category", demo.category}};
    jp["creatives"] = nlohmann::json::array();
    for (int v = 0; v < o.variantsPerProduct; ++v) {
      GenerationRequest request;  // one built-in variant, the product at a random size
      request.presetId = o.preset;
      request.prompts = 1;
      request.seed = rng.next() & 0xFFFFFFFFull;
      request.seedMode = SeedMode::Fixed;
      request.composition.fill = rng.uniform(0.40, 0.85);
      GenerationEngines engines;
      const auto rendered = runGeneration(engines, prepareGeneration(shot, demo.alpha, title, demo.category, request));
      const GeneratedVariant& bv = rendered.variants.at(0);

      SyntheticCreative c;
      char id[48];
      std::snprintf(id, sizeof id, "%s-V%02d", key, v + 1);
      c.creativeId = id;
      c.productKey = key;
      c.productTitle = title;
      c.category = demo.category;
      c.styleId = bv.params.value("style", "");
      c.imageFile = "images/" + c.creativeId + ".png";
      saveImage(dir / c.imageFile, bv.image);
      saveImage(dir / ("images/" + c.creativeId + ".alpha.png"), bv.canvasAlpha);
      c.imageHash = pixelHash(bv.image);
      c.features = featureRanker.features(Creative{bv.image, bv.canvasAlpha});
      const FeatureVector z = BuiltinRanker::standardise(c.features);
      double effect = 0;
      for (int k = 0; k < kBuiltinFeatureCount; ++k) effect += o.trueWeights[k] * z[k];
      c.trueLogit = logitOf(o.baseCtr) + productOffset + effect;
      c.trueCtr = sigmoid(c.trueLogit + o.noiseSigma * gaussian(rng));
      c.impressions = o.minImpressions + static_cast<std::int64_t>(rng.index(
                                             static_cast<std::size_t>(o.maxImpressions - o.minImpressions + 1)));
      c.clicks = binomial(rng, c.impressions, c.trueCtr);
      jp["creatives"].push_back({{"creative_id", c.creativeId},
                                 {"creative_image_hash", c.imageHash},
                                 {"exp_impression_cnt", c.impressions},
                                 {"exp_click_cnt", c.clicks}});
      data.creatives.push_back(std::move(c));
      if (progress) progress(static_cast<int>(data.creatives.size()), total);
    }
    products.push_back(std::move(jp));
  }

  std::string csv = "creative_id,product_id,product_name,category,image_path,impressions,clicks\n";
  nlohmann::json truth{{"model", "logit CTR = logit(baseCtr) + product offset + trueWeights . z(features) + noise"},
                       {"baseCtr", o.baseCtr},
                       {"productSpread", o.productSpread},
                       {"noiseSigma", o.noiseSigma},
                       {"seed", o.seed}};
  for (int k = 0; k < kBuiltinFeatureCount; ++k) truth["trueWeights"][BuiltinRanker::featureNames()[k]] = o.trueWeights[k];
  truth["creatives"] = nlohmann::json::array();
  for (const auto& c : data.creatives) {
    csv += csvField(c.creativeId) + "," + csvField(c.productKey) + "," + csvField(c.productTitle) + "," +
           csvField(c.category) + "," + csvField(c.imageFile) + "," + std::to_string(c.impressions) + "," +
           std::to_string(c.clicks) + "\n";
    truth["creatives"].push_back({{"creative_id", c.creativeId},
                                  {"style", c.styleId},
                                  {"trueLogit", c.trueLogit},
                                  {"trueCtr", c.trueCtr}});
  }
  data.csvFile = dir / "clicks.csv";
  data.jsonFile = dir / "clicks.json";
  data.truthFile = dir / "truth.json";
  io::writeFileAtomically(data.csvFile, csv);
  io::writeFileAtomically(data.jsonFile, nlohmann::json{{"products", products}}.dump(1) + "\n");
  io::writeFileAtomically(data.truthFile, truth.dump(1) + "\n");
  return data;
}

}  // namespace caig
