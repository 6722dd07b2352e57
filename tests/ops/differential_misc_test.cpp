// Differential tests of pooling, standalone batch norm, unary and binary element-wise ops
// and softmax against the naive reference kernels, on random shapes. Each op is also fed,
// some of the time, by a 1x1 convolution so that it reads a channel-blocked layout.
#include <gtest/gtest.h>

#include "ops/differential.h"

namespace kiln::testing {
namespace {

const std::vector<int64_t> kChannels = {1, 3, 16, 17, 32};

// An input of shape `s`, or (if `blocked` and `s` is 4-D) a 1x1 conv of one, whose output
// oneDNN keeps in a channel-blocked layout when the channels allow.
int source(TestGraph& t, const Shape& s, bool blocked, float lo = -1.0f, float hi = 1.0f) {
  if (!blocked || s.size() != 4) return t.input(s, lo, hi);
  int x = t.input(s, lo, hi);
  ConvAttrs a;
  a.has_bias = true;
  // Identity-like weights keep the conv's output in the input's value range.
  Tensor w = Tensor::zeros(DType::kF32, {s[1], s[1], 1, 1});
  for (int64_t c = 0; c < s[1]; ++c) w.data<float>()[c * s[1] + c] = 1.0f;
  return t.node(a, {x, t.weight(w), t.weight(Tensor::zeros(DType::kF32, {s[1]}))});
}

Shape random_image(Rand& r, int64_t max_hw = 13) {
  return {r.range(1, 2), r.pick(kChannels), r.range(1, max_hw), r.range(1, max_hw)};
}

// ------------------------------------------------------------------------------ Pool

TEST(DifferentialPool, RandomWindows) {
  Rand r(31);
  for (int i = 0; i < 40; ++i) {
    PoolAttrs a;
    a.kind = r.coin() ? PoolKind::kMax : PoolKind::kAverage;
    for (int k = 0; k < 2; ++k) {
      a.kernel[k] = k == 1 && r.coin(0.6) ? a.kernel[0] : r.range(1, 4);
      a.strides[k] = r.range(1, 3);
      if (a.kind == PoolKind::kMax && r.coin(0.3)) a.dilations[k] = 2;
    }
    for (int k = 0; k < 4; ++k) a.pads[k] = r.range(0, a.kernel[k % 2] - 1);
    a.count_include_pad = a.kind == PoolKind::kAverage && r.coin();
    bool ceil_mode = r.coin(0.4);
    Shape xs;
    do {
      xs = random_image(r);
    } while (xs[2] + a.pads[0] + a.pads[2] < a.dilations[0] * (a.kernel[0] - 1) + 1 ||
             xs[3] + a.pads[1] + a.pads[3] < a.dilations[1] * (a.kernel[1] - 1) + 1);
    if (ceil_mode) {  // as the ONNX importer resolves ceil_mode
      for (int k = 0; k < 2; ++k) {
        int64_t in = xs[2 + k] + a.pads[k] + a.pads[k + 2];
        int64_t span = a.dilations[k] * (a.kernel[k] - 1) + 1;
        int64_t out = (in - span + a.strides[k] - 1) / a.strides[k] + 1;
        if ((out - 1) * a.strides[k] >= xs[2 + k] + a.pads[k]) --out;
        a.ceil_pads[k] = std::max<int64_t>(0, (out - 1) * a.strides[k] + span - in);
      }
    }
    TestGraph t(r);
    t.output(t.node(a, {source(t, xs, r.coin(0.3))}));
    SCOPED_TRACE("case " + std::to_string(i) + ": x " + shape_to_string(xs) +
                 (a.kind == PoolKind::kMax ? " max" : " avg") +
                 " kernel " + str(a.kernel) + " strides " + str(a.strides) + " dilations " + str(a.dilations) +
                 " pads " + str(a.pads) + " ceil_pads " + str(a.ceil_pads) + " include_pad " +
                 std::to_string(a.count_include_pad));
    auto plan = check_against_reference(t);
    if (!plan) continue;
    bool want_fallback = a.kind == PoolKind::kAverage && a.count_include_pad && (a.ceil_pads[0] || a.ceil_pads[1]);
    EXPECT_EQ(count_steps(*plan, "reference:Pool"), want_fallback ? 1 : 0) << steps_summary(*plan);
  }
}

// ceil_mode's overhang never counts towards an include-pad average: oneDNN would count it,
// so kiln runs the reference kernel; without the overhang oneDNN's own pooling runs.
TEST(DifferentialPool, AverageIncludingPadWithCeilMode) {
  Rand r(33);
  for (bool ceil_mode : {false, true}) {
    PoolAttrs a;
    a.kind = PoolKind::kAverage;
    a.kernel = {3, 3};
    a.strides = {2, 2};
    a.pads = {1, 1, 1, 1};
    a.count_include_pad = true;
    if (ceil_mode) a.ceil_pads = {1, 1};  // 6 + 2 pads -> 4 windows of 3 at stride 2
    TestGraph t(r);
    t.output(t.node(a, {source(t, {1, 16, 6, 6}, true)}));
    SCOPED_TRACE(ceil_mode ? "ceil_mode" : "floor");
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:Pool"), ceil_mode ? 1 : 0) << steps_summary(*plan);
  }
}

TEST(DifferentialPool, GlobalMaxAndAverage) {
  Rand r(32);
  for (PoolKind kind : {PoolKind::kMax, PoolKind::kAverage}) {
    for (int i = 0; i < 6; ++i) {
      Shape xs = random_image(r, 17);
      PoolAttrs a;
      a.kind = kind;
      a.global = true;  // the attribute alone says "whole plane", whatever kernel holds
      TestGraph t(r);
      t.output(t.node(a, {source(t, xs, i % 2 == 1)}));
      SCOPED_TRACE(std::string(kind == PoolKind::kMax ? "max " : "avg ") + shape_to_string(xs));
      check_against_reference(t);
    }
  }
}

// -------------------------------------------------------------------------- BatchNorm

TEST(DifferentialBatchNorm, StandaloneOnRanks2To4) {
  Rand r(41);
  for (int i = 0; i < 20; ++i) {
    int64_t c = r.pick(kChannels);
    Shape xs = {r.range(1, 2), c};
    int rank = static_cast<int>(r.range(2, 4));
    for (int k = 2; k < rank; ++k) xs.push_back(r.range(1, 9));
    BatchNormAttrs a;
    a.epsilon = r.uniform(1e-5f, 1e-2f);
    TestGraph t(r);
    int x = source(t, xs, r.coin());
    t.output(t.node(a, {x, t.weight({c}, 0.5f, 1.5f), t.weight({c}), t.weight({c}), t.weight({c}, 0.2f, 1.5f)}));
    SCOPED_TRACE(shape_to_string(xs));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "batchnorm"), 1) << steps_summary(*plan);
  }
}

