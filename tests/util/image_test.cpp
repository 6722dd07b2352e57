// Images as models take them: gray or RGB, channels first or last, and their size unread.
#include <gtest/gtest.h>

#include "kiln/demo.h"
#include "kiln/io.h"

namespace kiln {
namespace {

TEST(Image, ChannelsLastIsTheSamePixelsTransposed) {
  // An RGB PNG with distinct channels: the demo's overlay (gray image, red defects, yellow boxes).
  demo::Sample s = demo::generate(demo::Texture::kLeather, 3, 48);
  const std::string png = ::testing::TempDir() + "/kiln_rgb.png";
  ASSERT_TRUE(demo::write_overlay_png(png, s.image, s.mask, 0.5f, demo::find_regions(s.mask, 0.5f, 1)));

  auto size = read_image_size(png);
  ASSERT_TRUE(size) << size.error().message();
  EXPECT_EQ(size->height, 48);
  EXPECT_EQ(size->width, 48);

  auto first = read_image(png, 3);
  auto last = read_image(png, 3, /*channels_last=*/true);
  ASSERT_TRUE(first && last);
  ASSERT_EQ(first->shape(), (Shape{1, 3, 48, 48}));
  ASSERT_EQ(last->shape(), (Shape{1, 48, 48, 3}));
  const float* f = first->data<float>();
  const float* l = last->data<float>();
  bool channels_differ = false;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < 48 * 48; ++p) {
      ASSERT_EQ(f[c * 48 * 48 + p], l[p * 3 + c]) << "channel " << c << " pixel " << p;
      channels_differ = channels_differ || f[c * 48 * 48 + p] != f[p];
    }
  EXPECT_TRUE(channels_differ) << "the overlay should not be gray: the test would not tell channels apart";

  auto gray = read_image(png, 1, true);
  ASSERT_TRUE(gray);
  EXPECT_EQ(gray->shape(), (Shape{1, 48, 48, 1}));
}

TEST(Image, NotAnImageIsNamed) {
  const std::string path = ::testing::TempDir() + "/kiln_not_an_image.png";
  ASSERT_TRUE(write_npy(path, Tensor::zeros(DType::kF32, {2, 2})));
  auto size = read_image_size(path);
  ASSERT_FALSE(size);
  EXPECT_NE(size.error().message().find(path), std::string::npos);
  EXPECT_FALSE(read_image(path, 1, true));
  EXPECT_FALSE(read_image(path, 2));  // 1 or 3 channels only
}

}  // namespace
}  // namespace kiln
