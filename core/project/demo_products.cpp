#include "core/project/demo_products.h"

#include <cmath>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/image/image_io.h"
#include "core/project/project.h"
#include "models/io/atomic_file.h"
#include "models/io/json_file.h"

namespace caig {
namespace {

constexpr int kSuper = 4;  // shapes are drawn at 4x and area-averaged: smooth edges

// A drawing surface in float BGR [0,1] with the product's coverage alongside.
struct Studio {
  int size;
  cv::Mat3f rgb;
  cv::Mat1f alpha;

  explicit Studio(int s) : size(s), rgb(s, s), alpha(cv::Mat1f::zeros(s, s)) {
    // Seamless paper: warm light grey, a touch darker at the top, brighter where the light falls.
    for (int y = 0; y < s; ++y) {
      const float t = static_cast<float>(y) / s;
      const float v = 0.86f + 0.07f * t - 0.05f * (t - 0.7f) * (t - 0.7f);
      for (int x = 0; x < s; ++x) {
        const float dx = (x - 0.5f * s) / s;
        const float l = v - 0.05f * dx * dx;
        rgb(y, x) = cv::Vec3f(l * 0.97f, l * 0.985f, l);
      }
    }
  }

  // Coverage [0,1] at final resolution of a shape drawn by `draw` on a 4x canvas (coordinates
  // given in final pixels; `draw` receives the scale).
  cv::Mat1f coverage(const std::function<void(cv::Mat1b&, float)>& draw) const {
    cv::Mat1b big = cv::Mat1b::zeros(size * kSuper, size * kSuper);
    draw(big, static_cast<float>(kSuper));
    cv::Mat small;
    cv::resize(big, small, cv::Size(size, size), 0, 0, cv::INTER_AREA);
    cv::Mat1f cover;
    small.convertTo(cover, CV_32F, 1.0 / 255.0);
    return cover;
  }

  // Paints a layer of the product; `shade` gives the colour at (x, y).
  void layer(const cv::Mat1f& cover, const std::function<cv::Vec3f(int, int)>& shade) {
    for (int y = 0; y < size; ++y) {
      for (int x = 0; x < size; ++x) {
        const float a = cover(y, x);
        if (a <= 0.f) continue;
        rgb(y, x) = rgb(y, x) * (1.f - a) + shade(x, y) * a;
        alpha(y, x) = a + alpha(y, x) * (1.f - a);
      }
    }
  }

  // Soft contact shadow on the paper (not part of the product's alpha).
  void shadow(cv::Point2f centre, cv::Size2f axes, float strength) {
    cv::Mat1f s = cv::Mat1f::zeros(size, size);
    cv::ellipse(s, centre, axes, 0, 0, 360, cv::Scalar(1.0), cv::FILLED, cv::LINE_AA);
    cv::GaussianBlur(s, s, cv::Size(0, 0), axes.height * 0.9);
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) rgb(y, x) *= 1.f - strength * s(y, x);
  }