// ------------------------------------------------------------------------------ Unary

TEST(DifferentialUnary, EveryKindOnRandomShapes) {
  Rand r(51);
  for (int kind = 0; kind <= static_cast<int>(UnaryKind::kSign); ++kind) {
    for (int i = 0; i < 3; ++i) {
      UnaryAttrs a;
      a.kind = static_cast<UnaryKind>(kind);
      float lo = -4.0f, hi = 4.0f;  // wide enough for HardSwish / HardSigmoid to saturate
      switch (a.kind) {
        case UnaryKind::kLeakyRelu: a.alpha = r.uniform(0.01f, 0.5f); break;
        case UnaryKind::kElu: a.alpha = r.uniform(0.5f, 1.5f); break;
        case UnaryKind::kClip: a.alpha = r.uniform(-1.0f, 0.0f); a.beta = r.uniform(0.0f, 1.0f); break;
        case UnaryKind::kHardSigmoid: a.alpha = r.uniform(0.1f, 0.5f); a.beta = r.uniform(0.3f, 0.7f); break;
        case UnaryKind::kSqrt: lo = 0.0f; break;
        case UnaryKind::kLog: lo = 0.01f; break;
        case UnaryKind::kReciprocal: lo = 0.25f; break;
        case UnaryKind::kAcosh: lo = 1.0f; break;
        case UnaryKind::kAsin: case UnaryKind::kAcos: case UnaryKind::kAtanh: lo = -0.99f; hi = 0.99f; break;
        case UnaryKind::kTan: lo = -1.4f; hi = 1.4f; break;
        case UnaryKind::kSelu: a.alpha = 1.6732632f; a.beta = 1.0507010f; break;
        case UnaryKind::kCelu: a.alpha = r.uniform(0.5f, 1.5f); break;
        case UnaryKind::kThresholdedRelu: a.alpha = r.uniform(0.0f, 1.0f); break;
        case UnaryKind::kShrink: a.alpha = r.uniform(0.2f, 1.0f); a.beta = r.uniform(0.0f, 0.3f); break;
        default: break;
      }
      Shape xs;
      int rank = i == 0 ? 4 : static_cast<int>(r.range(1, 4));
      xs = rank == 4 ? random_image(r) : Shape{};
      for (int k = static_cast<int>(xs.size()); k < rank; ++k) xs.push_back(r.range(1, 11));
      TestGraph t(r);
      t.output(t.node(a, {source(t, xs, i == 0, lo, hi)}));
      SCOPED_TRACE(std::string(unary_kind_name(a.kind)) + " " + shape_to_string(xs));
      auto plan = check_against_reference(t);
      if (!plan) continue;
      // oneDNN runs the kinds it has one algorithm for; the others run their reference kernel.
      bool onednn = (a.kind <= UnaryKind::kNeg && a.kind != UnaryKind::kHardSigmoid) || a.kind == UnaryKind::kLog ||
                    a.kind == UnaryKind::kRound || a.kind == UnaryKind::kReciprocal;
      EXPECT_EQ(count_steps(*plan, "eltwise:"), onednn ? 1 : 0) << steps_summary(*plan);
    }
  }
}

