// TensorFlow ops the fixtures do not reach, on GraphDefs written here, checked against
// TensorFlow's semantics computed in the test: constant folding of unfused batch norm,
// strided-slice masks, shape ops after NHWC ops, resize coordinate modes, padding, reductions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "import/import.h"
#include "core/status_macros.h"
#include "import/tf/tf_test_util.h"
#include "kiln/model.h"
#include "test_util.h"

namespace kiln {
namespace {

using namespace tftest;

std::vector<float> iota_values(size_t n, float scale = 0.25f, float offset = -1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = offset + scale * static_cast<float>((i * 7) % 17);
  return v;
}

// x -> Conv2D with identity 1x1 weights: the same tensor, now held by kiln as NCHW.
void add_identity_conv(tf::GraphDef& g, const std::string& name, const std::string& x, int64_t channels) {
  std::vector<float> w(static_cast<size_t>(channels * channels), 0.0f);
  for (int64_t i = 0; i < channels; ++i) w[static_cast<size_t>(i * channels + i)] = 1.0f;
  add_const(g, name + "/w", {1, 1, channels, channels}, w);
  tf::NodeDef* conv = add_node(g, name, "Conv2D", {x, name + "/w"});
  set_s(conv, "padding", "VALID");
  set_ints(conv, "strides", {1, 1, 1, 1});
}

Expected<std::vector<Tensor>> run_graph(const tf::GraphDef& g, const std::string& file, const Tensor& x,
                                        std::vector<std::string> outputs = {}) {
  ModelOptions opt;
  opt.input_shapes["x"] = x.shape();
  opt.outputs = std::move(outputs);
  KILN_ASSIGN_OR_RETURN(Model m, Model::load(write_graph(g, file), opt));
  return m.run({x});
}

TEST(TfOps, UnfusedBatchNormArithmeticFoldsToConstants) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "conv", "x", 3);
  add_const(g, "gamma", {3}, {1.0f, 2.0f, 0.5f});
  add_const(g, "beta", {3}, {0.1f, -0.2f, 0.3f});
  add_const(g, "mean", {3}, {0.5f, -1.0f, 0.0f});
  add_const(g, "var", {3}, {1.0f, 4.0f, 0.25f});
  add_const(g, "eps", {}, {0.001f});
  add_node(g, "bn/add", "AddV2", {"var", "eps"});
  add_node(g, "bn/Rsqrt", "Rsqrt", {"bn/add"});
  add_node(g, "bn/mul", "Mul", {"bn/Rsqrt", "gamma"});
  add_node(g, "bn/mul_1", "Mul", {"conv", "bn/mul"});
  add_node(g, "bn/mul_2", "Mul", {"mean", "bn/mul"});
  add_node(g, "bn/sub", "Sub", {"beta", "bn/mul_2"});
  add_node(g, "bn/add_1", "AddV2", {"bn/mul_1", "bn/sub"});
  Tensor x = Tensor::from_floats({1, 2, 2, 3}, iota_values(12));
  ImportOptions io;
  io.input_shapes["x"] = x.shape();
  auto m = import_tf_graphdef(write_graph(g, "bn.pb"), io);
  ASSERT_TRUE(m) << m.error().message();
  for (const Node& n : m->graph.nodes)
    EXPECT_TRUE(n.source_op == "Conv2D" || n.source_op == "Mul" || n.source_op == "AddV2" || n.source_op == "Transpose")
        << n.source_op << " '" << n.name << "' was not folded";
  auto y = run_graph(g, "bn.pb", x);
  ASSERT_TRUE(y) << y.error().message();
  const float gamma[3] = {1, 2, 0.5f}, beta[3] = {0.1f, -0.2f, 0.3f}, mean[3] = {0.5f, -1, 0}, var[3] = {1, 4, 0.25f};
  std::vector<float> want(12), got = (*y)[0].to_f32();
  for (size_t i = 0; i < 12; ++i) {
    size_t c = i % 3;  // NHWC: channel is the fastest axis
    want[i] = (x.data<float>()[i] - mean[c]) * gamma[c] / std::sqrt(var[c] + 0.001f) + beta[c];
    EXPECT_NEAR(got[i], want[i], 1e-5) << i;
  }
}

