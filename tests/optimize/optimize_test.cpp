// The rewrite rules (src/optimize/rules.cpp): each changes the graph as expected, leaves
// alone what it must not touch, and the optimised graph computes what the original did
// (the original run node by node on the reference kernels; the optimised one both on the
// reference kernels and through compile_plan -> pack -> Runner).
#include "optimize/optimize.h"

#include <gtest/gtest.h>

#include "ops/differential.h"

namespace kiln::testing {
namespace {

int count_kind(const Graph& g, OpKind k) {
  int n = 0;
  for (const Node& node : g.nodes) n += node.kind() == k;
  return n;
}

int applied(const OptimizeReport& r, const std::string& rule) {
  auto it = r.applied.find(rule);
  return it == r.applied.end() ? 0 : it->second;
}

// Optimises a copy of t.g into `opt` and checks it against the unoptimised graph.
OptimizeReport optimize_and_compare(const TestGraph& t, Graph& opt) {
  opt = t.g;
  OptimizeReport report = optimize(opt);
  Status v = opt.verify();
  EXPECT_TRUE(v) << v.message();
  auto want = run_reference(t.g, t.known);
  EXPECT_TRUE(want) << want.error().message();
  auto rewritten = run_reference(opt, t.known);
  EXPECT_TRUE(rewritten) << rewritten.error().message();
  auto got = run_kiln(opt, t.raw, t.inputs);
  EXPECT_TRUE(got) << got.error().message();
  if (!want || !rewritten || !got) return report;
  EXPECT_EQ(opt.outputs.size(), t.g.outputs.size());
  for (size_t i = 0; i < want->size(); ++i) {
    expect_close((*rewritten)[i], (*want)[i], 1e-5, "reference on the optimised graph, output " + std::to_string(i));
    expect_close(got->outputs[i], (*want)[i], 1e-4, "kiln on the optimised graph, output " + std::to_string(i));
  }
  return report;
}

ConvAttrs conv_attrs(int64_t k, int64_t pad, bool bias = true) {
  ConvAttrs a;
  a.kernel = {k, k};
  a.pads = {pad, pad, pad, pad};
  a.has_bias = bias;
  return a;
}

int conv(TestGraph& t, int x, int64_t m, ConvAttrs a) {
  std::vector<int> ins = {x, t.weight({m, t.shape(x)[1], a.kernel[0], a.kernel[1]})};
  if (a.has_bias) ins.push_back(t.weight({m}));
  return t.node(a, ins, "Conv");
}

int batch_norm(TestGraph& t, int x, float eps = 1e-3f) {
  int64_t c = t.shape(x)[1];
  return t.node(BatchNormAttrs{eps},
                {x, t.weight({c}, 0.5f, 1.5f), t.weight({c}), t.weight({c}), t.weight({c}, 0.2f, 1.5f)},
                "BatchNormalization");
}

int relu(TestGraph& t, int x) { return t.node(UnaryAttrs{UnaryKind::kRelu, 0, 0}, {x}, "Relu"); }

const ConvAttrs& conv_of(const Graph& g, int node = 0) { return std::get<ConvAttrs>(g.nodes.at(node).attrs); }

// ------------------------------------------------------------------------ Pad -> Conv

TEST(OptimizeRules, ZeroSpatialPadFoldsIntoConvPads) {
  Rand r(1);
  TestGraph t(r);
  int x = t.input({1, 3, 7, 8});
  int p = t.node(PadAttrs{PadMode::kConstant, {0, 0, 1, 2}, {0, 0, 2, 0}, 0.0f}, {x}, "Pad");
  t.output(conv(t, p, 16, conv_attrs(3, 1)));
  Graph opt;
  OptimizeReport rep = optimize_and_compare(t, opt);
  EXPECT_EQ(applied(rep, "fold_pad_into_conv"), 1);
  ASSERT_EQ(opt.nodes.size(), 1u);
  EXPECT_EQ(conv_of(opt).pads, (Spatial{2, 3, 3, 1}));
  EXPECT_EQ(opt.nodes[0].inputs[0], x);
}

TEST(OptimizeRules, PadsThatAreNotZeroSpatialStay) {
  Rand r(2);
  const PadAttrs kept[] = {
      {PadMode::kConstant, {0, 0, 1, 1}, {0, 0, 1, 1}, 0.5f},   // non-zero value
      {PadMode::kConstant, {0, 1, 1, 1}, {0, 0, 1, 1}, 0.0f},   // pads channels
      {PadMode::kReflect, {0, 0, 1, 1}, {0, 0, 1, 1}, 0.0f},    // not a constant
      {PadMode::kConstant, {0, 0, -1, 1}, {0, 0, 1, 1}, 0.0f},  // crops
  };
  for (const PadAttrs& pa : kept) {
    TestGraph t(r);
    int p = t.node(pa, {t.input({1, 3, 6, 6})}, "Pad");
    t.output(conv(t, p, 16, conv_attrs(3, 0)));
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    EXPECT_EQ(applied(rep, "fold_pad_into_conv"), 0);
    EXPECT_EQ(count_kind(opt, OpKind::kPad), 1);
    EXPECT_EQ(conv_of(opt, 1).pads, (Spatial{0, 0, 0, 0}));
  }
  {  // A zero pad whose output is read by something else as well.
    TestGraph t(r);
    int p = t.node(PadAttrs{PadMode::kConstant, {0, 0, 1, 1}, {0, 0, 1, 1}, 0.0f}, {t.input({1, 3, 6, 6})}, "Pad");
    t.output(conv(t, p, 16, conv_attrs(3, 0)));
    t.output(p);
    Graph opt;
    EXPECT_EQ(applied(optimize_and_compare(t, opt), "fold_pad_into_conv"), 0);
    EXPECT_EQ(count_kind(opt, OpKind::kPad), 1);
  }
}

// Once the residual add is fused, the conv reads the pad's output twice (as its input and
// as the added tensor): folding the pad away would leave the second read dangling.
TEST(OptimizeRules, PadAlsoAddedAsResidualIsNotFoldedAway) {
  Rand r(12);
  TestGraph t(r);
  int p = t.node(PadAttrs{PadMode::kConstant, {0, 0, 1, 1}, {0, 0, 1, 1}, 0.0f}, {t.input({1, 4, 5, 5})}, "Pad");
  int c = conv(t, p, 4, conv_attrs(1, 0));
  t.output(t.node(BinaryAttrs{BinaryKind::kAdd}, {c, p}));
  Graph opt;
  OptimizeReport rep = optimize_and_compare(t, opt);
  EXPECT_EQ(applied(rep, "fuse_residual_add"), 1);
  EXPECT_EQ(applied(rep, "fold_pad_into_conv"), 0);
  EXPECT_EQ(count_kind(opt, OpKind::kPad), 1);
}

// ---------------------------------------------------------------- Conv -> BatchNorm

TEST(OptimizeRules, BatchNormFoldsIntoConvWithAndWithoutBias) {
  Rand r(3);
  for (bool bias : {false, true}) {
    for (int64_t m : {16, 17}) {
      TestGraph t(r);
      int c = conv(t, t.input({1, 5, 9, 7}), m, conv_attrs(3, 1, bias));
      int bn = batch_norm(t, c, 2e-3f);
      t.output(bn);
      Graph opt;
      OptimizeReport rep = optimize_and_compare(t, opt);
      EXPECT_EQ(applied(rep, "fold_batch_norm"), 1);
      ASSERT_EQ(opt.nodes.size(), 1u);
      const ConvAttrs& a = conv_of(opt);
      EXPECT_TRUE(a.folded_bn.present);
      EXPECT_FLOAT_EQ(a.folded_bn.epsilon, 2e-3f);
      size_t base = bias ? 3 : 2;
      EXPECT_EQ(a.folded_bn.gamma_input, static_cast<int>(base));
      EXPECT_EQ(a.folded_bn.var_input, static_cast<int>(base + 3));
      EXPECT_EQ(opt.nodes[0].inputs.size(), base + 4);
      EXPECT_EQ(opt.outputs[0], bn);  // the user's output value survives
      // Folding is a recorded weight transform: the plan's weight and bias slots carry it.
      auto plan = compile_plan(opt, {});
      ASSERT_TRUE(plan) << plan.error().message();
      int folded_slots = 0;
      for (const WeightSlot& s : (*plan)->weight_slots) folded_slots += s.folded_bn;
      EXPECT_EQ(folded_slots, 2);
    }
  }
}

TEST(OptimizeRules, BatchNormAfterAnActivationOrWithComputedStatsStays) {
  Rand r(4);
  {  // Conv -> Relu -> BN: the relu fuses, the BN cannot fold behind it.
    TestGraph t(r);
    t.output(batch_norm(t, relu(t, conv(t, t.input({1, 3, 6, 6}), 16, conv_attrs(3, 1)))));
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    EXPECT_EQ(applied(rep, "fold_batch_norm"), 0);
    EXPECT_EQ(applied(rep, "fuse_activation"), 1);
    EXPECT_EQ(count_kind(opt, OpKind::kBatchNorm), 1);
  }
  {  // A BN whose scale is an activation is not a constant transform.
    TestGraph t(r);
    int c = conv(t, t.input({1, 3, 6, 6}), 4, conv_attrs(1, 0));
    int scale = t.input({4}, 0.5f, 1.5f);
    t.output(t.node(BatchNormAttrs{}, {c, scale, t.weight({4}), t.weight({4}), t.weight({4}, 0.2f, 1.0f)}));
    Graph opt;
    EXPECT_EQ(applied(optimize_and_compare(t, opt), "fold_batch_norm"), 0);
    EXPECT_EQ(count_kind(opt, OpKind::kBatchNorm), 1);
  }
}

// -------------------------------------------------------------- activations, residuals

TEST(OptimizeRules, FusableActivationsFuseOthersDoNot) {
  Rand r(5);
  for (int k = 0; k <= static_cast<int>(UnaryKind::kNeg); ++k) {
    UnaryAttrs u{static_cast<UnaryKind>(k), 0.2f, 0.6f};
    if (u.kind == UnaryKind::kClip) u.alpha = -0.3f;
    TestGraph t(r);
    int c = conv(t, t.input({1, 3, 6, 5}), 16, conv_attrs(3, 1));
    // Sqrt needs non-negative input: only meaningful after something like Abs; keep it
    // out of the numeric check by feeding it |conv|.
    if (u.kind == UnaryKind::kSqrt) c = t.node(UnaryAttrs{UnaryKind::kAbs, 0, 0}, {c});
    t.output(t.node(u, {c}));
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    bool fusable = u.kind == UnaryKind::kRelu || u.kind == UnaryKind::kLeakyRelu || u.kind == UnaryKind::kElu ||
                   u.kind == UnaryKind::kSigmoid || u.kind == UnaryKind::kTanh || u.kind == UnaryKind::kClip ||
                   u.kind == UnaryKind::kHardSwish;
    SCOPED_TRACE(unary_kind_name(u.kind));
    EXPECT_EQ(applied(rep, "fuse_activation"), fusable ? 1 : 0);
    if (u.kind == UnaryKind::kSqrt) continue;
    ASSERT_EQ(opt.nodes.size(), fusable ? 1u : 2u);
    if (fusable) {
      ASSERT_EQ(conv_of(opt).post_ops.size(), 1u);
      EXPECT_EQ(conv_of(opt).post_ops[0].unary, u);
    }
  }
}

TEST(OptimizeRules, ResidualAddThenReluFuseIntoTheConv) {
  Rand r(6);
  for (bool conv_first : {true, false}) {
    TestGraph t(r);
    int x = t.input({1, 16, 7, 7});
    int c = conv(t, x, 16, conv_attrs(3, 1));
    int bn = batch_norm(t, c);
    int add = t.node(BinaryAttrs{BinaryKind::kAdd}, conv_first ? std::vector<int>{bn, x} : std::vector<int>{x, bn});
    t.output(relu(t, add));
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    EXPECT_EQ(applied(rep, "fold_batch_norm"), 1);
    EXPECT_EQ(applied(rep, "fuse_residual_add"), 1);
    EXPECT_EQ(applied(rep, "fuse_activation"), 1);
    ASSERT_EQ(opt.nodes.size(), 1u);
    const ConvAttrs& a = conv_of(opt);
    ASSERT_EQ(a.post_ops.size(), 2u);
    EXPECT_EQ(a.post_ops[0].kind, PostOp::Kind::kAddTensor);
    EXPECT_EQ(opt.nodes[0].inputs.at(a.post_ops[0].input_index), x);
    EXPECT_EQ(a.post_ops[1].kind, PostOp::Kind::kUnary);
    EXPECT_EQ(a.post_ops[1].unary.kind, UnaryKind::kRelu);
  }
}

TEST(OptimizeRules, ResidualFusesIntoTheConvThatRunsLast) {
  Rand r(7);
  TestGraph t(r);
  int x = t.input({1, 4, 6, 6});
  int c1 = conv(t, x, 16, conv_attrs(3, 1));
  int c2 = conv(t, x, 16, conv_attrs(1, 0));
  t.output(t.node(BinaryAttrs{BinaryKind::kAdd}, {c1, c2}));
  Graph opt;
  EXPECT_EQ(applied(optimize_and_compare(t, opt), "fuse_residual_add"), 1);
  ASSERT_EQ(opt.nodes.size(), 2u);
  // c1 is ready before c2 runs, so c2 adds it; c1 cannot add c2, which does not exist yet.
  EXPECT_TRUE(conv_of(opt, 0).post_ops.empty());
  ASSERT_EQ(conv_of(opt, 1).post_ops.size(), 1u);
  EXPECT_EQ(opt.nodes[1].inputs.at(conv_of(opt, 1).post_ops[0].input_index), c1);
}

TEST(OptimizeRules, BroadcastOrWeightAddsAreNotResiduals) {
  Rand r(8);
  TestGraph t(r);
  int c = conv(t, t.input({1, 3, 5, 5}), 16, conv_attrs(3, 1));
  int add = t.node(BinaryAttrs{BinaryKind::kAdd}, {c, t.weight({1, 16, 5, 5})});
  t.output(t.node(BinaryAttrs{BinaryKind::kAdd}, {add, t.input({1, 16, 1, 1})}));
  Graph opt;
  EXPECT_EQ(applied(optimize_and_compare(t, opt), "fuse_residual_add"), 0);
  EXPECT_EQ(count_kind(opt, OpKind::kBinary), 2);
}

TEST(OptimizeRules, ConvOutputWithTwoReadersIsNotFused) {
  Rand r(9);
  {  // Read by a relu and by a pool.
    TestGraph t(r);
    int c = conv(t, t.input({1, 3, 6, 6}), 16, conv_attrs(3, 1));
    t.output(relu(t, c));
    t.output(t.node(PoolAttrs{PoolKind::kMax, false, {2, 2}, {2, 2}}, {c}));
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    EXPECT_EQ(applied(rep, "fuse_activation"), 0);
    EXPECT_TRUE(conv_of(opt).post_ops.empty());
    EXPECT_EQ(opt.nodes.size(), 3u);
  }
  {  // A graph output that is also batch-normed and added.
    TestGraph t(r);
    int x = t.input({1, 16, 6, 6});
    int c = conv(t, x, 16, conv_attrs(3, 1));
    t.output(c);
    t.output(t.node(BinaryAttrs{BinaryKind::kAdd}, {batch_norm(t, c), x}));
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    EXPECT_EQ(applied(rep, "fold_batch_norm"), 0);
    EXPECT_EQ(applied(rep, "fuse_residual_add"), 0);
    EXPECT_EQ(opt.nodes.size(), 3u);
  }
}

// ---------------------------------------------------------------------------- Identity

TEST(OptimizeRules, IdentitiesAreDroppedIncludingBeforeOutputs) {
  Rand r(10);
  {  // conv -> identity -> relu -> identity (output): one conv with the relu fused.
    TestGraph t(r);
    int c = conv(t, t.input({1, 3, 6, 6}), 16, conv_attrs(3, 1));
    int id = t.node(std::monostate{}, {c}, "Identity");
    int y = t.node(std::monostate{}, {relu(t, id)}, "Dropout");
    t.output(y);
    Graph opt;
    OptimizeReport rep = optimize_and_compare(t, opt);
    EXPECT_EQ(applied(rep, "drop_identity"), 2);
    EXPECT_EQ(applied(rep, "fuse_activation"), 1);
    ASSERT_EQ(opt.nodes.size(), 1u);
    EXPECT_EQ(opt.outputs[0], y);  // still the user's output name
    EXPECT_EQ(opt.values[opt.outputs[0]].name, t.g.values[y].name);
  }
  {  // An identity of a graph input that is an output must stay (as a copy).
    TestGraph t(r);
    int x = t.input({1, 2, 3, 3});
    t.output(t.node(std::monostate{}, {x}, "Identity"));
    t.output(conv(t, x, 4, conv_attrs(1, 0)));
    Graph opt;
    optimize_and_compare(t, opt);
    EXPECT_EQ(count_kind(opt, OpKind::kIdentity), 1);
  }
  {  // An identity to an output whose source is also read elsewhere stays too.
    TestGraph t(r);
    int c = conv(t, t.input({1, 2, 5, 5}), 16, conv_attrs(3, 1));
    t.output(t.node(std::monostate{}, {c}, "Identity"));
    t.output(relu(t, c));
    Graph opt;
    optimize_and_compare(t, opt);
    EXPECT_EQ(count_kind(opt, OpKind::kIdentity), 1);
    EXPECT_EQ(count_kind(opt, OpKind::kUnary), 1);
  }
}

// All rules together on a ResNet-style block with an explicit pad.
TEST(OptimizeRules, ResNetBlockBecomesTwoConvs) {
  Rand r(11);
  TestGraph t(r);
  int x = t.input({1, 16, 9, 9});
  int p = t.node(PadAttrs{PadMode::kConstant, {0, 0, 1, 1}, {0, 0, 1, 1}, 0.0f}, {x}, "Pad");
  int h = relu(t, batch_norm(t, conv(t, p, 16, conv_attrs(3, 0, false))));
  h = t.node(std::monostate{}, {h}, "Dropout");
  int h2 = batch_norm(t, conv(t, h, 16, conv_attrs(3, 1, false)));
  t.output(relu(t, t.node(BinaryAttrs{BinaryKind::kAdd}, {h2, x})));
  Graph opt;
  optimize_and_compare(t, opt);
  ASSERT_EQ(opt.nodes.size(), 2u);
  EXPECT_EQ(conv_of(opt, 0).pads, (Spatial{1, 1, 1, 1}));
  EXPECT_TRUE(conv_of(opt, 0).folded_bn.present && conv_of(opt, 1).folded_bn.present);
  EXPECT_EQ(conv_of(opt, 1).post_ops.size(), 2u);
}

}  // namespace
}  // namespace kiln::testing
