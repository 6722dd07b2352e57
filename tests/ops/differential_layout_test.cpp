// Differential tests of the ops whose correctness depends on layouts and aliasing: Concat
// (in place inside the output's storage, or oneDNN's primitive), Resize (oneDNN's
// resampling or the reference fallback) and Reshape (a view after a blocked->plain reorder).
#include <gtest/gtest.h>

#include "ops/differential.h"

namespace kiln::testing {
namespace {

// A 3x3 "same" convolution with bias: with 16-multiple output channels oneDNN writes it
// channel-blocked (nChw16c), otherwise in a layout of its choosing.
int conv3x3(TestGraph& t, int x, int64_t m) {
  ConvAttrs a;
  a.kernel = {3, 3};
  a.pads = {1, 1, 1, 1};
  a.has_bias = true;
  return t.node(a, {x, t.weight({m, t.shape(x)[1], 3, 3}), t.weight({m})});
}

// ----------------------------------------------------------------------------- Concat

TEST(DifferentialConcat, InPlaceWhenInputsAreWholeChannelBlocks) {
  Rand r(81);
  for (Shape hw : {Shape{7, 9}, Shape{8, 8}, Shape{1, 5}}) {
    for (bool inputs_are_outputs : {false, true}) {
      TestGraph t(r);
      int x = t.input({1, 5, hw[0], hw[1]});
      int a = conv3x3(t, x, 16), b = conv3x3(t, x, 32), c = conv3x3(t, x, 16);
      t.output(t.node(ConcatAttrs{1}, {a, b, c}));
      if (inputs_are_outputs) {
        t.output(b);
        t.output(a);
      }
      SCOPED_TRACE("hw " + shape_to_string(hw) + " inputs are outputs " + std::to_string(inputs_are_outputs));
      auto plan = check_against_reference(t);
      if (plan) EXPECT_EQ(count_steps(*plan, "concat"), 0) << steps_summary(*plan);
    }
  }
}

TEST(DifferentialConcat, PrimitiveWhenChannelsAreOddOrBatched) {
  Rand r(82);
  struct Case {
    int64_t n;
    std::vector<int64_t> channels;
  };
  const Case cases[] = {{1, {3, 17}}, {1, {16, 17}}, {1, {17, 16, 1}}, {2, {16, 32}}, {2, {3, 5}}};
  for (const Case& k : cases) {
    TestGraph t(r);
    int x = t.input({k.n, 4, 9, 6});
    std::vector<int> ins;
    for (int64_t c : k.channels) ins.push_back(conv3x3(t, x, c));
    t.output(t.node(ConcatAttrs{1}, ins));
    t.output(ins[0]);
    SCOPED_TRACE("n " + std::to_string(k.n) + " first channels " + std::to_string(k.channels[0]));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "concat"), 1) << steps_summary(*plan);
  }
}

TEST(DifferentialConcat, OtherAxesRepeatedInputsAndSharedSkips) {
  Rand r(83);
  {  // Along H and W, and along the batch axis.
    for (int64_t axis : {0, 2, 3}) {
      TestGraph t(r);
      int x = t.input({1, 3, 6, 5});
      int a = conv3x3(t, x, 16), b = conv3x3(t, x, 16);
      t.output(t.node(ConcatAttrs{axis}, {a, b}));
      SCOPED_TRACE("axis " + std::to_string(axis));
      check_against_reference(t);
    }
  }
  {  // The same tensor twice cannot live in two places.
    TestGraph t(r);
    int a = conv3x3(t, t.input({1, 3, 5, 5}), 16);
    t.output(t.node(ConcatAttrs{1}, {a, a}));
    SCOPED_TRACE("concat(a, a)");
    check_against_reference(t);
  }
  {  // A tensor and a reshaped view of it share one buffer.
    TestGraph t(r);
    int x = t.input({1, 4, 6, 4});
    t.output(t.node(ConcatAttrs{1}, {x, t.node(ReshapeAttrs{{1, 4, 6, 4}}, {x})}));
    SCOPED_TRACE("concat(x, reshape(x))");
    check_against_reference(t);
  }
  {  // One skip tensor feeding two concats: at most one of them can hold it in place.
    TestGraph t(r);
    int x = t.input({1, 3, 6, 7});
    int s = conv3x3(t, x, 16), b = conv3x3(t, x, 16), c = conv3x3(t, x, 32);
    int cat1 = t.node(ConcatAttrs{1}, {s, b});
    int cat2 = t.node(ConcatAttrs{1}, {c, s});
    t.output(conv3x3(t, cat1, 16));
    t.output(cat2);
    SCOPED_TRACE("shared skip");
    check_against_reference(t);
  }
  {  // Plain graph inputs (one channel block of 1).
    TestGraph t(r);
    int a = t.input({1, 3, 4, 5}), b = t.input({1, 5, 4, 5});
    int cat = t.node(ConcatAttrs{1}, {a, b});
    t.output(cat);
    t.output(conv3x3(t, cat, 16));
    SCOPED_TRACE("graph inputs");
    check_against_reference(t);
  }
}