TEST(TfOps, StridedSliceMasks) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  // a = x[..., ::-2]
  add_int_const(g, "a/begin", {0, 0});
  add_int_const(g, "a/end", {0, 0});
  add_int_const(g, "a/strides", {1, -2});
  tf::NodeDef* a = add_node(g, "a", "StridedSlice", {"x", "a/begin", "a/end", "a/strides"});
  (*a->mutable_attr())["ellipsis_mask"].set_i(1);
  (*a->mutable_attr())["begin_mask"].set_i(2);
  (*a->mutable_attr())["end_mask"].set_i(2);
  // b = x[1, :, tf.newaxis, 1:3]
  add_int_const(g, "b/begin", {1, 0, 0, 1});
  add_int_const(g, "b/end", {2, 0, 0, 3});
  add_int_const(g, "b/strides", {1, 1, 1, 1});
  tf::NodeDef* b = add_node(g, "b", "StridedSlice", {"x", "b/begin", "b/end", "b/strides"});
  (*b->mutable_attr())["shrink_axis_mask"].set_i(1);
  (*b->mutable_attr())["begin_mask"].set_i(2);
  (*b->mutable_attr())["end_mask"].set_i(2);
  (*b->mutable_attr())["new_axis_mask"].set_i(4);
  // c = x[:, -2:]
  add_int_const(g, "c/begin", {0, -2});
  add_int_const(g, "c/end", {0, 0});
  add_int_const(g, "c/strides", {1, 1});
  tf::NodeDef* c = add_node(g, "c", "StridedSlice", {"x", "c/begin", "c/end", "c/strides"});
  (*c->mutable_attr())["begin_mask"].set_i(1);
  (*c->mutable_attr())["end_mask"].set_i(3);
  std::vector<float> xv(24);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(i);
  auto y = run_graph(g, "strided.pb", Tensor::from_floats({2, 3, 4}, xv), {"a", "b", "c"});
  ASSERT_TRUE(y) << y.error().message();
  auto at = [](int i, int j, int k) { return static_cast<float>(i * 12 + j * 4 + k); };
  ASSERT_EQ((*y)[0].shape(), (Shape{2, 3, 2}));
  ASSERT_EQ((*y)[1].shape(), (Shape{3, 1, 2}));
  ASSERT_EQ((*y)[2].shape(), (Shape{2, 2, 4}));
  std::vector<float> wa, wb, wc;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) wa.insert(wa.end(), {at(i, j, 3), at(i, j, 1)});
  for (int j = 0; j < 3; ++j) wb.insert(wb.end(), {at(1, j, 1), at(1, j, 2)});
  for (int i = 0; i < 2; ++i)
    for (int j = 1; j < 3; ++j)
      for (int k = 0; k < 4; ++k) wc.push_back(at(i, j, k));
  EXPECT_EQ((*y)[0].to_f32(), wa);
  EXPECT_EQ((*y)[1].to_f32(), wb);
  EXPECT_EQ((*y)[2].to_f32(), wc);
}

// Shape ops read TensorFlow's NHWC order even when kiln holds the tensor as NCHW.
TEST(TfOps, ShapeOpsAfterNhwcOps) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "y", "x", 4);
  add_int_const(g, "perm", {0, 3, 1, 2});
  add_node(g, "t", "Transpose", {"y", "perm"});
  add_int_const(g, "axes", {1, 2});
  add_node(g, "m", "Mean", {"y", "axes"});
  add_int_const(g, "zero", {0});
  add_node(g, "e", "ExpandDims", {"m", "zero"});
  set_ints(add_node(g, "s", "Squeeze", {"e"}), "squeeze_dims", {0});
  add_node(g, "sm", "Softmax", {"y"});
  add_int_const(g, "flat", {1, -1});
  add_node(g, "r", "Reshape", {"y", "flat"});
  Tensor x = Tensor::from_floats({1, 2, 3, 4}, iota_values(24));
  auto y = run_graph(g, "shape_ops.pb", x, {"t", "m", "s", "sm", "r:0"});
  ASSERT_TRUE(y) << y.error().message();
  EXPECT_EQ((*y)[0].shape(), (Shape{1, 4, 2, 3}));
  EXPECT_LE(testing::max_abs_diff((*y)[0], nhwc_to_nchw(x)), 1e-6);
  std::vector<float> mean(4, 0.0f), xs = x.to_f32();
  for (size_t i = 0; i < 24; ++i) mean[i % 4] += xs[i] / 6.0f;
  for (int k : {1, 2}) {
    ASSERT_EQ((*y)[k].shape(), (Shape{1, 4}));
    for (size_t c = 0; c < 4; ++c) EXPECT_NEAR((*y)[k].to_f32()[c], mean[c], 1e-5);
  }
  std::vector<float> sm = (*y)[3].to_f32();
  ASSERT_EQ((*y)[3].shape(), x.shape());
  for (size_t p = 0; p < 6; ++p) {
    float sum = 0;
    for (size_t c = 0; c < 4; ++c) sum += std::exp(xs[p * 4 + c]);
    for (size_t c = 0; c < 4; ++c) EXPECT_NEAR(sm[p * 4 + c], std::exp(xs[p * 4 + c]) / sum, 1e-5);
  }
  EXPECT_EQ((*y)[4].shape(), (Shape{1, 24}));
  EXPECT_LE(testing::max_abs_diff((*y)[4], x), 1e-6);
}