// ----------------------------------------------------------------------------- Binary

// How the second operand relates to the first.
enum class Operands {
  kSameShape,            // two activations of the same shape
  kChannelWeight,        // activation, weight [1,C,1,1]
  kScalarWeight,         // activation, weight of rank 0
  kLowerRankWeight,      // activation, weight [C,1,1] or [W] or [H,W]
  kBroadcastActivation,  // activation, activation [1,C,1,1] (or [N,1,H,W])
  kLowerRankActivation,  // activation, activation [H,W]
  kBroadcastFirst,       // activation [1,C,1,1], activation full: needs a swap
  kWeightFirst,          // weight [1,C,1,1], activation full
};
const char* operands_name(Operands o) {
  const char* names[] = {"same shape", "channel weight", "scalar weight", "lower-rank weight",
                         "broadcast activation", "lower-rank activation", "broadcast first", "weight first"};
  return names[static_cast<int>(o)];
}

TEST(DifferentialBinary, EveryKindWithBroadcasting) {
  Rand r(61);
  for (int kind = 0; kind <= static_cast<int>(BinaryKind::kPRelu); ++kind) {
    for (int o = 0; o <= static_cast<int>(Operands::kWeightFirst); ++o) {
      BinaryAttrs a{static_cast<BinaryKind>(kind)};
      Operands ops = static_cast<Operands>(o);
      // PRelu's slope broadcasts to x only; a full-shape second operand is not a PRelu.
      if (a.kind == BinaryKind::kPRelu && (ops == Operands::kBroadcastFirst || ops == Operands::kWeightFirst)) continue;
      Shape xs = random_image(r, 9);
      int64_t n = xs[0], c = xs[1], h = xs[2], w = xs[3];
      // Divisors stay away from zero.
      float lo2 = a.kind == BinaryKind::kDiv ? 0.5f : -1.0f, hi2 = a.kind == BinaryKind::kDiv ? 1.5f : 1.0f;
      bool blocked = r.coin();
      TestGraph t(r);
      int lhs = -1, rhs = -1;
      switch (ops) {
        case Operands::kSameShape: lhs = source(t, xs, blocked); rhs = source(t, xs, r.coin(), lo2, hi2); break;
        case Operands::kChannelWeight: lhs = source(t, xs, blocked); rhs = t.weight({1, c, 1, 1}, lo2, hi2); break;
        case Operands::kScalarWeight: lhs = source(t, xs, blocked); rhs = t.weight(Shape{}, lo2, hi2); break;
        case Operands::kLowerRankWeight:
          lhs = source(t, xs, blocked);
          rhs = t.weight(r.pick<Shape>({{c, 1, 1}, {w}, {h, w}}), lo2, hi2);
          break;
        case Operands::kBroadcastActivation:
          lhs = source(t, xs, blocked);
          rhs = t.input(r.coin() ? Shape{1, c, 1, 1} : Shape{n, 1, h, w}, lo2, hi2);
          break;
        case Operands::kLowerRankActivation: lhs = source(t, xs, blocked); rhs = t.input({h, w}, lo2, hi2); break;
        case Operands::kBroadcastFirst: lhs = t.input({1, c, 1, 1}); rhs = source(t, xs, blocked, lo2, hi2); break;
        case Operands::kWeightFirst: lhs = t.weight({1, c, 1, 1}); rhs = source(t, xs, blocked, lo2, hi2); break;
      }
      t.output(t.node(a, {lhs, rhs}));
      SCOPED_TRACE(std::string(binary_kind_name(a.kind)) + " " + operands_name(ops) + " x " + shape_to_string(xs) +
                   " rhs " + shape_to_string(t.shape(rhs)) + (blocked ? " blocked" : ""));
      auto plan = check_against_reference(t);
      if (!plan) continue;
      bool commutative = a.kind == BinaryKind::kAdd || a.kind == BinaryKind::kMul || a.kind == BinaryKind::kMax ||
                         a.kind == BinaryKind::kMin;
      // oneDNN wants an activation of the output's shape first (swapping commutative
      // operands for it) and a second operand of the same rank or a weight.
      bool lhs_full = t.shape(lhs) == xs;  // e.g. [1,C,1,1] of a 1x1 image
      bool onednn = a.kind != BinaryKind::kPRelu && ops != Operands::kLowerRankActivation;
      if (ops == Operands::kBroadcastFirst && !lhs_full) onednn = commutative;
      if (ops == Operands::kWeightFirst) onednn = !lhs_full && commutative;
      EXPECT_EQ(count_steps(*plan, "binary:"), onednn ? 1 : 0) << steps_summary(*plan);
    }
  }
}