TEST(DifferentialConcat, RandomInputs) {
  Rand r(84);
  for (int i = 0; i < 20; ++i) {
    int64_t n = r.coin(0.7) ? 1 : 2, h = r.range(1, 9), w = r.range(1, 9);
    int64_t axis = r.coin(0.7) ? 1 : r.range(0, 3);
    TestGraph t(r);
    int x = t.input({n, 3, h, w});
    std::vector<int> ins;
    std::string desc;
    for (int64_t k = 0, count = r.range(2, 4); k < count; ++k) {
      int64_t c = r.pick<int64_t>({1, 3, 16, 17, 32});
      Shape s = {n, c, h, w};
      if (axis != 1) s[1] = 16;
      if (axis != 1 && axis != 0) s[axis] = r.range(1, 6);
      if (axis == 0) s[0] = r.range(1, 2);
      bool from_conv = (axis == 1 || axis == 0) && r.coin(0.7);
      if (from_conv && axis == 0) from_conv = s[0] == n;
      ins.push_back(from_conv ? conv3x3(t, x, s[1]) : t.input(s));
      desc += shape_to_string(t.shape(ins.back())) + (from_conv ? "(conv) " : " ");
    }
    t.output(t.node(ConcatAttrs{axis}, ins));
    SCOPED_TRACE("case " + std::to_string(i) + " axis " + std::to_string(axis) + ": " + desc);
    check_against_reference(t);
  }
}

// ----------------------------------------------------------------------------- Resize

struct ResizeCase {
  const char* name;
  ResizeMode mode;
  CoordTransform coord;
  NearestRounding nearest;
  float fh, fw;        // output = round(input * factor)
  bool exact_scales;   // scales = out / in (else the factors themselves)
  bool onednn;         // which path kiln should take
};

TEST(DifferentialResize, NearestAndLinearOnBothPaths) {
  using M = ResizeMode;
  using C = CoordTransform;
  using R = NearestRounding;
  const ResizeCase cases[] = {
      {"nearest asymmetric floor x2", M::kNearest, C::kAsymmetric, R::kFloor, 2, 2, true, true},
      {"nearest asymmetric floor x3", M::kNearest, C::kAsymmetric, R::kFloor, 3, 3, true, true},
      {"nearest asymmetric floor x2,x3", M::kNearest, C::kAsymmetric, R::kFloor, 2, 3, true, true},
      {"nearest half_pixel prefer_floor x2", M::kNearest, C::kHalfPixel, R::kRoundPreferFloor, 2, 2, true, true},
      {"nearest half_pixel prefer_floor x3", M::kNearest, C::kHalfPixel, R::kRoundPreferFloor, 3, 3, true, true},
      {"nearest pytorch_half_pixel prefer_ceil x2", M::kNearest, C::kPytorchHalfPixel, R::kRoundPreferCeil, 2, 2,
       true, true},
      {"nearest half_pixel floor x2", M::kNearest, C::kHalfPixel, R::kFloor, 2, 2, true, false},
      {"nearest asymmetric prefer_floor x3", M::kNearest, C::kAsymmetric, R::kRoundPreferFloor, 3, 3, true, false},
      {"nearest tf_half_pixel_for_nn x2", M::kNearest, C::kTfHalfPixelForNn, R::kRoundPreferFloor, 2, 2, true, false},
      {"nearest align_corners x2", M::kNearest, C::kAlignCorners, R::kRoundPreferFloor, 2, 2, true, false},
      {"nearest half_pixel x1.5", M::kNearest, C::kHalfPixel, R::kRoundPreferFloor, 1.5f, 1.5f, true, false},
      {"nearest asymmetric floor x0.5", M::kNearest, C::kAsymmetric, R::kFloor, 0.5f, 0.5f, true, false},
      {"linear half_pixel x2", M::kLinear, C::kHalfPixel, R::kFloor, 2, 2, true, true},
      {"linear half_pixel x1.7,x2.5", M::kLinear, C::kHalfPixel, R::kFloor, 1.7f, 2.5f, true, true},
      {"linear half_pixel x0.5", M::kLinear, C::kHalfPixel, R::kFloor, 0.5f, 0.5f, true, true},
      {"linear pytorch_half_pixel x2", M::kLinear, C::kPytorchHalfPixel, R::kFloor, 2, 2, true, true},
      {"linear align_corners x2", M::kLinear, C::kAlignCorners, R::kFloor, 2, 2, true, false},
      {"linear asymmetric x3", M::kLinear, C::kAsymmetric, R::kFloor, 3, 3, true, false},
      {"linear half_pixel scale 1.5 given", M::kLinear, C::kHalfPixel, R::kFloor, 1.5f, 1.5f, false, false},
      {"nearest asymmetric floor scale 1.5 given", M::kNearest, C::kAsymmetric, R::kFloor, 1.5f, 1.5f, false, false},
  };
  Rand r(91);
  for (const ResizeCase& k : cases) {
    for (int i = 0; i < 3; ++i) {
      // Even sizes >= 2 so that halving is exact; odd ones where given scales must differ from out/in.
      int64_t h = 2 * r.range(1, 5), w = 2 * r.range(1, 5);
      if (!k.exact_scales) {
        h += 1;
        w += 1;
      }
      ResizeAttrs a;
      a.mode = k.mode;
      a.coord = k.coord;
      a.nearest = k.nearest;
      a.out_size = Spatial{std::max<int64_t>(1, std::lround(h * k.fh - (k.exact_scales ? 0.0f : 0.5f))),
                           std::max<int64_t>(1, std::lround(w * k.fw - (k.exact_scales ? 0.0f : 0.5f)))};
      a.scales = k.exact_scales ? std::vector<float>{static_cast<float>(a.out_size[0]) / static_cast<float>(h),
                                                     static_cast<float>(a.out_size[1]) / static_cast<float>(w)}
                                : std::vector<float>{k.fh, k.fw};
      int64_t c = r.pick<int64_t>({1, 3, 16, 17});
      TestGraph t(r);
      int x = t.input({r.range(1, 2), c, h, w});
      if (i == 1) x = conv3x3(t, x, c);  // a blocked source for 16 channels
      t.output(t.node(a, {x}));
      SCOPED_TRACE(std::string(k.name) + ": x " + shape_to_string(t.shape(x)) + " -> " + str(a.out_size));
      auto plan = check_against_reference(t);
      if (plan) EXPECT_EQ(count_steps(*plan, "resize:"), k.onednn ? 1 : 0) << steps_summary(*plan);
    }
  }
}