// TensorFlow's resize kernels (resize_nearest_neighbor_op.cc, resize_bilinear_op.cc), NHWC.
Tensor tf_resize(const Tensor& x, int64_t oh, int64_t ow, bool bilinear, bool align, bool half) {
  const Shape& s = x.shape();
  const int64_t h = s[1], w = s[2], ch = s[3];
  auto scale = [&](int64_t in, int64_t out) {
    return align && out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                            : static_cast<float>(in) / static_cast<float>(out);
  };
  const float sh = scale(h, oh), sw = scale(w, ow);
  Tensor y = Tensor::zeros(DType::kF32, {s[0], oh, ow, ch});
  const float* in = x.data<float>();
  float* out = y.data<float>();
  auto px = [&](int64_t n, int64_t i, int64_t j, int64_t c) { return in[((n * h + i) * w + j) * ch + c]; };
  auto nearest = [&](int64_t o, float sc, int64_t len) {
    float f = half ? (static_cast<float>(o) + 0.5f) * sc : static_cast<float>(o) * sc;
    int64_t i = std::min<int64_t>(align ? static_cast<int64_t>(std::roundf(f)) : static_cast<int64_t>(std::floor(f)), len - 1);
    return half ? std::max<int64_t>(0, i) : i;
  };
  struct W { int64_t lo, hi; float lerp; };
  auto weights = [&](int64_t o, float sc, int64_t len) {
    float f = half ? (static_cast<float>(o) + 0.5f) * sc - 0.5f : static_cast<float>(o) * sc;
    float fl = std::floor(f);
    return W{std::max<int64_t>(static_cast<int64_t>(fl), 0), std::min<int64_t>(static_cast<int64_t>(std::ceil(f)), len - 1),
             f - fl};
  };
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t c = 0; c < ch; ++c) {
          float v;
          if (!bilinear) {
            v = px(n, nearest(i, sh, h), nearest(j, sw, w), c);
          } else {
            W a = weights(i, sh, h), b = weights(j, sw, w);
            float top = px(n, a.lo, b.lo, c) + (px(n, a.lo, b.hi, c) - px(n, a.lo, b.lo, c)) * b.lerp;
            float bottom = px(n, a.hi, b.lo, c) + (px(n, a.hi, b.hi, c) - px(n, a.hi, b.lo, c)) * b.lerp;
            v = top + (bottom - top) * a.lerp;
          }
          out[((n * oh + i) * ow + j) * ch + c] = v;
        }
  return y;
}

