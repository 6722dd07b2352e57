// Differential tests of the oneDNN convolutions (conv.cpp) against the naive reference
// kernels, on random shapes: groups, depthwise, dilations, strides, asymmetric pads, odd
// sizes, channel counts off the 16-block, bias, fused post-ops, folded batch norm and
// residual additions.
#include <gtest/gtest.h>

#include "ops/differential.h"

namespace kiln::testing {
namespace {

const std::vector<int64_t> kChannels = {1, 3, 16, 17, 32};

UnaryAttrs random_activation(Rand& r) {
  UnaryAttrs u;
  u.kind = r.pick<UnaryKind>({UnaryKind::kRelu, UnaryKind::kLeakyRelu, UnaryKind::kSigmoid, UnaryKind::kTanh,
                              UnaryKind::kClip, UnaryKind::kElu, UnaryKind::kHardSwish});
  if (u.kind == UnaryKind::kLeakyRelu) u.alpha = r.uniform(0.01f, 0.3f);
  if (u.kind == UnaryKind::kElu) u.alpha = r.uniform(0.5f, 1.5f);
  if (u.kind == UnaryKind::kClip) {
    u.alpha = r.uniform(-1.0f, 0.0f);
    u.beta = r.uniform(0.1f, 1.0f);
  }
  return u;
}

PostOp unary_post_op(UnaryAttrs u) { return PostOp{PostOp::Kind::kUnary, u, -1}; }

std::string describe(const Shape& x, const Shape& w, const ConvAttrs& a) {
  std::ostringstream os;
  os << "x " << shape_to_string(x) << " w " << shape_to_string(w) << " group " << a.group << " strides "
     << str(a.strides) << " dilations " << str(a.dilations) << " pads " << str(a.pads) << " bias " << a.has_bias
     << " bn " << a.folded_bn.present << " post-ops";
  for (const PostOp& p : a.post_ops)
    os << " " << (p.kind == PostOp::Kind::kAddTensor ? "add" : unary_kind_name(p.unary.kind));
  return os.str();
}

// Adds the batch norm's four parameters as weights and records them in the attributes.
void add_folded_bn(TestGraph& t, ConvAttrs& a, std::vector<int>& ins, int64_t m, Rand& r) {
  a.folded_bn.present = true;
  a.folded_bn.epsilon = r.uniform(1e-5f, 1e-2f);
  int base = static_cast<int>(ins.size());
  a.folded_bn.gamma_input = base;
  a.folded_bn.beta_input = base + 1;
  a.folded_bn.mean_input = base + 2;
  a.folded_bn.var_input = base + 3;
  ins.push_back(t.weight({m}, 0.5f, 1.5f));
  ins.push_back(t.weight({m}));
  ins.push_back(t.weight({m}));
  ins.push_back(t.weight({m}, 0.2f, 1.5f));
}

struct ConvShape {
  Shape x, w;
  ConvAttrs a;
};

// A random valid convolution: dense, grouped or depthwise, with a non-empty output.
ConvShape random_conv_shape(Rand& r) {
  ConvShape s;
  ConvAttrs& a = s.a;
  int64_t n = r.range(1, 2), c = r.pick(kChannels);
  std::vector<int64_t> groups = {1};
  for (int64_t g : {2, 4, 8, 16})
    if (c % g == 0 && g < c) groups.push_back(g);
  int kind = static_cast<int>(r.range(0, 2));  // 0 dense, 1 depthwise, 2 grouped
  a.group = kind == 0 ? 1 : kind == 1 ? c : r.pick(groups);
  int64_t m = kind == 0 ? r.pick(kChannels) : a.group * (kind == 1 ? r.range(1, 2) : r.pick<int64_t>({1, 2, 3, 8}));
  for (int i = 0; i < 2; ++i) {
    a.kernel[i] = i == 1 && r.coin(0.7) ? a.kernel[0] : r.pick<int64_t>({1, 2, 3, 5});
    a.strides[i] = r.coin(0.5) ? 1 : r.range(2, 3);
    a.dilations[i] = r.coin(0.7) ? 1 : 2;
  }
  for (int64_t& p : a.pads) p = r.range(0, 2);
  int64_t h, w;
  do {
    h = r.range(1, 13);
    w = r.range(1, 13);
  } while (h + a.pads[0] + a.pads[2] < a.dilations[0] * (a.kernel[0] - 1) + 1 ||
           w + a.pads[1] + a.pads[3] < a.dilations[1] * (a.kernel[1] - 1) + 1);
  s.x = {n, c, h, w};
  s.w = {m, c / a.group, a.kernel[0], a.kernel[1]};
  return s;
}

TEST(DifferentialConv, RandomShapesWithBiasPostOpsBatchNormAndResidual) {
  Rand r(20240601);
  for (int i = 0; i < 40; ++i) {
    ConvShape s = random_conv_shape(r);
    ConvAttrs& a = s.a;
    TestGraph t(r);
    int x = t.input(s.x);
    // Sometimes feed the conv from another conv so it reads a blocked layout.
    if (r.coin(0.25)) {
      ConvAttrs pre;
      x = t.node(pre, {x, t.weight({s.x[1], s.x[1], 1, 1})});
    }
    std::vector<int> ins = {x, t.weight(s.w)};
    int64_t m = s.w[0];
    a.has_bias = r.coin();
    if (a.has_bias) ins.push_back(t.weight({m}));
    if (r.coin(0.3)) add_folded_bn(t, a, ins, m, r);
    bool residual = r.coin(0.3);
    int n_act = static_cast<int>(r.range(0, 2));
    int residual_at = static_cast<int>(r.range(0, n_act));
    for (int k = 0; k <= n_act; ++k) {
      if (residual && k == residual_at) {
        std::vector<Shape> shapes = {s.x, s.w};
        Shape y = *infer_shape(ConvAttrs(a), shapes);
        a.post_ops.push_back(PostOp{PostOp::Kind::kAddTensor, {}, static_cast<int>(ins.size())});
        ins.push_back(t.input(y));
      }
      if (k < n_act) a.post_ops.push_back(unary_post_op(random_activation(r)));
    }
    SCOPED_TRACE("case " + std::to_string(i) + ": " + describe(s.x, s.w, a));
    t.output(t.node(a, ins));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:"), 0) << steps_summary(*plan);
  }
}

TEST(DifferentialConv, EveryFusedActivation) {
  Rand r(11);
  for (UnaryKind k : {UnaryKind::kRelu, UnaryKind::kLeakyRelu, UnaryKind::kSigmoid, UnaryKind::kTanh,
                      UnaryKind::kClip, UnaryKind::kElu, UnaryKind::kHardSwish}) {
    for (int64_t m : {16, 17}) {
      UnaryAttrs u{k, 0.0f, 0.0f};
      if (k == UnaryKind::kLeakyRelu) u.alpha = 0.1f;
      if (k == UnaryKind::kElu) u.alpha = 0.8f;
      if (k == UnaryKind::kClip) u = {k, -0.25f, 0.5f};
      // Scale the input up so the activations see their whole range (HardSwish: |x| > 3).
      TestGraph t(r);
      int x = t.input({1, 5, 7, 9}, -4.0f, 4.0f);
      ConvAttrs a;
      a.kernel = {3, 3};
      a.pads = {1, 1, 1, 1};
      a.has_bias = true;
      a.post_ops = {unary_post_op(u)};
      t.output(t.node(a, {x, t.weight({m, 5, 3, 3}), t.weight({m})}));
      SCOPED_TRACE(std::string(unary_kind_name(k)) + " m=" + std::to_string(m));
      check_against_reference(t);
    }
  }
}

TEST(DifferentialConv, FoldedBatchNormWithAndWithoutBias) {
  Rand r(12);
  for (int64_t group : {1, 2, 16}) {
    for (bool bias : {false, true}) {
      TestGraph t(r);
      int x = t.input({1, 16, 11, 6});
      ConvAttrs a;
      a.kernel = {3, 1};
      a.pads = {1, 0, 2, 1};
      a.group = group;
      a.has_bias = bias;
      std::vector<int> ins = {x, t.weight({32, 16 / group, 3, 1})};
      if (bias) ins.push_back(t.weight({32}));
      add_folded_bn(t, a, ins, 32, r);
      a.post_ops = {unary_post_op({UnaryKind::kRelu, 0, 0})};
      SCOPED_TRACE("group " + std::to_string(group) + " bias " + std::to_string(bias));
      t.output(t.node(a, ins));
      auto plan = check_against_reference(t);
      // The batch norm lives in the packed weights and bias: one conv step, nothing else.
      if (plan) EXPECT_EQ(count_steps(*plan, "conv"), 1);
    }
  }
}

TEST(DifferentialConv, ResidualAddOfASecondInput) {
  Rand r(13);
  for (int64_t batch : {1, 2}) {
    for (int64_t m : {3, 16, 17, 32}) {
      for (bool relu_first : {false, true}) {
        TestGraph t(r);
        int x = t.input({batch, 4, 9, 7});
        int skip = t.input({batch, m, 5, 4});
        ConvAttrs a;
        a.kernel = {3, 3};
        a.strides = {2, 2};
        a.pads = {1, 1, 1, 1};
        PostOp add{PostOp::Kind::kAddTensor, {}, 2};
        PostOp relu = unary_post_op({UnaryKind::kRelu, 0, 0});
        a.post_ops = relu_first ? std::vector<PostOp>{relu, add} : std::vector<PostOp>{add, relu};
        SCOPED_TRACE("batch " + std::to_string(batch) + " m " + std::to_string(m) + " relu first " +
                     std::to_string(relu_first));
        t.output(t.node(a, {x, t.weight({m, 4, 3, 3}), skip}));
        check_against_reference(t);
      }
    }
  }
}

// oneDNN 2.6's JIT kernels keep one eltwise injector per algorithm: a second activation
// of the same algorithm with other parameters must not be fused behind the first.
TEST(DifferentialConv, SameAlgorithmActivationsWithOtherParameters) {
  Rand r(15);
  const UnaryAttrs leaky1{UnaryKind::kLeakyRelu, 0.1f, 0}, leaky2{UnaryKind::kLeakyRelu, 0.3f, 0};
  const UnaryAttrs relu{UnaryKind::kRelu, 0, 0}, elu1{UnaryKind::kElu, 0.5f, 0}, elu2{UnaryKind::kElu, 1.5f, 0};
  const UnaryAttrs clip1{UnaryKind::kClip, -0.5f, 0.8f}, clip2{UnaryKind::kClip, -0.1f, 0.2f};
  const PostOp add{PostOp::Kind::kAddTensor, {}, 3};
  struct Case {
    std::vector<PostOp> ops;
    int separate;  // post-ops kiln must run as steps of their own
  };
  const Case cases[] = {
      {{unary_post_op(leaky1), unary_post_op(relu)}, 1},
      {{unary_post_op(relu), unary_post_op(leaky1)}, 1},
      {{unary_post_op(clip1), unary_post_op(clip2)}, 1},
      {{unary_post_op(elu1), unary_post_op(elu2)}, 1},
      {{unary_post_op(relu), unary_post_op(relu), unary_post_op(relu)}, 0},  // same parameters: fine
      {{unary_post_op(leaky1), add, unary_post_op(leaky2)}, 1},
      {{unary_post_op(leaky1), unary_post_op(leaky2), add, unary_post_op(relu)}, 3},
      {{add, unary_post_op(clip1), add, unary_post_op(clip2)}, 1},  // one residual added twice
  };
  for (bool transpose : {false, true}) {
    for (size_t i = 0; i < std::size(cases); ++i) {
      TestGraph t(r);
      int x = t.input({1, 16, 6, 7}, -3.0f, 3.0f);
      int y;
      if (transpose) {
        ConvTransposeAttrs a;
        a.kernel = {2, 2};
        a.strides = {2, 2};
        a.has_bias = true;
        a.post_ops = cases[i].ops;
        y = t.node(a, {x, t.weight({16, 16, 2, 2}), t.weight({16}), t.input({1, 16, 12, 14})});
      } else {
        ConvAttrs a;
        a.kernel = {3, 3};
        a.pads = {1, 1, 1, 1};
        a.has_bias = true;
        a.post_ops = cases[i].ops;
        y = t.node(a, {x, t.weight({16, 16, 3, 3}), t.weight({16}), t.input({1, 16, 6, 7})});
      }
      t.output(y);
      SCOPED_TRACE(std::string(transpose ? "deconv" : "conv") + " case " + std::to_string(i));
      auto plan = check_against_reference(t);
      if (!plan) continue;
      EXPECT_EQ(count_steps(*plan, "eltwise:") + count_steps(*plan, "binary:"), cases[i].separate)
          << steps_summary(*plan);
    }
  }
}

// The residual tensor is itself a conv output (blocked layout) and the conv reads another
// conv's output: layouts meet inside one primitive.
TEST(DifferentialConv, ResidualFromAnotherConvAndChainedLayouts) {
  Rand r(14);
  for (int64_t c : {16, 17}) {
    TestGraph t(r);
    int x = t.input({1, 3, 10, 10});
    ConvAttrs a3;
    a3.kernel = {3, 3};
    a3.pads = {1, 1, 1, 1};
    a3.has_bias = true;
    int h = t.node(a3, {x, t.weight({c, 3, 3, 3}), t.weight({c})});
    int h2 = t.node(a3, {h, t.weight({c, c, 3, 3}), t.weight({c})});
    ConvAttrs res = a3;
    res.post_ops = {PostOp{PostOp::Kind::kAddTensor, {}, 3}, unary_post_op({UnaryKind::kRelu, 0, 0})};
    int y = t.node(res, {h2, t.weight({c, c, 3, 3}), t.weight({c}), h});
    t.output(y);
    t.output(h2);  // an intermediate that is also an output
    SCOPED_TRACE("channels " + std::to_string(c));
    check_against_reference(t);
  }
}

// ----------------------------------------------------------------------- ConvTranspose

std::string describe(const Shape& x, const Shape& w, const ConvTransposeAttrs& a) {
  std::ostringstream os;
  os << "x " << shape_to_string(x) << " w " << shape_to_string(w) << " group " << a.group << " strides "
     << str(a.strides) << " dilations " << str(a.dilations) << " pads " << str(a.pads) << " bias " << a.has_bias
     << " post-ops " << a.post_ops.size();
  return os.str();
}

TEST(DifferentialConvTranspose, RandomShapes) {
  Rand r(21);
  int onednn_cases = 0, fallback_cases = 0;
  for (int i = 0; i < 30; ++i) {
    ConvTransposeAttrs a;
    int64_t n = r.range(1, 2), c = r.pick(kChannels);
    a.group = c % 2 == 0 && r.coin(0.4) ? r.pick<int64_t>({2, c}) : 1;
    int64_t mg = r.pick<int64_t>({1, 3, 8, 16});
    for (int k = 0; k < 2; ++k) {
      a.kernel[k] = k == 1 && r.coin(0.7) ? a.kernel[0] : r.range(1, 4);
      a.strides[k] = r.range(1, 3);
      a.dilations[k] = r.coin(0.8) ? 1 : 2;
    }
    for (int k = 0; k < 2; ++k) {
      int64_t extent = a.dilations[k] * (a.kernel[k] - 1);
      a.pads[k] = r.range(0, extent / 2);
      a.pads[k + 2] = r.range(0, extent / 2);
    }
    // Sometimes an output_padding: a negative end pad, smaller than the stride.
    bool output_padding = r.coin(0.3);
    if (output_padding) {
      int k = static_cast<int>(r.range(0, 1));
      if (a.strides[k] == 1) a.strides[k] = 2;
      a.pads[k + 2] = -r.range(1, a.strides[k] - 1);
    }
    Shape xs = {n, c, r.range(1, 9), r.range(1, 9)};
    Shape ws = {c, mg, a.kernel[0], a.kernel[1]};
    TestGraph t(r);
    std::vector<int> ins = {t.input(xs), t.weight(ws)};
    a.has_bias = r.coin();
    if (a.has_bias) ins.push_back(t.weight({mg * a.group}));
    if (r.coin(0.3)) a.post_ops.push_back(unary_post_op(random_activation(r)));
    SCOPED_TRACE("case " + std::to_string(i) + ": " + describe(xs, ws, a));
    t.output(t.node(a, ins));
    auto plan = check_against_reference(t);
    if (!plan) continue;
    bool fallback = count_steps(*plan, "reference:ConvTranspose") == 1;
    EXPECT_EQ(fallback, output_padding) << steps_summary(*plan);
    (fallback ? fallback_cases : onednn_cases)++;
  }
  EXPECT_GT(onednn_cases, 0);
  EXPECT_GT(fallback_cases, 0);
}

// ONNX output_padding becomes a negative end pad, which oneDNN cannot take.
TEST(DifferentialConvTranspose, OutputPaddingRunsTheReference) {
  Rand r(23);
  ConvTransposeAttrs a;
  a.kernel = {3, 3};
  a.strides = {2, 2};
  a.pads = {1, 1, 0, 1};
  a.has_bias = true;
  a.post_ops = {unary_post_op({UnaryKind::kRelu, 0, 0})};
  TestGraph t(r);
  t.output(t.node(a, {t.input({1, 16, 5, 6}), t.weight({16, 8, 3, 3}), t.weight({8})}));
  a.pads = {1, 1, -1, 0};
  t.output(t.node(a, {t.input({1, 16, 5, 6}), t.weight({16, 8, 3, 3}), t.weight({8})}));
  auto plan = check_against_reference(t);
  if (!plan) return;
  EXPECT_EQ(count_steps(*plan, "deconv"), 1) << steps_summary(*plan);
  EXPECT_EQ(count_steps(*plan, "reference:ConvTranspose"), 1) << steps_summary(*plan);
}

TEST(DifferentialConvTranspose, UpConvolutionWithResidualAndRelu) {
  Rand r(22);
  for (int64_t c : {16, 17}) {
    TestGraph t(r);
    int x = t.input({1, c, 5, 7});
    int skip = t.input({1, 8, 10, 14});
    ConvTransposeAttrs a;
    a.kernel = {2, 2};
    a.strides = {2, 2};
    a.has_bias = true;
    a.post_ops = {PostOp{PostOp::Kind::kAddTensor, {}, 3}, unary_post_op({UnaryKind::kRelu, 0, 0})};
    t.output(t.node(a, {x, t.weight({c, 8, 2, 2}), t.weight({8}), skip}));
    SCOPED_TRACE("channels " + std::to_string(c));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "deconv"), 1) << steps_summary(*plan);
  }
}

}  // namespace
}  // namespace kiln::testing
