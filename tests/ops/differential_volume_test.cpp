// Differential tests of the windowed ops over one and three spatial axes (NCW signals, NCDHW
// volumes) on oneDNN against the naive reference kernels: convolutions (grouped, strided,
// dilated, asymmetric pads, bias, folded batch norm, activations), transposed convolutions
// and max / average / global pooling.
#include <gtest/gtest.h>

#include "ops/differential.h"

namespace kiln::testing {
namespace {

// A random spatial extent of `d` axes, each at least `min` (smaller for volumes: the
// reference kernels are slow).
Shape random_extent(Rand& r, size_t d, int64_t min) {
  Shape e;
  for (size_t i = 0; i < d; ++i) e.push_back(r.range(min, d == 3 ? 7 : 19));
  return e;
}

TEST(DifferentialVolume, ConvolutionsOverOneAndThreeAxes) {
  Rand r(3003);
  for (int i = 0; i < 24; ++i) {
    const size_t d = i % 2 == 0 ? 1 : 3;
    ConvAttrs a;
    a.kernel.assign(d, 1);
    a.strides.assign(d, 1);
    a.dilations.assign(d, 1);
    a.pads.assign(2 * d, 0);
    const int64_t c = r.pick<int64_t>({1, 3, 16}), n = r.range(1, 2);
    a.group = c == 16 && r.coin(0.3) ? r.pick<int64_t>({2, 16}) : 1;
    const int64_t m = a.group == 1 ? r.pick<int64_t>({1, 8, 16}) : a.group * r.range(1, 2);
    for (size_t k = 0; k < d; ++k) {
      a.kernel[k] = r.pick<int64_t>({1, 2, 3});
      a.strides[k] = r.coin(0.7) ? 1 : 2;
      a.dilations[k] = r.coin(0.8) ? 1 : 2;
      a.pads[k] = r.range(0, 1);
      a.pads[d + k] = r.range(0, 1);
    }
    Shape xs = {n, c};
    for (int64_t e : random_extent(r, d, 5)) xs.push_back(e);
    Shape ws = {m, c / a.group};
    ws.insert(ws.end(), a.kernel.begin(), a.kernel.end());
    TestGraph t(r);
    std::vector<int> ins = {t.input(xs), t.weight(ws)};
    a.has_bias = r.coin();
    if (a.has_bias) ins.push_back(t.weight({m}));
    if (r.coin(0.3)) {  // a folded batch norm, as the optimiser makes them
      a.folded_bn = {true, 1e-3f, static_cast<int>(ins.size()), static_cast<int>(ins.size()) + 1,
                     static_cast<int>(ins.size()) + 2, static_cast<int>(ins.size()) + 3};
      ins.push_back(t.weight({m}, 0.5f, 1.5f));
      ins.push_back(t.weight({m}));
      ins.push_back(t.weight({m}));
      ins.push_back(t.weight({m}, 0.2f, 1.5f));
    }
    if (r.coin(0.5)) a.post_ops.push_back(PostOp{PostOp::Kind::kUnary, UnaryAttrs{UnaryKind::kRelu}, -1});
    SCOPED_TRACE("case " + std::to_string(i) + ": x " + shape_to_string(xs) + " w " + shape_to_string(ws) + " group " +
                 std::to_string(a.group) + " strides " + str(a.strides) + " dilations " + str(a.dilations) + " pads " +
                 str(a.pads));
    t.output(t.node(a, ins));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:"), 0) << steps_summary(*plan);
  }
}

TEST(DifferentialVolume, TransposedConvolutionsOverOneAndThreeAxes) {
  Rand r(3113);
  for (int i = 0; i < 16; ++i) {
    const size_t d = i % 2 == 0 ? 1 : 3;
    ConvTransposeAttrs a;
    a.kernel.assign(d, 2);
    a.strides.assign(d, 2);
    a.dilations.assign(d, 1);
    a.pads.assign(2 * d, 0);
    for (size_t k = 0; k < d; ++k) {
      a.kernel[k] = r.range(1, 3);
      a.strides[k] = r.range(1, 2);
      const int64_t extent = a.kernel[k] - 1;
      a.pads[k] = r.range(0, extent / 2);
      a.pads[d + k] = r.range(0, extent / 2);
    }
    const int64_t c = r.pick<int64_t>({1, 8, 16}), mg = r.pick<int64_t>({1, 4, 16});
    Shape xs = {1, c};
    for (int64_t e : random_extent(r, d, 2)) xs.push_back(e);
    Shape ws = {c, mg};
    ws.insert(ws.end(), a.kernel.begin(), a.kernel.end());
    TestGraph t(r);
    std::vector<int> ins = {t.input(xs), t.weight(ws)};
    a.has_bias = r.coin();
    if (a.has_bias) ins.push_back(t.weight({mg}));
    SCOPED_TRACE("case " + std::to_string(i) + ": x " + shape_to_string(xs) + " w " + shape_to_string(ws) +
                 " strides " + str(a.strides) + " pads " + str(a.pads));
    t.output(t.node(a, ins));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:"), 0) << steps_summary(*plan);
  }
}

TEST(DifferentialVolume, PoolingOverOneAndThreeAxes) {
  Rand r(3223);
  for (int i = 0; i < 24; ++i) {
    const size_t d = i % 2 == 0 ? 1 : 3;
    PoolAttrs a;
    a.kind = r.coin() ? PoolKind::kMax : PoolKind::kAverage;
    a.global = i % 6 == 5;
    a.kernel.assign(d, 1);
    a.strides.assign(d, 1);
    a.dilations.assign(d, 1);
    a.pads.assign(2 * d, 0);
    a.ceil_pads.assign(d, 0);
    Shape xs = {r.range(1, 2), r.pick<int64_t>({1, 3, 16})};
    for (int64_t e : random_extent(r, d, 4)) xs.push_back(e);
    for (size_t k = 0; k < d && !a.global; ++k) {
      a.kernel[k] = r.range(1, 3);
      a.strides[k] = r.range(1, 2);
      a.pads[k] = r.range(0, a.kernel[k] - 1);
      a.pads[d + k] = r.range(0, a.kernel[k] - 1);
    }
    if (a.global) {
      a.kernel = Spatial(xs.begin() + 2, xs.end());
      a.strides = a.kernel;
    }
    a.count_include_pad = a.kind == PoolKind::kAverage && r.coin();
    TestGraph t(r);
    t.output(t.node(a, {t.input(xs)}));
    SCOPED_TRACE("case " + std::to_string(i) + ": x " + shape_to_string(xs) + (a.kind == PoolKind::kMax ? " max" : " avg") +
                 (a.global ? " global" : "") + " kernel " + str(a.kernel) + " strides " + str(a.strides) + " pads " +
                 str(a.pads));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:"), 0) << steps_summary(*plan);
  }
}

}  // namespace
}  // namespace kiln::testing