TEST(TfOps, ResizeCoordinateModesMatchTensorFlow) {
  Tensor x = Tensor::from_floats({1, 3, 4, 2}, iota_values(24, 0.5f));
  for (bool bilinear : {false, true})
    for (int mode = 0; mode < 3; ++mode)
      for (std::array<int64_t, 2> size : {std::array<int64_t, 2>{7, 5}, std::array<int64_t, 2>{6, 8}, std::array<int64_t, 2>{2, 3}}) {
        bool align = mode == 1, half = mode == 2;
        tf::GraphDef g;
        add_placeholder(g, "x");
        add_int_const(g, "size", {static_cast<int>(size[0]), static_cast<int>(size[1])});
        tf::NodeDef* r = add_node(g, "resize", bilinear ? "ResizeBilinear" : "ResizeNearestNeighbor", {"x", "size"});
        set_b(r, "align_corners", align);
        set_b(r, "half_pixel_centers", half);
        auto y = run_graph(g, "resize.pb", x);
        ASSERT_TRUE(y) << y.error().message();
        Tensor want = tf_resize(x, size[0], size[1], bilinear, align, half);
        ASSERT_EQ((*y)[0].shape(), want.shape());
        EXPECT_LE(testing::max_abs_diff((*y)[0], want), 1e-5)
            << (bilinear ? "bilinear" : "nearest") << " align_corners=" << align << " half_pixel_centers=" << half
            << " size " << size[0] << "x" << size[1];
      }
}

TEST(TfOps, PadAndMirrorPadInNhwcOrder) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "y", "x", 2);
  add_int_const(g, "mp", {0, 0, 1, 1, 2, 0, 0, 0});
  tf::NodeDef* mirror = add_node(g, "mirror", "MirrorPad", {"y", "mp"});
  set_s(mirror, "mode", "REFLECT");
  add_int_const(g, "cp", {0, 0, 0, 0, 0, 0, 1, 0});
  add_const(g, "half", {}, {0.5f});
  add_node(g, "cpad", "PadV2", {"y", "cp", "half"});
  Tensor x = Tensor::from_floats({1, 3, 3, 2}, iota_values(18));
  auto y = run_graph(g, "pads.pb", x, {"mirror", "cpad"});
  ASSERT_TRUE(y) << y.error().message();
  // Reflect: rows -1..3 -> 1,0,1,2,1; columns -2..2 -> 2,1,0,1,2.
  ASSERT_EQ((*y)[0].shape(), (Shape{1, 5, 5, 2}));
  const int rows[5] = {1, 0, 1, 2, 1}, cols[5] = {2, 1, 0, 1, 2};
  std::vector<float> xs = x.to_f32(), got = (*y)[0].to_f32();
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 2; ++c) EXPECT_EQ(got[(i * 5 + j) * 2 + c], xs[(rows[i] * 3 + cols[j]) * 2 + c]);
  ASSERT_EQ((*y)[1].shape(), (Shape{1, 3, 3, 3}));
  std::vector<float> cp = (*y)[1].to_f32();
  for (int p = 0; p < 9; ++p) {
    EXPECT_EQ(cp[p * 3], 0.5f);
    EXPECT_EQ(cp[p * 3 + 1], xs[p * 2]);
    EXPECT_EQ(cp[p * 3 + 2], xs[p * 2 + 1]);
  }
}