// Batch broadcasting and two blocked activations from different producers.
TEST(DifferentialBinary, TwoConvOutputsAndBatchBroadcast) {
  Rand r(62);
  for (int64_t c : {16, 17}) {
    for (BinaryKind k : {BinaryKind::kAdd, BinaryKind::kSub, BinaryKind::kMul, BinaryKind::kMax}) {
      TestGraph t(r);
      int a = source(t, {2, c, 6, 5}, true);
      int b = source(t, {1, c, 6, 5}, true);
      t.output(t.node(BinaryAttrs{k}, {a, b}));
      SCOPED_TRACE(std::string(binary_kind_name(k)) + " c " + std::to_string(c));
      check_against_reference(t);
    }
  }
}

// A lower-rank activation whose rank-padded shape equals the output's ([H,W] against
// [1,1,H,W]) once made kiln ask oneDNN for a reorder between different ranks.
TEST(DifferentialBinary, LowerRankActivationMatchingOutputOnceRankPadded) {
  Rand r(63);
  for (BinaryKind k : {BinaryKind::kAdd, BinaryKind::kSub, BinaryKind::kDiv}) {
    for (bool swapped : {false, true}) {
      TestGraph t(r);
      int x = t.input({1, 1, 5, 7}, 0.5f, 1.5f);  // either may be the divisor
      int y = t.input({5, 7}, 0.5f, 1.5f);
      t.output(t.node(BinaryAttrs{k}, swapped ? std::vector<int>{y, x} : std::vector<int>{x, y}));
      SCOPED_TRACE(std::string(binary_kind_name(k)) + (swapped ? " [H,W] first" : " [H,W] second"));
      check_against_reference(t);
    }
  }
}

// ----------------------------------------------------------------------------- Softmax

TEST(DifferentialSoftmax, EveryAxisAndKind) {
  Rand r(71);
  for (SoftmaxKind kind : {SoftmaxKind::kSoftmax, SoftmaxKind::kLogSoftmax, SoftmaxKind::kHardmax}) {
    for (int rank = 1; rank <= 4; ++rank) {
      for (int64_t axis = -rank; axis < rank; ++axis) {
        Shape xs = rank == 4 ? random_image(r, 9) : Shape{};
        for (int k = static_cast<int>(xs.size()); k < rank; ++k) xs.push_back(r.range(1, 12));
        TestGraph t(r);
        t.output(t.node(SoftmaxAttrs{axis, kind}, {source(t, xs, r.coin(), -5.0f, 5.0f)}));
        SCOPED_TRACE("x " + shape_to_string(xs) + " axis " + std::to_string(axis) + " kind " +
                     std::to_string(static_cast<int>(kind)));
        auto plan = check_against_reference(t, 1e-5);
        // Hardmax has no oneDNN primitive: its reference kernel runs.
        if (plan && kind == SoftmaxKind::kHardmax) EXPECT_EQ(count_steps(*plan, "reference:Softmax"), 1) << steps_summary(*plan);
        if (plan && kind != SoftmaxKind::kHardmax)
          EXPECT_EQ(count_steps(*plan, kind == SoftmaxKind::kLogSoftmax ? "logsoftmax" : "softmax"), 1) << steps_summary(*plan);
      }
    }
  }
}

// LRN across channels: odd windows on oneDNN, even ones (centred differently) on the reference.
TEST(DifferentialLrn, OddAndEvenWindows) {
  Rand r(81);
  for (int64_t size : {1, 2, 3, 4, 5}) {
    for (int i = 0; i < 2; ++i) {
      Shape xs = i == 0 ? random_image(r) : Shape{1, r.range(1, 20), r.range(1, 5), r.range(1, 5), r.range(1, 5)};
      LrnAttrs a{size, r.uniform(1e-4f, 1e-2f), r.uniform(0.5f, 0.9f), r.uniform(0.5f, 2.0f)};
      TestGraph t(r);
      t.output(t.node(a, {source(t, xs, r.coin(), -3.0f, 3.0f)}));
      SCOPED_TRACE("x " + shape_to_string(xs) + " size " + std::to_string(size));
      auto plan = check_against_reference(t);
      if (plan) EXPECT_EQ(count_steps(*plan, "lrn"), size % 2) << steps_summary(*plan);
    }
  }
}

}  // namespace
}  // namespace kiln::testing
