// cv::Mat <-> tensor conversion: channel order, value ranges, exact round trips.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/image/tensor_image.h"

namespace caig {
namespace {

TEST(TensorImage, BlueBgrPixelIsRgbChannelTwo) {
  cv::Mat img(2, 3, CV_8UC3, cv::Scalar(255, 0, 0));  // BGR blue
  const at::Tensor t = imageToTensor(img, PixelRange::ZeroToOne);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{1, 3, 2, 3}));
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(t[0][0].max().item<float>(), 0.f);
  EXPECT_FLOAT_EQ(t[0][2].min().item<float>(), 1.f);
}

TEST(TensorImage, RangesMapEndpoints) {
  cv::Mat img(1, 2, CV_8UC3);
  img.at<cv::Vec3b>(0, 0) = {0, 0, 0};
  img.at<cv::Vec3b>(0, 1) = {255, 255, 255};
  const at::Tensor sd = imageToTensor(img, PixelRange::MinusOneToOne);
  EXPECT_FLOAT_EQ(sd[0][1][0][0].item<float>(), -1.f);
  EXPECT_FLOAT_EQ(sd[0][1][0][1].item<float>(), 1.f);
  const at::Tensor unit = imageToTensor(img, PixelRange::ZeroToOne);
  EXPECT_FLOAT_EQ(unit[0][1][0][1].item<float>(), 1.f);
}

TEST(TensorImage, RoundTripIsExactForBothRangesAndAlpha) {
  cv::Mat img(17, 23, CV_8UC4);
  cv::randu(img, 0, 256);
  for (auto range : {PixelRange::ZeroToOne, PixelRange::MinusOneToOne}) {
    const cv::Mat back = tensorToImage(imageToTensor(img, range), range);
    ASSERT_EQ(back.type(), CV_8UC4);
    EXPECT_EQ(cv::norm(back, img, cv::NORM_INF), 0.0);
  }
  // A view into a larger image (non-contiguous rows) converts the view only.
  const cv::Mat roi = img(cv::Rect(3, 2, 10, 9));
  const cv::Mat back = tensorToImage(imageToTensor(roi, PixelRange::ZeroToOne), PixelRange::ZeroToOne);
  EXPECT_EQ(cv::norm(back, roi, cv::NORM_INF), 0.0);
}

TEST(TensorImage, ClampsOutOfRangeValuesAndRejectsBadShapes) {
  const at::Tensor t = at::full({3, 2, 2}, 1.7f);
  const cv::Mat img = tensorToImage(t, PixelRange::MinusOneToOne);
  EXPECT_EQ(img.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_THROW(tensorToImage(at::zeros({2, 3, 4, 4}), PixelRange::ZeroToOne), std::invalid_argument);
  EXPECT_THROW(tensorToImage(at::zeros({5, 4, 4}), PixelRange::ZeroToOne), std::invalid_argument);
  EXPECT_THROW(imageToTensor(cv::Mat(), PixelRange::ZeroToOne), std::invalid_argument);
}

}  // namespace
}  // namespace caig