// Sum, Mean, Max, Min and Prod over any axes, in TensorFlow's NHWC numbering, with and
// without keep_dims; computed here as TensorFlow defines them.
TEST(TfOps, ReductionsOverAnyAxes) {
  struct Case {
    const char* op;
    std::vector<int64_t> axes;
    bool keep;
  };
  const std::vector<Case> cases = {{"Sum", {3}, false}, {"Mean", {1}, true},  {"Max", {-1}, true},
                                   {"Min", {0, 2}, false}, {"Prod", {2, 3}, false}, {"Sum", {1, 2}, true}};
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "y", "x", 3);
  std::vector<std::string> outs;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string n = "r" + std::to_string(i);
    add_int_const(g, n + "/axes", std::vector<int>(cases[i].axes.begin(), cases[i].axes.end()));
    set_b(add_node(g, n, cases[i].op, {"y", n + "/axes"}), "keep_dims", cases[i].keep);
    outs.push_back(n);
  }
  const Shape xs = {2, 2, 4, 3};  // NHWC
  Tensor x = Tensor::from_floats(xs, iota_values(48, 0.125f, -0.9f));
  auto y = run_graph(g, "reductions.pb", x, outs);
  ASSERT_TRUE(y) << y.error().message();
  const std::vector<float> v = x.to_f32();
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(std::string(cases[i].op) + " case " + std::to_string(i));
    std::vector<bool> reduced(4, false);
    for (int64_t a : cases[i].axes) reduced[static_cast<size_t>(a < 0 ? a + 4 : a)] = true;
    Shape kept = xs, want_shape;
    for (size_t d = 0; d < 4; ++d) {
      if (reduced[d]) kept[d] = 1;
      if (!reduced[d] || cases[i].keep) want_shape.push_back(kept[d]);
    }
    const std::string op = cases[i].op;
    std::vector<double> acc(static_cast<size_t>(shape_elements(kept)), op == "Prod" ? 1.0 : op == "Max" ? -1e30 : op == "Min" ? 1e30 : 0.0);
    std::vector<int> count(acc.size(), 0);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t w = 0; w < 4; ++w)
          for (int64_t c = 0; c < 3; ++c) {
            const int64_t idx[4] = {n, h, w, c};
            int64_t o = 0;
            for (size_t d = 0; d < 4; ++d) o = o * kept[d] + (reduced[d] ? 0 : idx[d]);
            const double e = v[static_cast<size_t>(((n * 2 + h) * 4 + w) * 3 + c)];
            double& a = acc[static_cast<size_t>(o)];
            if (op == "Sum" || op == "Mean") a += e;
            if (op == "Prod") a *= e;
            if (op == "Max") a = std::max(a, e);
            if (op == "Min") a = std::min(a, e);
            ++count[static_cast<size_t>(o)];
          }
    ASSERT_EQ((*y)[i].shape(), want_shape);
    const std::vector<float> got = (*y)[i].to_f32();
    for (size_t k = 0; k < acc.size(); ++k)
      EXPECT_NEAR(got[k], op == "Mean" ? acc[k] / count[k] : acc[k], 1e-5) << "element " << k;
  }
}

// Split (equal parts) along the channels of an NHWC tensor kiln holds as NCHW, and SplitV
// (sizes with a -1) along its height: each output is the slice TensorFlow defines.
TEST(TfOps, SplitAndSplitVGiveTheirSlices) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "y", "x", 4);
  add_int_const(g, "channels", {3});
  (*add_node(g, "s", "Split", {"channels", "y"})->mutable_attr())["num_split"].set_i(2);
  add_int_const(g, "sizes", {-1, 1});
  add_int_const(g, "height", {1});
  (*add_node(g, "sv", "SplitV", {"y", "sizes", "height"})->mutable_attr())["num_split"].set_i(2);
  const Shape xs = {1, 3, 2, 4};  // NHWC
  Tensor x = Tensor::from_floats(xs, iota_values(24));
  auto y = run_graph(g, "split.pb", x, {"s:0", "s:1", "sv:0", "sv:1"});
  ASSERT_TRUE(y) << y.error().message();
  const std::vector<float> v = x.to_f32();
  auto at = [&](int64_t h, int64_t w, int64_t c) { return v[static_cast<size_t>((h * 2 + w) * 4 + c)]; };
  for (int part = 0; part < 2; ++part) {  // channels 2*part, 2*part+1
    ASSERT_EQ((*y)[part].shape(), (Shape{1, 3, 2, 2}));
    const std::vector<float> got = (*y)[part].to_f32();
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t w = 0; w < 2; ++w)
        for (int64_t c = 0; c < 2; ++c) EXPECT_EQ(got[static_cast<size_t>((h * 2 + w) * 2 + c)], at(h, w, 2 * part + c));
  }
  const Shape first = {1, 2, 2, 4}, second = {1, 1, 2, 4};
  ASSERT_EQ((*y)[2].shape(), first);
  ASSERT_EQ((*y)[3].shape(), second);
  for (int64_t i = 0; i < 16; ++i) EXPECT_EQ((*y)[2].to_f32()[static_cast<size_t>(i)], v[static_cast<size_t>(i)]);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ((*y)[3].to_f32()[static_cast<size_t>(i)], v[static_cast<size_t>(16 + i)]);
}

