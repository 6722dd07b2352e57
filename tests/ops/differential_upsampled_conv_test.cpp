// The U-Net up-convolution, nearest 2x upsampling then a 2x2 conv with pads {0,0,1,1}: the
// optimiser fuses it (ConvAttrs::reads_upsampled_2x) and the plan computes it as four phase
// convolutions plus an interleave. Oracle: the reference kernels on the graph as it was
// before optimisation (a literal Resize, then the conv).
#include <gtest/gtest.h>

#include "ops/differential.h"
#include "optimize/optimize.h"

namespace kiln::testing {
namespace {

struct UpConv {
  TestGraph t;
  int conv = -1;
};

// x -> Resize(2x) -> Conv 2x2 (bias?) [-> BatchNorm] [-> Relu]
void build(TestGraph& t, Rand& r, Shape x_shape, int64_t m, bool bias, bool bn, bool relu, bool half_pixel) {
  int x = t.input(x_shape);
  ResizeAttrs up;
  if (half_pixel) {
    up.coord = CoordTransform::kHalfPixel;
    up.nearest = NearestRounding::kRoundPreferFloor;
  } else {
    up.coord = CoordTransform::kAsymmetric;
    up.nearest = NearestRounding::kFloor;
  }
  up.scales = {2.0f, 2.0f};
  up.out_size = {2 * x_shape[2], 2 * x_shape[3]};
  int u = t.node(up, {x});
  ConvAttrs a;
  a.kernel = {2, 2};
  a.pads = {0, 0, 1, 1};
  a.has_bias = bias;
  std::vector<int> ins = {u, t.weight({m, x_shape[1], 2, 2})};
  if (bias) ins.push_back(t.weight({m}));
  int y = t.node(a, ins);
  if (bn) {
    BatchNormAttrs b;
    y = t.node(b, {y, t.weight({m}, 0.5f, 1.5f), t.weight({m}), t.weight({m}), t.weight({m}, 0.5f, 2.0f)});
  }
  if (relu) {
    UnaryAttrs u2;
    u2.kind = UnaryKind::kRelu;
    y = t.node(u2, {y});
  }
  t.output(y);
  (void)r;
}

TEST(DifferentialUpsampledConv, FusedAndComputedInPhasesMatchesUpsampleThenConv) {
  Rand r(404);
  for (int trial = 0; trial < 12; ++trial) {
    Shape x = {r.range(1, 2), r.pick<int64_t>({16, 32, 3}), r.range(2, 11), r.range(2, 11)};
    int64_t m = r.pick<int64_t>({16, 32, 8});
    bool bias = r.coin(), bn = r.coin(0.3), relu = r.coin(), half_pixel = r.coin();
    SCOPED_TRACE("x " + shape_to_string(x) + " m " + std::to_string(m) + " bias " + std::to_string(bias) + " bn " +
                 std::to_string(bn) + " relu " + std::to_string(relu) + " half_pixel " + std::to_string(half_pixel));
    TestGraph t(r);
    build(t, r, x, m, bias, bn, relu, half_pixel);
    auto want = run_reference(t.g, t.known);  // before optimisation: a real upsampling
    ASSERT_TRUE(want) << want.error().message();
    Graph g = t.g;
    OptimizeReport rep = optimize(g);
    EXPECT_EQ(rep.applied["fuse_upsample_into_conv"], x[1] % 16 == 0 && m % 16 == 0 ? 1 : 0);
    auto got = run_kiln(g, t.raw, t.inputs);
    ASSERT_TRUE(got) << got.error().message();
    expect_close(got->outputs[0], (*want)[0], 1e-4);
    // The fused node on the reference kernels agrees too (the fallback path).
    auto fused_ref = run_reference(g, t.known);
    ASSERT_TRUE(fused_ref) << fused_ref.error().message();
    expect_close((*fused_ref)[0], (*want)[0], 1e-5);
    if (m % 16 == 0 && x[1] % 16 == 0)
      EXPECT_EQ(count_steps(*got->plan, "conv.phase"), 4) << steps_summary(*got->plan);
  }
}

TEST(DifferentialUpsampledConv, OtherUpsamplingsAndConvsAreNotFused) {
  Rand r(405);
  auto fused = [&](auto&& edit) {
    TestGraph t(r);
    build(t, r, {1, 16, 5, 6}, 16, true, false, false, false);
    edit(t.g);
    Graph g = t.g;
    return optimize(g).applied["fuse_upsample_into_conv"];
  };
  EXPECT_EQ(fused([](Graph&) {}), 1);
  EXPECT_EQ(fused([](Graph& g) { std::get<ConvAttrs>(g.nodes[1].attrs).pads = {1, 1, 0, 0}; }), 0);
  EXPECT_EQ(fused([](Graph& g) { std::get<ResizeAttrs>(g.nodes[0].attrs).mode = ResizeMode::kLinear; }), 0);
  EXPECT_EQ(fused([](Graph& g) {
              auto& ra = std::get<ResizeAttrs>(g.nodes[0].attrs);
              ra.coord = CoordTransform::kAlignCorners;
            }),
            0);
  EXPECT_EQ(fused([](Graph& g) { g.mark_output(g.nodes[0].outputs[0]); }), 0);  // the upsampled tensor is wanted
  TestGraph thin(r);  // 8 output channels: not channel-blocked, so not faster in phases
  build(thin, r, {1, 16, 5, 6}, 8, true, false, false, false);
  EXPECT_EQ(optimize(thin.g).applied["fuse_upsample_into_conv"], 0);
}

}  // namespace
}  // namespace kiln::testing
