#include "core/cutout/grabcut_cutout.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace caig {
namespace {

const char* const kNothingFound = "GrabCut found no product that stands out from the background; paint a mask by hand";

double percentile(std::vector<float> v, double q) {
  if (v.empty()) return 0.0;
  const auto k = static_cast<std::size_t>(q * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Removes specks (components much smaller than the largest) and fills small enclosed holes;
// larger holes (a mug's handle) stay open.
cv::Mat cleanMask(const cv::Mat& fg) {
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(fg, labels, stats, centroids, 8, CV_32S);
  int largest = 0;
  for (int i = 1; i < n; ++i) largest = std::max(largest, stats.at<int>(i, cv::CC_STAT_AREA));
  cv::Mat out = cv::Mat::zeros(fg.size(), CV_8UC1);
  for (int i = 1; i < n; ++i) {
    if (stats.at<int>(i, cv::CC_STAT_AREA) * 20 >= largest) out.setTo(255, labels == i);
  }
  const int area = cv::countNonZero(out);
  const cv::Mat holes = out == 0;
  const int m = cv::connectedComponentsWithStats(holes, labels, stats, centroids, 4, CV_32S);
  for (int i = 1; i < m; ++i) {
    const cv::Rect b(stats.at<int>(i, 0), stats.at<int>(i, 1), stats.at<int>(i, 2), stats.at<int>(i, 3));
    const bool touchesBorder = b.x == 0 || b.y == 0 || b.br().x == fg.cols || b.br().y == fg.rows;
    if (!touchesBorder && stats.at<int>(i, cv::CC_STAT_AREA) * 100 < area) out.setTo(255, labels == i);
  }
  return out;
}

}  // namespace

cv::Mat GrabCutCutout::alpha(const cv::Mat& image) {
  if (image.empty() || image.depth() != CV_8U || (image.channels() != 3 && image.channels() != 4)) {
    throw CutoutError("GrabCut expects an 8-bit BGR or BGRA image");
  }
  cv::Mat bgr;
  if (image.channels() == 4)
    cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  else
    bgr = image;
  if (std::min(bgr.cols, bgr.rows) < 16) throw CutoutError("the image is too small for GrabCut");

  // Working resolution.
  cv::Mat small = bgr;
  const int side = std::max(bgr.cols, bgr.rows);
  if (side > params_.workingSide) {
    const double f = double(params_.workingSide) / side;
    cv::resize(bgr, small, {std::max(8, int(std::lround(bgr.cols * f))), std::max(8, int(std::lround(bgr.rows * f)))},
               0, 0, cv::INTER_AREA);
  }
  const int w = small.cols, h = small.rows;

  // Backdrop colour: the median of the border band, in Lab so distances match what people see.
  cv::Mat lab;
  small.convertTo(lab, CV_32F, 1.0 / 255.0);
  cv::cvtColor(lab, lab, cv::COLOR_BGR2Lab);
  const int band = std::max(2, int(std::lround(params_.borderFraction * std::min(w, h))));
  cv::Mat border = cv::Mat::ones(small.size(), CV_8UC1) * 255;
  border(cv::Rect(band, band, w - 2 * band, h - 2 * band)).setTo(0);
  std::vector<float> ch[3];
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (!border.at<uchar>(y, x)) continue;
      const auto& v = lab.at<cv::Vec3f>(y, x);
      for (int c = 0; c < 3; ++c) ch[c].push_back(v[c]);
    }
  }
  const cv::Vec3f bg(float(percentile(ch[0], 0.5)), float(percentile(ch[1], 0.5)), float(percentile(ch[2], 0.5)));
  cv::Mat dist(small.size(), CV_32F);
  std::vector<float> borderDist;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      // Lightness counts half: a shadow or a light falloff on the backdrop is darker, not
      // another colour, and must not seed the product (a contact shadow joined the bottle).
      cv::Vec3f diff = lab.at<cv::Vec3f>(y, x) - bg;
      diff[0] *= 0.5f;
      const float d = float(cv::norm(diff));
      dist.at<float>(y, x) = d;
      if (border.at<uchar>(y, x)) borderDist.push_back(d);
    }
  }
  // A plain backdrop has a tight border spread; the threshold sits well above it.
  const double spread = percentile(borderDist, 0.9);
  const double thr = params_.colourThreshold > 0 ? params_.colourThreshold : std::max(12.0, 2.0 * spread);
  const cv::Mat far = dist > thr;
  double maxDist = 0;
  cv::minMaxLoc(dist, nullptr, &maxDist);
  if (maxDist < 6.0) throw CutoutError(kNothingFound);  // a blank image

  // Seeds: border = background (unless its colour says product: shots cropped tight),
  // colour-distinct pixels and the centre box = probable product. The centre box matters on
  // paper backdrops too: a white jar on white paper differs by edges, not by colour.
  cv::Mat mask(small.size(), CV_8UC1, cv::Scalar(cv::GC_PR_BGD));
  const int cw = int(w * params_.centreFraction), chh = int(h * params_.centreFraction);
  mask(cv::Rect((w - cw) / 2, (h - chh) / 2, cw, chh)).setTo(cv::GC_PR_FGD);
  mask.setTo(cv::GC_PR_FGD, far & (border == 0));
  mask.setTo(cv::GC_BGD, border & ~far);

  // GrabCut's k-means draws from the thread's RNG: a fixed seed gives the same cutout twice.
  cv::RNG& rng = cv::theRNG();
  const uint64 savedState = rng.state;
  rng.state = 0x9e3779b97f4a7c15ULL;
  cv::Mat bgdModel, fgdModel;
  try {
    cv::grabCut(small, mask, cv::Rect(), bgdModel, fgdModel, params_.iterations, cv::GC_INIT_WITH_MASK);
  } catch (const cv::Exception& e) {
    rng.state = savedState;
    throw CutoutError(std::string(kNothingFound) + " (" + e.what() + ")");
  }
  rng.state = savedState;
  cv::Mat fg = (mask == cv::GC_FGD) | (mask == cv::GC_PR_FGD);
  cv::morphologyEx(fg, fg, cv::MORPH_OPEN, cv::getStructuringElement(cv::MORPH_ELLIPSE, {3, 3}));
  fg = cleanMask(fg);
  const double area = double(cv::countNonZero(fg)) / fg.total();
  if (area < params_.minArea || area > params_.maxArea) throw CutoutError(kNothingFound);

  if (small.size() == bgr.size() && params_.refineRadius <= 0) return fg;
  // Back to full size, then the soft edge: inside a thin band around the outline, each pixel's
  // alpha is where its colour lies between the local product colour and the local backdrop
  // colour (the colour-line model of matting: I = a F + (1 - a) B, so a is the projection of
  // I - B on F - B), with F and B the means of the sure product and sure backdrop nearby. The
  // interior stays exactly 255 and the far background exactly 0.
  cv::Mat up;
  cv::resize(fg, up, bgr.size(), 0, 0, cv::INTER_LINEAR);
  const cv::Mat hard = up > 127;
  const int r = std::max(1, params_.refineRadius * int(std::lround(double(bgr.cols) / w)));
  const cv::Mat k = cv::getStructuringElement(cv::MORPH_ELLIPSE, {2 * r + 1, 2 * r + 1});
  cv::Mat sureFg, sureBg;
  cv::erode(hard, sureFg, k);
  cv::dilate(hard, sureBg, k);
  sureBg = ~sureBg;
  const cv::Mat edgeBand = ~(sureFg | sureBg);
  cv::Mat out;
  cv::threshold(up, out, 127, 255, cv::THRESH_BINARY);
  if (params_.refineRadius <= 0 || cv::countNonZero(edgeBand) == 0) return out;
  cv::Mat I, f, b;
  bgr.convertTo(I, CV_32FC3, 1.0 / 255.0);
  sureFg.convertTo(f, CV_32F, 1.0 / 255.0);
  sureBg.convertTo(b, CV_32F, 1.0 / 255.0);
  const int R = 3 * r + 2;  // the neighbourhood the local colours come from
  auto localMean = [&](const cv::Mat& image, const cv::Mat& weight) {
    cv::Mat w3, num, den;
    cv::merge(std::vector<cv::Mat>(3, weight), w3);
    cv::boxFilter(image.mul(w3), num, CV_32F, {2 * R + 1, 2 * R + 1}, {-1, -1}, false, cv::BORDER_REPLICATE);
    cv::boxFilter(weight, den, CV_32F, {2 * R + 1, 2 * R + 1}, {-1, -1}, false, cv::BORDER_REPLICATE);
    cv::Mat den3;
    cv::merge(std::vector<cv::Mat>(3, den), den3);
    return std::make_pair(cv::Mat(num / (den3 + 1e-6)), den);
  };
  const auto [F, fCount] = localMean(I, f);
  const auto [B, bCount] = localMean(I, b);
  // How much the backdrop itself varies nearby: on a busy photo its mean is no colour of the
  // pixels at the edge, and the colour line would invent alpha there.
  const cv::Mat B2 = localMean(I.mul(I), b).first;
  for (int y = 0; y < out.rows; ++y) {
    const uchar* inBand = edgeBand.ptr<uchar>(y);
    uchar* o = out.ptr<uchar>(y);
    for (int x = 0; x < out.cols; ++x) {
      if (!inBand[x]) continue;
      if (fCount.at<float>(y, x) < 1 || bCount.at<float>(y, x) < 1) continue;  // one side unseen: keep hard
      const cv::Vec3f d = F.at<cv::Vec3f>(y, x) - B.at<cv::Vec3f>(y, x);
      const float dd = d.dot(d);
      // Product and backdrop of nearly one colour here: the colours cannot tell, keep the hard edge.
      if (dd < 0.02f * 0.02f * 3) continue;
      const cv::Vec3f m = B.at<cv::Vec3f>(y, x), m2 = B2.at<cv::Vec3f>(y, x);
      const float spread =
          std::max(0.f, m2[0] - m[0] * m[0]) + std::max(0.f, m2[1] - m[1] * m[1]) + std::max(0.f, m2[2] - m[2] * m[2]);
      if (spread > 0.25f * dd) continue;  // a busy backdrop here: keep the hard edge
      const float a = (I.at<cv::Vec3f>(y, x) - B.at<cv::Vec3f>(y, x)).dot(d) / dd;
      o[x] = cv::saturate_cast<uchar>(255.f * std::clamp(a, 0.f, 1.f));
    }
  }
  return out;
}

}  // namespace caig
