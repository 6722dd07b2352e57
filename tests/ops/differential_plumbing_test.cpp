// Differential tests of the plan's plumbing: ops that run their reference kernel inside a
// plan (Pad, Transpose, Slice, MatMul/Gemm) between oneDNN steps in blocked layouts, and a
// small U-Net-like chain whose in-place concat inputs are also read by other ops, checked
// against every node's reference kernel run in order.
#include <gtest/gtest.h>

#include "ops/differential.h"

namespace kiln::testing {
namespace {

// Weights scaled by fan-in keep activations near unit size through a deep chain, so the
// comparison's 1e-4 stays a statement about the arithmetic, not about magnitudes.
int conv3x3(TestGraph& t, int x, int64_t m, bool relu = false) {
  ConvAttrs a;
  a.kernel = {3, 3};
  a.pads = {1, 1, 1, 1};
  a.has_bias = true;
  if (relu) a.post_ops = {PostOp{PostOp::Kind::kUnary, {UnaryKind::kRelu, 0, 0}, -1}};
  float s = std::sqrt(6.0f / static_cast<float>(9 * t.shape(x)[1]));
  return t.node(a, {x, t.weight({m, t.shape(x)[1], 3, 3}, -s, s), t.weight({m}, -0.1f, 0.1f)});
}

// ------------------------------------------------------------------- reference steps

TEST(DifferentialPlumbing, PadBetweenConvs) {
  Rand r(111);
  struct Case {
    PadMode mode;
    std::vector<int64_t> begin, end;
    float value;
  };
  const Case cases[] = {
      {PadMode::kReflect, {0, 0, 2, 1}, {0, 0, 1, 3}, 0.0f},
      {PadMode::kEdge, {0, 0, 3, 0}, {0, 0, 0, 2}, 0.0f},
      {PadMode::kConstant, {0, 0, 1, 1}, {0, 0, 2, 0}, 0.5f},
      {PadMode::kConstant, {0, 2, 0, 0}, {0, 1, 1, 1}, 0.0f},      // channels too
      {PadMode::kConstant, {0, 0, -1, 1}, {0, 0, 2, -2}, -0.25f},  // negative pads crop
  };
  for (const Case& k : cases) {
    for (int64_t m : {16, 17}) {
      TestGraph t(r);
      int c = conv3x3(t, t.input({1, 3, 7, 6}), m);
      int p = t.node(PadAttrs{k.mode, k.begin, k.end, k.value}, {c});
      t.output(conv3x3(t, p, 16));
      t.output(p);
      SCOPED_TRACE("pad mode " + std::to_string(static_cast<int>(k.mode)) + " m " + std::to_string(m));
      auto plan = check_against_reference(t);
      if (plan) EXPECT_EQ(count_steps(*plan, "reference:Pad"), 1) << steps_summary(*plan);
    }
  }
}

TEST(DifferentialPlumbing, TransposeAndSliceOfBlockedTensors) {
  Rand r(112);
  for (int64_t m : {16, 17}) {
    TestGraph t(r);
    int c = conv3x3(t, t.input({2, 3, 5, 7}), m);
    int tr = t.node(TransposeAttrs{{0, 2, 3, 1}}, {c});
    t.output(tr);
    // Back to NCHW and into another conv.
    int back = t.node(TransposeAttrs{{0, 3, 1, 2}}, {tr});
    t.output(conv3x3(t, back, 16));
    // A strided slice, and a reversing one (negative step, end -1 = "through index 0").
    t.output(t.node(SliceAttrs{{0, 1, 1, 0}, {2, m, 5, 7}, {1, 2, 2, 3}}, {c}));
    t.output(t.node(SliceAttrs{{1, m - 1, 4, 6}, {-1, -1, 0, -1}, {-1, -3, -1, -2}}, {c}));
    SCOPED_TRACE("channels " + std::to_string(m));
    auto plan = check_against_reference(t);
    if (!plan) continue;
    // Transposes are views with permuted strides: no step of their own.
    EXPECT_EQ(count_steps(*plan, "reference:Transpose"), 0) << steps_summary(*plan);
    EXPECT_EQ(count_steps(*plan, "reference:Slice"), 2) << steps_summary(*plan);
  }
}

TEST(DifferentialPlumbing, ClassifierHeadAndBatchedMatMul) {
  Rand r(113);
  for (bool trans_b : {false, true}) {
    TestGraph t(r);
    int c = conv3x3(t, t.input({1, 3, 9, 8}), 32, true);
    PoolAttrs gap;
    gap.kind = PoolKind::kAverage;
    gap.global = true;
    int pooled = t.node(gap, {c});
    int flat = t.node(ReshapeAttrs{{1, 32}}, {pooled});
    MatMulAttrs fc;
    fc.trans_b = trans_b;
    fc.alpha = 0.75f;
    fc.beta = 1.5f;
    fc.has_c = true;
    int w = t.weight(trans_b ? Shape{10, 32} : Shape{32, 10});
    int logits = t.node(fc, {flat, w, t.weight({10})});
    t.output(t.node(SoftmaxAttrs{1}, {logits}));
    // Batched MatMul of two activations with a broadcast batch axis.
    MatMulAttrs bm;
    bm.batched = true;
    int a = t.input({2, 3, 4, 5});
    int b = t.input({3, 5, 6});
    t.output(t.node(bm, {a, b}));
    SCOPED_TRACE(trans_b ? "trans_b" : "plain B");
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:MatMul"), 2) << steps_summary(*plan);
  }
}

// ------------------------------------------------------------------- U-Net-like chain

// conv(16) -> maxpool -> conv(32) -> upsample x2 -> concat(skip, up) -> conv: the skip is
// read by the pool long before the concat that holds it in place.
void unet_block(TestGraph& t, int x, bool deconv_up, bool skip_is_output) {
  int skip = conv3x3(t, conv3x3(t, x, 16, true), 16, true);
  PoolAttrs mp;
  mp.kernel = {2, 2};
  mp.strides = {2, 2};
  int down = t.node(mp, {skip});
  int mid = conv3x3(t, down, 32, true);
  int up;
  if (deconv_up) {
    ConvTransposeAttrs d;
    d.kernel = {2, 2};
    d.strides = {2, 2};
    d.has_bias = true;
    up = t.node(d, {mid, t.weight({32, 16, 2, 2}, -0.4f, 0.4f), t.weight({16}, -0.1f, 0.1f)});
  } else {
    ResizeAttrs rs;
    rs.coord = CoordTransform::kAsymmetric;
    rs.nearest = NearestRounding::kFloor;
    rs.out_size = {t.shape(skip)[2], t.shape(skip)[3]};
    rs.scales = {2.0f, 2.0f};
    up = t.node(rs, {mid});
  }
  int cat = t.node(ConcatAttrs{1}, {skip, up});
  int y = conv3x3(t, cat, 16, true);
  ConvAttrs head;
  head.has_bias = true;
  head.post_ops = {PostOp{PostOp::Kind::kUnary, {UnaryKind::kSigmoid, 0, 0}, -1}};
  t.output(t.node(head, {y, t.weight({1, 16, 1, 1}), t.weight({1})}));
  if (skip_is_output) t.output(skip);
}

TEST(DifferentialChain, UNetSkipConcatInPlace) {
  Rand r(121);
  for (Shape hw : {Shape{8, 12}, Shape{16, 10}, Shape{2, 2}}) {
    for (bool deconv_up : {false, true}) {
      for (bool skip_is_output : {false, true}) {
        TestGraph t(r);
        unet_block(t, t.input({1, 3, hw[0], hw[1]}), deconv_up, skip_is_output);
        SCOPED_TRACE("hw " + shape_to_string(hw) + (deconv_up ? " deconv" : " resize") +
                     (skip_is_output ? " skip is an output" : ""));
        auto plan = check_against_reference(t);
        if (!plan) continue;
        EXPECT_EQ(count_steps(*plan, "reference:"), 0) << steps_summary(*plan);
        if (!deconv_up) EXPECT_EQ(count_steps(*plan, "concat"), 0) << steps_summary(*plan);
      }
    }
  }
}

// Two levels deep, so the arena planner has dead buffers to reuse while skips stay live.
TEST(DifferentialChain, TwoLevelUNetReusesArenaSafely) {
  Rand r(122);
  TestGraph t(r);
  int x = t.input({1, 2, 16, 16});
  int s1 = conv3x3(t, x, 16, true);
  PoolAttrs mp;
  mp.kernel = {2, 2};
  mp.strides = {2, 2};
  int s2 = conv3x3(t, t.node(mp, {s1}), 32, true);
  int bottom = conv3x3(t, t.node(mp, {s2}), 32, true);
  ResizeAttrs up;
  up.coord = CoordTransform::kAsymmetric;
  up.nearest = NearestRounding::kFloor;
  up.scales = {2.0f, 2.0f};
  up.out_size = {8, 8};
  int u2 = conv3x3(t, t.node(ConcatAttrs{1}, {s2, t.node(up, {bottom})}), 32, true);
  up.out_size = {16, 16};
  int u1 = conv3x3(t, t.node(ConcatAttrs{1}, {s1, t.node(up, {u2})}), 16, true);
  t.output(u1);
  auto plan = check_against_reference(t);
  if (!plan) return;
  EXPECT_EQ(count_steps(*plan, "concat"), 0) << steps_summary(*plan);
  // A second run on a fresh runner with other inputs also matches (no stale arena state).
  Rand r2(123);
  TestGraph t2(r2);
  t2.g = t.g;
  t2.raw = t.raw;
  t2.known = t.known;
  t2.inputs = {r2.tensor({1, 2, 16, 16})};
  t2.known[x] = t2.inputs[0];
  check_against_reference(t2);
}

}  // namespace
}  // namespace kiln::testing
