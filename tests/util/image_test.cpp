// Images as models take them: gray or RGB, channels first or last, and their size unread.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "kiln/demo.h"
#include "kiln/io.h"
#include "test_util.h"

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

TEST(Image, DecodedFromMemoryAsFromAFileAndMasksRoundTrip) {
  demo::Sample s = demo::generate(demo::Texture::kWoodGrain, 4, 40);
  auto png = encode_mask_png(s.image, -1.0f);  // gray, scaled
  ASSERT_TRUE(png) << png.error().message();
  const std::string path = ::testing::TempDir() + "/kiln_gray.png";
  ASSERT_TRUE(write_mask_png(path, s.image, -1.0f));
  auto from_file = read_image(path, 1);
  auto from_memory = decode_image(*png, 1);
  ASSERT_TRUE(from_file && from_memory);
  ASSERT_EQ(from_memory->shape(), (Shape{1, 1, 40, 40}));
  double worst = 0;
  for (int64_t i = 0; i < 40 * 40; ++i) {
    ASSERT_EQ(from_file->data<float>()[i], from_memory->data<float>()[i]);
    worst = std::max<double>(worst, std::abs(from_memory->data<float>()[i] - s.image.data<float>()[i]));
  }
  EXPECT_LE(worst, 0.5 / 255 + 1e-6);  // 8 bits, rounded
  auto mask = decode_image(*encode_mask_png(s.mask, 0.5f), 1);
  ASSERT_TRUE(mask);
  for (int64_t i = 0; i < 40 * 40; ++i) ASSERT_EQ(mask->data<float>()[i], s.mask.data<float>()[i] >= 0.5f ? 1.0f : 0.0f);
}

TEST(Image, AHugeImageIsRefusedFromItsHeader) {
  // A PNG signature and an IHDR that claims 20000 x 20000 gray pixels, and nothing else:
  // refused from the header, not by trying to allocate 1.6 GB of floats.
  std::string png = "\x89PNG\r\n\x1a\n";
  png += std::string("\0\0\0\x0d", 4) + "IHDR";
  for (uint32_t v : {20000u, 20000u})
    for (int b = 3; b >= 0; --b) png += static_cast<char>((v >> (8 * b)) & 0xff);
  png += std::string("\x08\0\0\0\0", 5) + std::string("\0\0\0\0", 4);
  auto t = decode_image(png, 1);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("20000x20000"), std::string::npos) << t.error().message();
  EXPECT_FALSE(decode_image("", 1));
  EXPECT_FALSE(decode_image("not an image at all", 3));
}

// A few bytes claiming a huge image are refused before anything is allocated (found by
// fuzzing: stb fills a 57-byte BMP out to 298 x 393215 pixels), while a large image that
// compresses well still decodes.
TEST(Image, ATinyFileClaimingAHugeImageIsRefused) {
  std::ifstream f(testing::source_path("tests/fuzz/image/bmp_57_bytes_claiming_117_megapixels.bmp"), std::ios::binary);
  const std::string bomb((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bomb.size(), 57u);
  auto t = decode_image(bomb, 1);
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("more than its 57 bytes can hold"), std::string::npos) << t.error().message();
  Tensor blank = Tensor::zeros(DType::kF32, {1, 1, 1536, 1536});  // 2.4 Mpx of one grey, deflated hard
  auto png = encode_mask_png(blank, -1.0f);
  ASSERT_TRUE(png);
  auto back = decode_image(*png, 1);
  ASSERT_TRUE(back) << back.error().message() << " (" << png->size() << " bytes)";
  EXPECT_EQ(back->shape(), (Shape{1, 1, 1536, 1536}));
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