  DemoProduct finish(std::string name, std::string title, std::string category, uint64_t seed) const {
    cv::Mat3f noisy = rgb.clone();
    cv::RNG rng(seed);
    cv::Mat3f grain(size, size);
    rng.fill(grain, cv::RNG::NORMAL, 0.0, 0.006);  // sensor noise, as in a real shot
    noisy += grain;
    DemoProduct p{std::move(name), std::move(title), std::move(category), {}, {}};
    noisy.convertTo(p.shot, CV_8UC3, 255.0);
    alpha.convertTo(p.alpha, CV_8UC1, 255.0);
    return p;
  }
};

// Cylindrical shading across [x0, x1]: diffuse falloff to the edges, a soft specular stripe.
cv::Vec3f cylinder(int x, float x0, float x1, cv::Vec3f base, float spec, float specAt = 0.3f) {
  const float u = std::clamp((x - x0) / (x1 - x0), 0.f, 1.f) * 2.f - 1.f;
  const float diffuse = 0.55f + 0.45f * std::sqrt(std::max(0.f, 1.f - u * u));
  const float d = (u - (specAt * 2.f - 1.f)) / 0.12f;
  const float highlight = spec * std::exp(-d * d);
  cv::Vec3f c = base * diffuse;
  for (int i = 0; i < 3; ++i) c[i] = std::min(1.f, c[i] + highlight);
  return c;
}

cv::Point P(float x, float y, float s) { return cv::Point(cvRound(x * s), cvRound(y * s)); }

DemoProduct perfume(int n) {
  Studio st(n);
  const float k = n / 768.f;
  const float cx = 384 * k, bx0 = 264 * k, bx1 = 504 * k, top = 300 * k, bottom = 640 * k;
  st.shadow({cx, bottom}, {130 * k, 16 * k}, 0.35f);
  // Glass body with rounded shoulders.
  auto body = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(bx0, top + 40 * k, s), P(bx1, bottom, s), 255, cv::FILLED);
    cv::rectangle(m, P(bx0 + 40 * k, top, s), P(bx1 - 40 * k, bottom, s), 255, cv::FILLED);
    cv::circle(m, P(bx0 + 40 * k, top + 40 * k, s), cvRound(40 * k * s), 255, cv::FILLED);
    cv::circle(m, P(bx1 - 40 * k, top + 40 * k, s), cvRound(40 * k * s), 255, cv::FILLED);
  });
  st.layer(body, [&](int x, int y) {
    const float depth = 0.85f + 0.15f * (y - top) / (bottom - top);
    return cylinder(x, bx0, bx1, cv::Vec3f(0.10f, 0.42f, 0.78f) * depth, 0.45f, 0.28f);
  });
  // Neck and gold cap.
  auto neck = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(cx - 34 * k, top - 34 * k, s), P(cx + 34 * k, top + 2 * k, s), 255, cv::FILLED);
  });
  st.layer(neck, [&](int x, int) { return cylinder(x, cx - 34 * k, cx + 34 * k, {0.55f, 0.62f, 0.66f}, 0.3f); });
  auto cap = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(cx - 62 * k, top - 150 * k, s), P(cx + 62 * k, top - 30 * k, s), 255, cv::FILLED);
  });
  st.layer(cap, [&](int x, int) { return cylinder(x, cx - 62 * k, cx + 62 * k, {0.22f, 0.60f, 0.80f}, 0.55f); });
  // Deep navy label with a gold foil rule.
  auto label = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(cx - 78 * k, 420 * k, s), P(cx + 78 * k, 540 * k, s), 255, cv::FILLED);
  });
  st.layer(label, [&](int x, int y) {
    if (std::abs(y - 480 * k) < 3 * k) return cylinder(x, bx0, bx1, {0.30f, 0.68f, 0.86f}, 0.3f);
    return cylinder(x, bx0, bx1, {0.34f, 0.17f, 0.11f}, 0.08f);
  });
  return st.finish("perfume", "Amber Eau de Parfum 50 ml", "fragrance", 11);
}

DemoProduct mug(int n) {
  Studio st(n);
  const float k = n / 768.f;
  const float x0 = 250 * k, x1 = 470 * k, top = 330 * k, bottom = 600 * k;
  st.shadow({(x0 + x1) / 2 + 30 * k, bottom}, {150 * k, 18 * k}, 0.35f);
  auto handle = st.coverage([&](cv::Mat1b& m, float s) {
    cv::ellipse(m, P(x1, 460 * k, s), cv::Size(cvRound(70 * k * s), cvRound(80 * k * s)), 0, -90, 90, 255,
                cvRound(26 * k * s));
  });
  st.layer(handle, [&](int x, int) { return cylinder(x, x1 - 20 * k, x1 + 90 * k, {0.55f, 0.50f, 0.12f}, 0.25f); });
  auto body = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(x0, top, s), P(x1, bottom - 18 * k, s), 255, cv::FILLED);
    cv::ellipse(m, P((x0 + x1) / 2, bottom - 18 * k, s), cv::Size(cvRound((x1 - x0) / 2 * s), cvRound(18 * k * s)),
                0, 0, 180, 255, cv::FILLED);
    cv::ellipse(m, P((x0 + x1) / 2, top, s), cv::Size(cvRound((x1 - x0) / 2 * s), cvRound(20 * k * s)), 0, 0,
                360, 255, cv::FILLED);
  });
  st.layer(body, [&](int x, int) { return cylinder(x, x0, x1, {0.58f, 0.53f, 0.13f}, 0.35f, 0.32f); });
  auto inside = st.coverage([&](cv::Mat1b& m, float s) {
    cv::ellipse(m, P((x0 + x1) / 2, top, s), cv::Size(cvRound(((x1 - x0) / 2 - 9 * k) * s), cvRound(14 * k * s)),
                0, 0, 360, 255, cv::FILLED);
  });
  st.layer(inside, [&](int x, int) { return cylinder(x, x0, x1, {0.80f, 0.84f, 0.86f}, 0.0f) * 0.8f; });
  return st.finish("mug", "Teal Stoneware Coffee Mug 350 ml", "kitchen", 23);
}

