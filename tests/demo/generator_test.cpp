// The synthetic defect generator: deterministic, masks that match what was drawn.
#include <gtest/gtest.h>

#include <cstring>

#include "kiln/demo.h"

namespace kiln::demo {
namespace {

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.bytes() == b.bytes() && std::memcmp(a.raw(), b.raw(), a.bytes()) == 0;
}

double mask_fraction(const Tensor& m) {
  double s = 0;
  for (int64_t i = 0; i < m.elements(); ++i) s += m.data<float>()[i];
  return s / static_cast<double>(m.elements());
}

TEST(DefectGenerator, SameSeedSameImageEveryClass) {
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    Sample a = generate(t, 42, 128), b = generate(t, 42, 128);
    EXPECT_TRUE(same_bytes(a.image, b.image)) << texture_name(t);
    EXPECT_TRUE(same_bytes(a.mask, b.mask)) << texture_name(t);
    Sample other = generate(t, 43, 128);
    EXPECT_FALSE(same_bytes(a.image, other.image)) << texture_name(t);
  }
}

TEST(DefectGenerator, ClassesDifferForOneSeed) {
  Sample a = generate(Texture::kConcrete, 5, 128), b = generate(Texture::kLeather, 5, 128);
  EXPECT_FALSE(same_bytes(a.image, b.image));
}

TEST(DefectGenerator, MasksCoverDrawnDefectsOnly) {
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    for (uint64_t seed = 1; seed <= 8; ++seed) {
      Sample s = generate(t, seed);
      EXPECT_EQ(s.image.shape(), (Shape{1, 1, kImageSize, kImageSize}));
      ASSERT_FALSE(s.defects.empty());
      double f = mask_fraction(s.mask);
      EXPECT_GT(f, 0.0) << texture_name(t) << " seed " << seed;
      EXPECT_LT(f, 0.05) << texture_name(t) << " seed " << seed;  // defects are small
      for (int64_t i = 0; i < s.image.elements(); ++i) {
        float v = s.image.data<float>()[i];
        ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
      }
      Sample clean = generate(t, seed, kImageSize, /*defect_free=*/true);
      EXPECT_TRUE(clean.defects.empty());
      EXPECT_EQ(mask_fraction(clean.mask), 0.0);
    }
  }
}

TEST(DefectGenerator, DefectsChangeThePixelsTheirMaskMarks) {
  // The image with a defect differs from the defect-free one of the same seed mostly
  // inside the mask: the mask is what a person would see as the defect.
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    Sample d = generate(t, 3), clean = generate(t, 3, kImageSize, true);
    double inside = 0, outside = 0;
    int64_t n_in = 0, n_out = 0;
    for (int64_t i = 0; i < d.image.elements(); ++i) {
      double diff = std::abs(d.image.data<float>()[i] - clean.image.data<float>()[i]);
      if (d.mask.data<float>()[i] > 0.5f) inside += diff, ++n_in;
      else outside += diff, ++n_out;
    }
    ASSERT_GT(n_in, 0);
    EXPECT_GT(inside / n_in, 5 * (outside / n_out + 1e-4)) << texture_name(t);
  }
}

TEST(DefectGenerator, TextureNamesRoundTrip) {
  for (int c = 0; c < kTextureCount; ++c) {
    auto t = static_cast<Texture>(c);
    auto back = texture_from_name(texture_name(t));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(texture_from_name("marble"));
}

}  // namespace
}  // namespace kiln::demo