// Volumes and signals: nearest and linear over one and three spatial axes, oneDNN's path
// where it maps coordinates as ONNX does, else the reference.
TEST(DifferentialResize, OneAndThreeSpatialAxes) {
  Rand r(93);
  for (size_t d : {1, 3}) {
    for (ResizeMode mode : {ResizeMode::kNearest, ResizeMode::kLinear}) {
      for (CoordTransform coord : {CoordTransform::kHalfPixel, CoordTransform::kAsymmetric, CoordTransform::kAlignCorners}) {
        ResizeAttrs a;
        a.mode = mode;
        a.coord = coord;
        a.nearest = coord == CoordTransform::kAsymmetric ? NearestRounding::kFloor : NearestRounding::kRoundPreferFloor;
        Shape xs = {1, r.pick<int64_t>({1, 3, 16})};
        a.out_size.clear();
        a.scales.clear();
        for (size_t i = 0; i < d; ++i) {
          const int64_t in = r.range(2, d == 3 ? 5 : 11), factor = r.range(1, 3);
          xs.push_back(in);
          a.out_size.push_back(in * factor);
          a.scales.push_back(static_cast<float>(factor));
        }
        TestGraph t(r);
        t.output(t.node(a, {t.input(xs)}));
        SCOPED_TRACE("x " + shape_to_string(xs) + " -> " + str(a.out_size) + " mode " + std::to_string(static_cast<int>(mode)) +
                     " coord " + std::to_string(static_cast<int>(coord)));
        auto plan = check_against_reference(t);
        const bool onednn = (mode == ResizeMode::kLinear && coord == CoordTransform::kHalfPixel) ||
                            (mode == ResizeMode::kNearest && coord != CoordTransform::kAlignCorners);
        if (plan) EXPECT_EQ(count_steps(*plan, "resize:"), onednn ? 1 : 0) << steps_summary(*plan);
      }
    }
  }
}

// ----------------------------------------------------------------------------- Reshape

TEST(DifferentialReshape, AfterBlockedConvAndIntoFurtherOps) {
  Rand r(101);
  for (int64_t m : {16, 17}) {
    TestGraph t(r);
    int x = t.input({1, 3, 6, 10});
    int c = conv3x3(t, x, m);
    // Flatten: needs the blocked conv output reordered to plain first.
    int flat = t.node(ReshapeAttrs{{1, m * 60}}, {c});
    t.output(flat);
    // A view fed to a softmax and to another conv in a new 4-D shape.
    int rows = t.node(ReshapeAttrs{{1, m, 60}}, {c});
    t.output(t.node(SoftmaxAttrs{-1}, {rows}));
    int folded = t.node(ReshapeAttrs{{1, m * 2, 3, 10}}, {c});
    t.output(conv3x3(t, folded, 16));
    // A reshape of a graph input that is itself an output.
    t.output(t.node(ReshapeAttrs{{3, 60}}, {x}));
    SCOPED_TRACE("channels " + std::to_string(m));
    auto plan = check_against_reference(t);
    if (plan) EXPECT_EQ(count_steps(*plan, "reference:"), 0) << steps_summary(*plan);
  }
}

}  // namespace
}  // namespace kiln::testing
