#pragma once
// A third BackgroundGenerator that exists only in the tests: it paints the background one grey
// (its option "grey", 0-255) in two "steps" with a preview each, at half the ad size so that the
// job's resize and paste-back run. Registered at run time, it proves the seam: the generation job,
// the command line and the studio's Generate dock run it without any code in app/ or widgets/
// knowing it. Beside it, an inpainting one ("noise"): it paints seeded noise where the mask asks
// and keeps the layout's pixels elsewhere, as an inpainting model does, so that outpainting can be
// checked pixel by pixel without SD weights.

#include <opencv2/core.hpp>

#include "core/generation/generator_registry.h"

namespace caig::test {

inline GeneratorKind flatColourKind() {
  class Flat : public BackgroundGenerator {
   public:
    std::string engine() const override { return "flat"; }
    std::string modelId() const override { return "flat-colour"; }
    std::string describe(const GeneratorSettings& s) const override {
      return "grey " + std::to_string(s.at("grey").get<int>());
    }
    cv::Size workingSize(cv::Size ad, const GeneratorSettings&) const override {
      return {std::max(8, ad.width / 2), std::max(8, ad.height / 2)};
    }
    bool reusableFor(const GeneratorSettings&) const override { return true; }
    GeneratedBackground generate(const BackgroundRequest& r, const GeneratorSettings& s, const BackgroundStep& onStep,
                                 const std::atomic<bool>* cancel) override {
      GeneratedBackground out;
      const int grey = s.at("grey").get<int>();
      for (int step = 1; step <= 2; ++step) {
        if (cancel && cancel->load()) {
          out.cancelled = true;
          return out;
        }
        const cv::Mat preview(r.layout.canvas, CV_8UC3, cv::Scalar::all(grey * step / 2));
        if (onStep) onStep(step, 2, preview);
      }
      out.image = cv::Mat(r.layout.canvas, CV_8UC3, cv::Scalar::all(grey));
      out.record = {{"flatSeed", r.seed}};
      return out;
    }
  };
  GeneratorKind k;
  k.name = "flat";
  k.label = "Flat colour (test)";
  GeneratorOption grey;
  grey.key = "grey";
  grey.flag = "grey";
  grey.label = "Grey";
  grey.help = "the background's grey level";
  grey.type = OptionType::Integer;
  grey.defaultValue = 128;
  grey.min = 0;
  grey.max = 255;
  k.options = {grey};
  k.create = [](const GeneratorSettings&) { return std::make_unique<Flat>(); };
  return k;
}

inline void registerFlatColourGenerator() {
  if (!hasGenerator("flat")) registerGenerator(flatColourKind());
}

inline GeneratorKind noiseInpaintingKind() {
  class Noise : public BackgroundGenerator {
   public:
    std::string engine() const override { return "noise"; }
    std::string modelId() const override { return "noise-inpainting"; }
    std::string describe(const GeneratorSettings&) const override { return "seeded noise"; }
    cv::Size workingSize(cv::Size ad, const GeneratorSettings&) const override {
      return {std::max(8, ad.width / 2), std::max(8, ad.height / 2)};
    }
    bool reusableFor(const GeneratorSettings&) const override { return true; }
    GeneratedBackground generate(const BackgroundRequest& r, const GeneratorSettings&, const BackgroundStep& onStep,
                                 const std::atomic<bool>*) override {
      GeneratedBackground out;
      out.image = cv::Mat(r.layout.canvas, CV_8UC3);
      cv::RNG rng(r.seed + 1);
      rng.fill(out.image, cv::RNG::UNIFORM, cv::Scalar::all(0), cv::Scalar::all(256));
      r.layout.product.copyTo(out.image, r.layout.mask == 0);
      if (onStep) onStep(1, 1, out.image);
      return out;
    }
  };
  GeneratorKind k;
  k.name = "noise";
  k.label = "Seeded noise inpainting (test)";
  k.inpaints = true;
  k.create = [](const GeneratorSettings&) { return std::make_unique<Noise>(); };
  return k;
}

inline void registerNoiseInpaintingGenerator() {
  if (!hasGenerator("noise")) registerGenerator(noiseInpaintingKind());
}

}  // namespace caig::test