// FusedBatchNormV3 with is_training=true normalises with the batch's own mean and (biased)
// variance over N, H and W, as TensorFlow computes y.
TEST(TfOps, FusedBatchNormInTrainingModeUsesBatchStatistics) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "y", "x", 3);
  add_const(g, "scale", {3}, {0.5f, 1.0f, 2.0f});
  add_const(g, "offset", {3}, {0.1f, -0.2f, 0.3f});
  add_const(g, "empty", {0}, {});
  tf::NodeDef* bn = add_node(g, "bn", "FusedBatchNormV3", {"y", "scale", "offset", "empty", "empty"});
  set_b(bn, "is_training", true);
  (*bn->mutable_attr())["epsilon"].set_f(1e-3f);
  const Shape xs = {2, 3, 2, 3};  // NHWC
  Tensor x = Tensor::from_floats(xs, iota_values(36, 0.3f, -2.0f));
  auto y = run_graph(g, "bn_training.pb", x, {"bn"});
  ASSERT_TRUE(y) << y.error().message();
  ASSERT_EQ((*y)[0].shape(), xs);
  const std::vector<float> v = x.to_f32(), got = (*y)[0].to_f32();
  const float scale[3] = {0.5f, 1.0f, 2.0f}, offset[3] = {0.1f, -0.2f, 0.3f};
  for (int c = 0; c < 3; ++c) {
    double mean = 0, var = 0;
    for (int p = 0; p < 12; ++p) mean += v[static_cast<size_t>(p * 3 + c)] / 12.0;
    for (int p = 0; p < 12; ++p) var += std::pow(v[static_cast<size_t>(p * 3 + c)] - mean, 2) / 12.0;
    for (int p = 0; p < 12; ++p) {
      const double want = (v[static_cast<size_t>(p * 3 + c)] - mean) / std::sqrt(var + 1e-3) * scale[c] + offset[c];
      EXPECT_NEAR(got[static_cast<size_t>(p * 3 + c)], want, 1e-5) << "channel " << c << " position " << p;
    }
  }
}

// A quantized constant as graph_transforms' quantize_weights writes it: quint8 values with
// their float range, read through Dequantize (mode MIN_FIRST). The test quantizes float
// weights by TensorFlow's FloatToQuantized rule; kiln's result must equal the same graph with
// the dequantized floats (computed here by TensorFlow's QuantizedToFloat) as float constants,
// and be within half a quantization step per weight of the graph with the original floats.
// qint8 in MIN_COMBINED and SCALED with a range per output channel (axis 3) is checked the
// same way on the bias.
tf::NodeDef* add_quantized_const(tf::GraphDef& g, const std::string& name, const Shape& shape, tf::DataType dt,
                                 const std::vector<int64_t>& q) {
  tf::NodeDef* n = add_node(g, name, "Const");
  set_type(n, "dtype", dt);
  tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(dt);
  for (int64_t d : shape) t->mutable_tensor_shape()->add_dim()->set_size(d);
  std::string raw;
  for (int64_t v : q) raw.push_back(static_cast<char>(static_cast<uint8_t>(v & 0xff)));
  t->set_tensor_content(raw);
  return n;
}