DemoProduct jar(int n) {
  Studio st(n);
  const float k = n / 768.f;
  const float x0 = 244 * k, x1 = 524 * k, cx = 384 * k, top = 430 * k, bottom = 590 * k;
  st.shadow({cx, bottom}, {160 * k, 18 * k}, 0.35f);
  auto body = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(x0, top, s), P(x1, bottom - 16 * k, s), 255, cv::FILLED);
    cv::ellipse(m, P(cx, bottom - 16 * k, s), cv::Size(cvRound((x1 - x0) / 2 * s), cvRound(16 * k * s)), 0, 0,
                180, 255, cv::FILLED);
  });
  st.layer(body, [&](int x, int) { return cylinder(x, x0, x1, {0.93f, 0.93f, 0.95f}, 0.08f); });
  auto lid = st.coverage([&](cv::Mat1b& m, float s) {
    cv::rectangle(m, P(x0 - 6 * k, top - 110 * k, s), P(x1 + 6 * k, top + 4 * k, s), 255, cv::FILLED);
    cv::ellipse(m, P(cx, top - 110 * k, s), cv::Size(cvRound(((x1 - x0) / 2 + 6 * k) * s), cvRound(18 * k * s)),
                0, 180, 360, 255, cv::FILLED);
  });
  st.layer(lid, [&](int x, int) { return cylinder(x, x0 - 6 * k, x1 + 6 * k, {0.55f, 0.62f, 0.86f}, 0.45f, 0.35f); });
  return st.finish("jar", "Rose Gold Hydrating Face Cream 50 ml", "skincare", 37);
}

}  // namespace

std::vector<DemoProduct> renderDemoProducts(int size) {
  return {perfume(size), mug(size), jar(size)};
}

void writeDemoProducts(const std::filesystem::path& dir, int size) {
  std::filesystem::create_directories(dir);
  nlohmann::ordered_json catalog = nlohmann::ordered_json::array();
  for (const auto& p : renderDemoProducts(size)) {
    saveImage(dir / (p.name + ".png"), p.shot);
    saveImage(dir / (p.name + ".alpha.png"), p.alpha);
    catalog.push_back({{"file", p.name + ".png"},
                       {"alpha", p.name + ".alpha.png"},
                       {"title", p.title},
                       {"category", p.category}});
  }
  const std::string text = catalog.dump(2) + "\n";
  io::AtomicFile out(dir / "products.json");
  out.write(text.data(), text.size());
  out.commit();
}

std::vector<Product> importDemoProducts(Project& project, const std::filesystem::path& demoDir) {
  const auto catalog = io::readJsonFile(demoDir / "products.json");
  std::vector<Product> imported;
  project.store().transaction([&] {
    for (const auto& entry : catalog) {
      Product p =
          project.importProductShot(demoDir / entry.at("file").get<std::string>(), entry.at("title").get<std::string>(),
                                    entry.at("category").get<std::string>());
      // The demo shots were rendered with their exact masks: those are their cutouts.
      if (entry.contains("alpha") && entry.at("alpha").is_string()) {
        cv::Mat alpha = loadImage(demoDir / entry.at("alpha").get<std::string>());
        if (alpha.channels() != 1) cv::extractChannel(alpha, alpha, 0);
        p = project.setCutout(p.id, alpha, "alpha-file");
      }
      imported.push_back(std::move(p));
    }
  });
  return imported;
}

}  // namespace caig
