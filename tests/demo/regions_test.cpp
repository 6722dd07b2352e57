// Region extraction and scoring on hand-made masks.
#include <gtest/gtest.h>

#include "kiln/demo.h"

namespace kiln::demo {
namespace {

Tensor canvas(int h, int w) { return Tensor::zeros(DType::kF32, {1, 1, h, w}); }
void fill(Tensor& t, int w, int x0, int y0, int x1, int y1, float v) {
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) t.data<float>()[y * w + x] = v;
}

TEST(Regions, TwoBoxesGiveTwoRegionsWithBoxesAndAreas) {
  Tensor m = canvas(20, 30);
  fill(m, 30, 2, 3, 6, 5, 0.9f);     // 5x3 = 15 px
  fill(m, 30, 20, 10, 21, 17, 0.7f); // 2x8 = 16 px
  auto r = find_regions(m, 0.5f, 1);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].x0, 2); EXPECT_EQ(r[0].y0, 3); EXPECT_EQ(r[0].x1, 6); EXPECT_EQ(r[0].y1, 5);
  EXPECT_EQ(r[0].area, 15);
  EXPECT_NEAR(r[0].mean_score, 0.9, 1e-6);
  EXPECT_EQ(r[1].x0, 20); EXPECT_EQ(r[1].y1, 17);
  EXPECT_EQ(r[1].area, 16);
  EXPECT_NEAR(r[1].mean_score, 0.7, 1e-6);
}

TEST(Regions, DiagonalNeighboursJoinAndThresholdIsInclusive) {
  Tensor m = canvas(5, 5);
  for (int i = 0; i < 5; ++i) m.data<float>()[i * 5 + i] = 0.5f;  // a diagonal line
  auto r = find_regions(m, 0.5f, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].area, 5);
  EXPECT_EQ(r[0].x1, 4);
  EXPECT_TRUE(find_regions(m, 0.51f, 1).empty());
}

TEST(Regions, SmallRegionsAreDropped) {
  Tensor m = canvas(10, 10);
  fill(m, 10, 0, 0, 1, 1, 1.0f);  // 4 px
  fill(m, 10, 5, 5, 8, 8, 1.0f);  // 16 px
  EXPECT_EQ(find_regions(m, 0.5f, 5).size(), 1u);
  EXPECT_EQ(find_regions(m, 0.5f, 1).size(), 2u);
}

TEST(Regions, NhwcPlaneWorksToo) {
  Tensor m = Tensor::zeros(DType::kF32, {1, 6, 7, 1});
  m.data<float>()[2 * 7 + 3] = 1.0f;
  auto r = find_regions(m, 0.5f, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].x0, 3);
  EXPECT_EQ(r[0].y0, 2);
}

TEST(Score, IouAndF1ByHand) {
  Tensor pred = canvas(4, 4), truth = canvas(4, 4);
  fill(pred, 4, 0, 0, 1, 1, 0.8f);   // 4 px predicted
  fill(truth, 4, 1, 0, 2, 1, 1.0f);  // 4 px true, 2 overlap
  Score s = score(pred, truth, 0.5f);
  EXPECT_NEAR(s.iou, 2.0 / 6.0, 1e-9);
  EXPECT_NEAR(s.f1, 4.0 / 8.0, 1e-9);
  Score empty = score(canvas(4, 4), canvas(4, 4), 0.5f);
  EXPECT_EQ(empty.iou, 1.0);
}

}  // namespace
}  // namespace kiln::demo