TEST(TfOps, QuantizedConstantsDequantizeAsTensorFlowDoes) {
  const Shape ks = {3, 3, 2, 4};
  const std::vector<float> kernel = iota_values(72, 0.07f, -0.5f);  // within [-0.5, 0.62]
  const float lo = -0.5f, hi = 0.7f;
  // TensorFlow's FloatToQuantized / QuantizedToFloat for quint8 (quantization_utils.h).
  const double steps = 256.0, scale = (hi - lo) * (steps / (steps - 1.0)) / steps;
  const double lo_rounded = std::round(lo / static_cast<float>(scale)) * static_cast<float>(scale);
  std::vector<int64_t> q(kernel.size());
  std::vector<float> dequantized(kernel.size());
  for (size_t i = 0; i < kernel.size(); ++i) {
    q[i] = std::clamp<int64_t>(std::llround((kernel[i] - lo_rounded) / scale), 0, 255);
    dequantized[i] = static_cast<float>(lo_rounded + static_cast<double>(q[i]) * scale);
    ASSERT_LE(std::abs(dequantized[i] - kernel[i]), scale / 2 + 1e-6) << i;
  }
  // qint8 biases: MIN_COMBINED over [-0.3, 0.3] and SCALED with a range per channel.
  const std::vector<int64_t> qb = {-128, -1, 0, 127};
  const std::vector<float> per_lo = {-0.2f, -0.4f, -0.1f, -1.0f}, per_hi = {0.3f, 0.4f, 0.2f, 0.5f};
  std::vector<float> bias_combined(4), bias_scaled(4);
  for (size_t i = 0; i < 4; ++i) {
    bias_combined[i] = static_cast<float>(-0.3 + (static_cast<double>(qb[i]) + 128.0) * 0.6 / 255.0);
    const float s = std::max(per_lo[i] / -128.0f, per_hi[i] / 127.0f);
    bias_scaled[i] = static_cast<float>(qb[i]) * s;
  }

  auto graph = [&](bool quantized, const std::vector<float>& k) {
    tf::GraphDef g;
    add_placeholder(g, "x");
    if (quantized) {
      add_quantized_const(g, "kq", ks, tf::DT_QUINT8, q);
      add_const(g, "kq/min", {}, {lo});
      add_const(g, "kq/max", {}, {hi});
      tf::NodeDef* d = add_node(g, "k", "Dequantize", {"kq", "kq/min", "kq/max"});
      set_type(d, "T", tf::DT_QUINT8);
      set_s(d, "mode", "MIN_FIRST");
      add_quantized_const(g, "bq", {4}, tf::DT_QINT8, qb);
      add_const(g, "bq/min", {}, {-0.3f});
      add_const(g, "bq/max", {}, {0.3f});
      tf::NodeDef* b1 = add_node(g, "b1", "Dequantize", {"bq", "bq/min", "bq/max"});
      set_type(b1, "T", tf::DT_QINT8);
      add_const(g, "bq/mins", {4}, per_lo);
      add_const(g, "bq/maxs", {4}, per_hi);
      tf::NodeDef* b2 = add_node(g, "b2", "Dequantize", {"bq", "bq/mins", "bq/maxs"});
      set_type(b2, "T", tf::DT_QINT8);
      set_s(b2, "mode", "SCALED");
      (*b2->mutable_attr())["axis"].set_i(0);
    } else {
      add_const(g, "k", ks, k);
      add_const(g, "b1", {4}, bias_combined);
      add_const(g, "b2", {4}, bias_scaled);
    }
    tf::NodeDef* conv = add_node(g, "conv", "Conv2D", {"x", "k"});
    set_s(conv, "padding", "SAME");
    set_ints(conv, "strides", {1, 1, 1, 1});
    add_node(g, "y1", "BiasAdd", {"conv", "b1"});
    add_node(g, "y", "BiasAdd", {"y1", "b2"});
    return g;
  };
  const Tensor x = Tensor::from_floats({1, 5, 5, 2}, iota_values(50, 0.2f, -1.5f));
  auto got = run_graph(graph(true, {}), "quantized.pb", x);
  ASSERT_TRUE(got) << got.error().message();
  auto same = run_graph(graph(false, dequantized), "dequantized.pb", x);
  ASSERT_TRUE(same) << same.error().message();
  auto original = run_graph(graph(false, kernel), "original.pb", x);
  ASSERT_TRUE(original) << original.error().message();
  EXPECT_LE(testing::max_abs_diff((*got)[0], (*same)[0]), 1e-6);
  // Each output sums 18 products: at most 18 * max|x| * scale / 2 away from the float graph.
  float max_x = 0;
  for (float v : x.to_f32()) max_x = std::max(max_x, std::abs(v));
  const double d = testing::max_abs_diff((*got)[0], (*original)[0]);
  EXPECT_LE(d, 18 * max_x * scale / 2 + 1e-5);
  EXPECT_GT(d, 0.0) << "quantization changes the weights, so the result";
}

TEST(TfOps, DequantizeErrorsNameTheNode) {
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_quantized_const(g, "kq", {4}, tf::DT_QUINT8, {0, 1, 2, 3});
  add_const(g, "lo", {2}, {0.0f, 0.0f});
  add_const(g, "hi", {}, {1.0f});
  tf::NodeDef* d = add_node(g, "deq", "Dequantize", {"kq", "lo", "hi"});
  set_type(d, "T", tf::DT_QUINT8);
  add_node(g, "y", "BiasAdd", {"x", "deq"});
  auto m = run_graph(g, "bad_range.pb", Tensor::from_floats({1, 1, 1, 4}, {0, 0, 0, 0}));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("node 'deq' (Dequantize)"), std::string::npos) << m.error().message();
  EXPECT_NE(m.error().message().find("must be scalars"), std::string::npos) << m.error().message();
}

// LRN, DepthToSpace/SpaceToDepth, LogSoftmax and the activations TensorFlow defines with fixed
// constants (Selu), against their TensorFlow definitions computed here over NHWC arrays.
TEST(TfOps, LrnBlockRearrangeAndActivationsMatchTensorFlow) {
  const int64_t H = 2, W = 3, C = 8;
  const Shape xs = {1, H, W, C};
  const Tensor x = Tensor::from_floats(xs, iota_values(48, 0.21f, -1.7f));
  const std::vector<float> v = x.to_f32();
  auto at = [&](int64_t h, int64_t w, int64_t ch) { return static_cast<double>(v[static_cast<size_t>((h * W + w) * C + ch)]); };
  tf::GraphDef g;
  add_placeholder(g, "x");
  add_identity_conv(g, "y", "x", C);  // held NCHW by kiln from here
  tf::NodeDef* lrn = add_node(g, "lrn", "LRN", {"y"});
  (*lrn->mutable_attr())["depth_radius"].set_i(2);
  (*lrn->mutable_attr())["bias"].set_f(1.5f);
  (*lrn->mutable_attr())["alpha"].set_f(0.3f);
  (*lrn->mutable_attr())["beta"].set_f(0.6f);
  tf::NodeDef* d2s = add_node(g, "d2s", "DepthToSpace", {"y"});
  (*d2s->mutable_attr())["block_size"].set_i(2);
  tf::NodeDef* s2d = add_node(g, "s2d", "SpaceToDepth", {"d2s"});
  (*s2d->mutable_attr())["block_size"].set_i(2);
  add_node(g, "lsm", "LogSoftmax", {"y"});
  add_node(g, "selu", "Selu", {"y"});
  add_node(g, "softplus", "Softplus", {"y"});
  auto y = run_graph(g, "channel_ops.pb", x, {"lrn", "d2s", "s2d", "lsm", "selu", "softplus"});
  ASSERT_TRUE(y) << y.error().message();
  const std::vector<float> lrn_v = (*y)[0].to_f32(), d2s_v = (*y)[1].to_f32(), lsm_v = (*y)[3].to_f32(),
                           selu_v = (*y)[4].to_f32(), sp_v = (*y)[5].to_f32();
  ASSERT_EQ((*y)[1].shape(), (Shape{1, 2 * H, 2 * W, C / 4}));
  EXPECT_EQ(testing::max_abs_diff((*y)[2], x), 0.0) << "SpaceToDepth undoes DepthToSpace";
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w) {
      double max = -1e30, sum = 0;
      for (int64_t ch = 0; ch < C; ++ch) max = std::max(max, at(h, w, ch));
      for (int64_t ch = 0; ch < C; ++ch) sum += std::exp(at(h, w, ch) - max);
      for (int64_t ch = 0; ch < C; ++ch) {
        const size_t i = static_cast<size_t>((h * W + w) * C + ch);
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, ch - 2); k <= std::min<int64_t>(C - 1, ch + 2); ++k) sq += at(h, w, k) * at(h, w, k);
        EXPECT_NEAR(lrn_v[i], at(h, w, ch) / std::pow(1.5 + 0.3 * sq, 0.6), 1e-5) << "LRN " << i;
        EXPECT_NEAR(lsm_v[i], at(h, w, ch) - max - std::log(sum), 1e-5) << "LogSoftmax " << i;
        const double a = at(h, w, ch);
        EXPECT_NEAR(selu_v[i], a > 0 ? 1.0507009873554805 * a : 1.0507009873554805 * 1.6732632423543772 * (std::exp(a) - 1),
                    1e-5) << "Selu " << i;
        EXPECT_NEAR(sp_v[i], std::log1p(std::exp(a)), 1e-5) << "Softplus " << i;
        // DepthToSpace: out[h*2+i, w*2+j, c'] = in[h, w, (i*2 + j) * C/4 + c'].
        const int64_t blk = ch / (C / 4), cc = ch % (C / 4), oh = h * 2 + blk / 2, ow = w * 2 + blk % 2;
        EXPECT_EQ(d2s_v[static_cast<size_t>((oh * 2 * W + ow) * (C / 4) + cc)], v[i]) << "DepthToSpace " << i;
      }
    }
}

}  // namespace
}  // namespace kiln
