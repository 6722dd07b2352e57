// Hand-derived cases for the naive reference kernels (src/reference/).
#include "reference/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace kiln {
namespace {

namespace ref = kiln::reference;
using Vec = std::vector<float>;

Tensor T(Shape s, Vec v) { return Tensor::from_floats(std::move(s), v); }
Vec values(const Tensor& t) { return Vec(t.data<float>(), t.data<float>() + t.elements()); }
Vec iota(int n, float start = 1.0f) {
  Vec v(n);
  for (int i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}
// Deterministic pseudo-random values in [-1, 1).
Vec noise(int n, uint32_t seed) {
  Vec v(n);
  for (float& f : v) {
    seed = seed * 1664525u + 1013904223u;
    f = static_cast<float>(seed >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

void expect_tensor(const Expected<Tensor>& y, const Shape& shape, const Vec& want,
                   float tol = 1e-5f) {
  ASSERT_TRUE(y) << y.error().message();
  ASSERT_EQ(y->shape(), shape);
  Vec got = values(*y);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

void expect_invalid(const Expected<Tensor>& y, const std::string& fragment = "") {
  ASSERT_FALSE(y);
  EXPECT_EQ(y.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(y.error().message().find(fragment), std::string::npos) << y.error().message();
}

ConvAttrs conv_attrs(int64_t k, int64_t stride = 1, int64_t pad = 0, int64_t dil = 1) {
  ConvAttrs a;
  a.kernel = {k, k};
  a.strides = {stride, stride};
  a.dilations = {dil, dil};
  a.pads = {pad, pad, pad, pad};
  return a;
}

// ---------------------------------------------------------------------------------- conv

TEST(ReferenceConv, Ones3x3On4x4WithBias) {
  // x = 1..16 row-major; each output is the sum of a 3x3 window plus bias 1.
  ConvAttrs a = conv_attrs(3);
  a.has_bias = true;
  std::vector<Tensor> in = {T({1, 1, 4, 4}, iota(16)), T({1, 1, 3, 3}, Vec(9, 1.0f)),
                            T({1}, {1.0f})};
  expect_tensor(ref::conv(a, in), {1, 1, 2, 2}, {55, 64, 91, 100});
}

TEST(ReferenceConv, PaddedStride2) {
  // Windows rows/cols {-1..1} or {1..3}: sums 1+2+5+6, 2+3+4+6+7+8, 5+6+9+10+13+14, 6+..+16.
  std::vector<Tensor> in = {T({1, 1, 4, 4}, iota(16)), T({1, 1, 3, 3}, Vec(9, 1.0f))};
  expect_tensor(ref::conv(conv_attrs(3, 2, 1), in), {1, 1, 2, 2}, {14, 30, 57, 99});
}

TEST(ReferenceConv, Dilated) {
  // 2x2 taps two apart: x[0][0] + x[0][2] + x[2][0] + x[2][2] = 1 + 3 + 9 + 11, ...
  std::vector<Tensor> in = {T({1, 1, 4, 4}, iota(16)), T({1, 1, 2, 2}, Vec(4, 1.0f))};
  expect_tensor(ref::conv(conv_attrs(2, 1, 0, 2), in), {1, 1, 2, 2}, {24, 28, 40, 44});
}

TEST(ReferenceConv, ChannelsAndGroups) {
  // 1x1 conv mixing 2 input channels into 3 outputs.
  std::vector<Tensor> in = {T({1, 2, 1, 1}, {1, 2}), T({3, 2, 1, 1}, {1, 1, 1, -1, 0, 2})};
  expect_tensor(ref::conv(conv_attrs(1), in), {1, 3, 1, 1}, {3, -1, 4});
  // Depthwise: group 2, channel 0 times 2, channel 1 times 3.
  ConvAttrs a = conv_attrs(1);
  a.group = 2;
  std::vector<Tensor> dw = {T({1, 2, 1, 2}, {1, 2, 3, 4}), T({2, 1, 1, 1}, {2, 3})};
  expect_tensor(ref::conv(a, dw), {1, 2, 1, 2}, {2, 4, 9, 12});
}

TEST(ReferenceConv, FoldedBatchNormThenPostOpsInOrder) {
  // conv: 2 * x + 1 = {3, -5}. BN: gamma 2, beta 1, mean 1, var 3, eps 1 -> (y - 1) * 1 + 1.
  ConvAttrs a = conv_attrs(1);
  a.has_bias = true;
  a.folded_bn = {true, 1.0f, 3, 4, 5, 6};
  PostOp relu;
  relu.unary.kind = UnaryKind::kRelu;
  PostOp add;
  add.kind = PostOp::Kind::kAddTensor;
  add.input_index = 7;
  std::vector<Tensor> in = {T({1, 1, 1, 2}, {1, -3}), T({1, 1, 1, 1}, {2}), T({1}, {1}),
                            T({1}, {2}), T({1}, {1}), T({1}, {1}), T({1}, {3}),
                            T({1, 1, 1, 2}, {-10, 1})};
  a.post_ops = {relu, add};  // relu({3, -5}) + {-10, 1}
  expect_tensor(ref::conv(a, in), {1, 1, 1, 2}, {-7, 1});
  a.post_ops = {add, relu};  // relu({3, -5} + {-10, 1})
  expect_tensor(ref::conv(a, in), {1, 1, 1, 2}, {0, 0});
}

TEST(ReferenceConv, Errors) {
  std::vector<Tensor> bad_c = {T({1, 3, 4, 4}, Vec(48)), T({2, 2, 3, 3}, Vec(36))};
  expect_invalid(ref::conv(conv_attrs(3), bad_c), "does not match input channels");
  std::vector<Tensor> one = {T({1, 1, 4, 4}, Vec(16))};
  expect_invalid(ref::conv(conv_attrs(3), one), "inputs");
  std::vector<Tensor> rank3 = {T({1, 4, 4}, Vec(16)), T({1, 1, 3, 3}, Vec(9))};
  expect_invalid(ref::conv(conv_attrs(3), rank3), "rank 4");
  std::vector<Tensor> big = {T({1, 1, 2, 2}, Vec(4)), T({1, 1, 3, 3}, Vec(9))};
  expect_invalid(ref::conv(conv_attrs(3), big), "larger than input");
  std::vector<Tensor> ok = {T({1, 1, 4, 4}, Vec(16)), T({1, 1, 3, 3}, Vec(9))};
  expect_invalid(ref::conv(conv_attrs(2), ok), "kernel attribute");
  ConvAttrs a = conv_attrs(3);
  PostOp add;
  add.kind = PostOp::Kind::kAddTensor;
  add.input_index = 5;
  a.post_ops = {add};
  expect_invalid(ref::conv(a, ok), "add-tensor");
}

// ------------------------------------------------------------------------ conv_transpose

TEST(ReferenceConvTranspose, HandComputed) {
  ConvTransposeAttrs a;
  a.kernel = {2, 2};
  std::vector<Tensor> in = {T({1, 1, 2, 2}, {1, 2, 3, 4}), T({1, 1, 2, 2}, Vec(4, 1.0f))};
  // Stride 1: each pixel stamps a 2x2 block of ones at its position; overlaps add.
  expect_tensor(ref::conv_transpose(a, in), {1, 1, 3, 3}, {1, 3, 2, 4, 10, 6, 3, 7, 4});
  // Stride 2: blocks tile without overlap.
  a.strides = {2, 2};
  expect_tensor(ref::conv_transpose(a, in), {1, 1, 4, 4},
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // output_padding 1 as negative end pads: an extra row and column holding just the bias.
  a.pads = {0, 0, -1, -1};
  a.has_bias = true;
  in.push_back(T({1}, {5}));
  expect_tensor(ref::conv_transpose(a, in), {1, 1, 5, 5},
                {6, 6, 7, 7, 5, 6, 6, 7, 7, 5, 8, 8, 9, 9, 5, 8, 8, 9, 9, 5, 5, 5, 5, 5, 5});
}

TEST(ReferenceConvTranspose, MatchesScatterDefinition) {
  // N=2, C=4, H=3, W=2, group 2, M = 3 * 2, kernel 3x2, stride {2,1}, dilation {1,2},
  // pads {1, 0, 0, -1} (the -1 is an output_padding of 1 on the right), bias.
  const int64_t N = 2, C = 4, H = 3, W = 2, G = 2, Mg = 3, M = Mg * G, KH = 3, KW = 2;
  ConvTransposeAttrs a;
  a.kernel = {KH, KW};
  a.strides = {2, 1};
  a.dilations = {1, 2};
  a.pads = {1, 0, 0, -1};
  a.group = G;
  a.has_bias = true;
  const Vec x = noise(N * C * H * W, 1), w = noise(C * Mg * KH * KW, 2), b = noise(M, 3);
  const int64_t OH = 2 * (H - 1) + (KH - 1) + 1 - 1 - 0;
  const int64_t OW = 1 * (W - 1) + 2 * (KW - 1) + 1 - 0 + 1;
  std::vector<double> want(N * M * OH * OW);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < OH * OW; ++i) want[(n * M + m) * OH * OW + i] = b[m];
  // Every input pixel scatters x * w into the output (the textbook definition).
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t iw = 0; iw < W; ++iw)
          for (int64_t mo = 0; mo < Mg; ++mo)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t oh = ih * 2 - 1 + kh, ow = iw * 1 - 0 + kw * 2;
                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                const int64_t m = (c / (C / G)) * Mg + mo;
                want[((n * M + m) * OH + oh) * OW + ow] +=
                    x[((n * C + c) * H + ih) * W + iw] * w[((c * Mg + mo) * KH + kh) * KW + kw];
              }
  std::vector<Tensor> in = {T({N, C, H, W}, x), T({C, Mg, KH, KW}, w), T({M}, b)};
  expect_tensor(ref::conv_transpose(a, in), {N, M, OH, OW}, Vec(want.begin(), want.end()));
}

TEST(ReferenceConvTranspose, IsAdjointOfConv) {
  // <conv(x), y> == <x, conv_transpose(y)> for the same weights, strides, pads, dilations.
  ConvAttrs c = conv_attrs(3, 2, 1);
  ConvTransposeAttrs t;
  t.kernel = {3, 3};
  t.strides = {2, 2};
  t.pads = {1, 1, 1, 1};
  const Tensor x = T({1, 2, 5, 5}, noise(50, 7)), w = T({3, 2, 3, 3}, noise(54, 8));
  const Tensor y = T({1, 3, 3, 3}, noise(27, 9));
  std::vector<Tensor> cin = {x, w}, tin = {y, w};
  Expected<Tensor> cx = ref::conv(c, cin), ty = ref::conv_transpose(t, tin);
  ASSERT_TRUE(cx && ty);
  ASSERT_EQ(ty->shape(), x.shape());
  double lhs = 0, rhs = 0;
  for (int i = 0; i < 27; ++i) lhs += double(cx->data<float>()[i]) * y.data<float>()[i];
  for (int i = 0; i < 50; ++i) rhs += double(x.data<float>()[i]) * ty->data<float>()[i];
  EXPECT_NEAR(lhs, rhs, 1e-4);
}

TEST(ReferenceConvTranspose, Errors) {
  ConvTransposeAttrs a;
  a.kernel = {2, 2};
  std::vector<Tensor> in = {T({1, 2, 2, 2}, Vec(8)), T({3, 1, 2, 2}, Vec(12))};
  expect_invalid(ref::conv_transpose(a, in), "does not match input channels");
  a.pads = {2, 2, 2, 2};
  std::vector<Tensor> small = {T({1, 1, 1, 1}, {1}), T({1, 1, 2, 2}, Vec(4))};
  expect_invalid(ref::conv_transpose(a, small), "empty output");
}

// ---------------------------------------------------------------------------------- pool

TEST(ReferencePool, MaxAndDilatedMax) {
  PoolAttrs a;
  a.kernel = {2, 2};
  a.strides = {2, 2};
  std::vector<Tensor> in = {T({1, 1, 4, 4}, iota(16))};
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, {6, 8, 14, 16});
  a.strides = {1, 1};
  a.dilations = {2, 2};
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, {11, 12, 15, 16});
}

TEST(ReferencePool, AveragePadding) {
  // 3x3 windows with pad 1 over a 2x2 input each cover the whole input (sum 10).
  PoolAttrs a;
  a.kind = PoolKind::kAverage;
  a.kernel = {3, 3};
  a.pads = {1, 1, 1, 1};
  std::vector<Tensor> in = {T({1, 1, 2, 2}, {1, 2, 3, 4})};
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, Vec(4, 2.5f));
  a.count_include_pad = true;
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, Vec(4, 10.0f / 9.0f));
}

TEST(ReferencePool, CeilPadsNeverCounted) {
  // 3x3 input, kernel 2, stride 2, ceil mode: the last row/column windows are partial.
  PoolAttrs a;
  a.kind = PoolKind::kAverage;
  a.kernel = {2, 2};
  a.strides = {2, 2};
  a.ceil_pads = {1, 1};
  std::vector<Tensor> in = {T({1, 1, 3, 3}, iota(9))};
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, {3, 4.5f, 7.5f, 9});
  a.count_include_pad = true;  // no explicit pads, so nothing changes
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, {3, 4.5f, 7.5f, 9});
  a.kind = PoolKind::kMax;
  expect_tensor(ref::pool(a, in), {1, 1, 2, 2}, {5, 6, 8, 9});

  // 4x4, kernel 3, stride 2, pads 1, ceil 1: window rows {-1..1}, {1..3}, {3..5}; row 4 is an
  // explicit pad (counted with count_include_pad), row 5 a ceil pad (never counted).
  a.kind = PoolKind::kAverage;
  a.kernel = {3, 3};
  a.pads = {1, 1, 1, 1};
  std::vector<Tensor> in4 = {T({1, 1, 4, 4}, iota(16))};
  Expected<Tensor> y = ref::pool(a, in4);
  ASSERT_TRUE(y);
  ASSERT_EQ(y->shape(), (Shape{1, 1, 3, 3}));
  EXPECT_NEAR(y->data<float>()[0], 14.0f / 9.0f, 1e-6);  // 1+2+5+6 over 3x3
  EXPECT_NEAR(y->data<float>()[2], 12.0f / 6.0f, 1e-6);  // 4+8 over 3 rows x 2 cols
  EXPECT_NEAR(y->data<float>()[8], 16.0f / 4.0f, 1e-6);  // 16 over 2x2
  a.count_include_pad = false;
  y = ref::pool(a, in4);
  ASSERT_TRUE(y);
  EXPECT_NEAR(y->data<float>()[0], 14.0f / 4.0f, 1e-6);
  EXPECT_NEAR(y->data<float>()[8], 16.0f, 1e-6);
}

TEST(ReferencePool, GlobalAndErrors) {
  PoolAttrs a;
  a.global = true;
  std::vector<Tensor> in = {T({1, 2, 1, 2}, {1, 2, 3, 5})};
  expect_tensor(ref::pool(a, in), {1, 2, 1, 1}, {2, 5});
  a.kind = PoolKind::kAverage;
  expect_tensor(ref::pool(a, in), {1, 2, 1, 1}, {1.5f, 4});
  std::vector<Tensor> rank2 = {T({2, 2}, Vec(4))};
  expect_invalid(ref::pool(a, rank2), "rank 3 to 5");
  a.global = false;
  a.kernel = {3, 3};
  expect_invalid(ref::pool(a, in), "larger than input");
}

// ---------------------------------------------------------------------------- batch_norm

TEST(ReferenceBatchNorm, Rank3) {
  // channel 0: (x - 1) / sqrt(3 + 1) * 2 + 0; channel 1: (x - 2) / sqrt(0 + 1) * 1 + 1.
  BatchNormAttrs a;
  a.epsilon = 1.0f;
  std::vector<Tensor> in = {T({1, 2, 2}, {1, 3, 2, 4}), T({2}, {2, 1}), T({2}, {0, 1}),
                            T({2}, {1, 2}), T({2}, {3, 0})};
  expect_tensor(ref::batch_norm(a, in), {1, 2, 2}, {0, 2, 1, 3});
  in[3] = T({3}, {1, 2, 3});
  expect_invalid(ref::batch_norm(a, in), "mean");
  in.pop_back();
  expect_invalid(ref::batch_norm(a, in), "inputs");
}

// --------------------------------------------------------------------------------- unary

TEST(ReferenceUnary, AllKinds) {
  auto f = [](UnaryKind k, float x, float alpha = 0, float beta = 0) {
    return ref::apply_unary({k, alpha, beta}, x);
  };
  EXPECT_EQ(f(UnaryKind::kRelu, -2), 0);
  EXPECT_EQ(f(UnaryKind::kRelu, 3), 3);
  EXPECT_FLOAT_EQ(f(UnaryKind::kLeakyRelu, -2, 0.1f), -0.2f);
  EXPECT_FLOAT_EQ(f(UnaryKind::kElu, -1, 2.0f), 2.0f * (std::exp(-1.0f) - 1.0f));
  EXPECT_EQ(f(UnaryKind::kElu, 1.5f, 2.0f), 1.5f);
  EXPECT_FLOAT_EQ(f(UnaryKind::kSigmoid, 0), 0.5f);
  EXPECT_NEAR(f(UnaryKind::kSigmoid, -200), 0.0f, 1e-30);
  EXPECT_EQ(f(UnaryKind::kSigmoid, 200), 1.0f);
  EXPECT_FLOAT_EQ(f(UnaryKind::kTanh, 0.5f), std::tanh(0.5f));
  EXPECT_EQ(f(UnaryKind::kClip, 2, -1, 1), 1);
  EXPECT_EQ(f(UnaryKind::kClip, -2, -1, 1), -1);
  EXPECT_EQ(f(UnaryKind::kClip, 0.5f, -1, 1), 0.5f);
  EXPECT_FLOAT_EQ(f(UnaryKind::kHardSigmoid, 1, 0.2f, 0.5f), 0.7f);
  EXPECT_EQ(f(UnaryKind::kHardSigmoid, -5, 0.2f, 0.5f), 0);
  EXPECT_EQ(f(UnaryKind::kHardSigmoid, 5, 0.2f, 0.5f), 1);
  EXPECT_EQ(f(UnaryKind::kHardSwish, 3), 3);
  EXPECT_EQ(f(UnaryKind::kHardSwish, -3), 0);
  EXPECT_FLOAT_EQ(f(UnaryKind::kHardSwish, 1), 2.0f / 3.0f);
  EXPECT_FLOAT_EQ(f(UnaryKind::kExp, 1), std::exp(1.0f));
  EXPECT_EQ(f(UnaryKind::kAbs, -4), 4);
  EXPECT_EQ(f(UnaryKind::kSqrt, 9), 3);
  EXPECT_EQ(f(UnaryKind::kNeg, 2), -2);

  std::vector<Tensor> in = {T({2, 2}, {-1, 2, -3, 4})};
  expect_tensor(ref::unary({UnaryKind::kAbs}, in), {2, 2}, {1, 2, 3, 4});
  expect_invalid(ref::unary({}, std::vector<Tensor>{}), "input");
}

// -------------------------------------------------------------------------------- binary

TEST(ReferenceBinary, BroadcastAdd) {
  // [2,1,3] + [4,1] -> [2,4,3]; a[i,0,k] = 10 i + k, b[j,0] = 100 j.
  std::vector<Tensor> in = {T({2, 1, 3}, {0, 1, 2, 10, 11, 12}), T({4, 1}, {0, 100, 200, 300})};
  Vec want;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) want.push_back(10.0f * i + k + 100.0f * j);
  expect_tensor(ref::binary({BinaryKind::kAdd}, in), {2, 4, 3}, want);
}

TEST(ReferenceBinary, KindsAndOperandOrder) {
  std::vector<Tensor> in = {T({3}, {1, 6, -2}), T({}, {2})};
  expect_tensor(ref::binary({BinaryKind::kSub}, in), {3}, {-1, 4, -4});
  expect_tensor(ref::binary({BinaryKind::kMul}, in), {3}, {2, 12, -4});
  expect_tensor(ref::binary({BinaryKind::kDiv}, in), {3}, {0.5f, 3, -1});
  expect_tensor(ref::binary({BinaryKind::kMax}, in), {3}, {2, 6, 2});
  expect_tensor(ref::binary({BinaryKind::kMin}, in), {3}, {1, 2, -2});
  std::vector<Tensor> rev = {T({}, {2}), T({3}, {1, 6, -2})};
  expect_tensor(ref::binary({BinaryKind::kSub}, rev), {3}, {1, -4, 4});
}

TEST(ReferenceBinary, PReluAndErrors) {
  // Slope [2,1] broadcast to x [1,2,2]: row 0 uses slope 0.5, row 1 slope 0.25.
  std::vector<Tensor> in = {T({1, 2, 2}, {-1, 2, -4, 4}), T({2, 1}, {0.5f, 0.25f})};
  expect_tensor(ref::binary({BinaryKind::kPRelu}, in), {1, 2, 2}, {-0.5f, 2, -1, 4});
  std::vector<Tensor> grow = {T({2}, {-1, 1}), T({2, 2}, Vec(4, 0.5f))};
  expect_invalid(ref::binary({BinaryKind::kPRelu}, grow), "cannot be broadcast");
  std::vector<Tensor> bad = {T({2, 3}, Vec(6)), T({4}, Vec(4))};
  expect_invalid(ref::binary({BinaryKind::kAdd}, bad), "[2,3] and [4]");
  std::vector<Tensor> three = {T({1}, {1}), T({1}, {1}), T({1}, {1})};
  expect_invalid(ref::binary({BinaryKind::kAdd}, three), "inputs");
}

// ------------------------------------------------------------------------------- softmax

TEST(ReferenceSoftmax, ValuesStabilityAndAxes) {
  // softmax({0, ln 3}) = {1/4, 3/4}; shifting by 1000 must not overflow.
  const float l3 = std::log(3.0f);
  // (1000 + ln 3 is only representable to ~6e-5 in float, hence the looser tolerance.)
  std::vector<Tensor> in = {T({2, 2}, {0, l3, 1000, 1000 + l3})};
  expect_tensor(ref::softmax({-1}, in), {2, 2}, {0.25f, 0.75f, 0.25f, 0.75f}, 1e-4f);
  // Axis 0 of [[0, 0], [ln 3, ln 3]]: each column is {1/4, 3/4}.
  std::vector<Tensor> col = {T({2, 2}, {0, 0, l3, l3})};
  expect_tensor(ref::softmax({0}, col), {2, 2}, {0.25f, 0.25f, 0.75f, 0.75f});

  std::vector<Tensor> big = {T({2, 3, 2}, noise(12, 5))};
  Expected<Tensor> y = ref::softmax({1}, big);
  ASSERT_TRUE(y);
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 2; ++i) {
      float s = 0;
      for (int k = 0; k < 3; ++k) s += y->data<float>()[o * 6 + k * 2 + i];
      EXPECT_NEAR(s, 1.0f, 1e-6);
    }
  expect_invalid(ref::softmax({3}, big), "axis 3");
  expect_invalid(ref::softmax({-4}, big), "axis -4");
}

// -------------------------------------------------------------------------------- concat

TEST(ReferenceConcat, AxesAndErrors) {
  std::vector<Tensor> in = {T({2, 1}, {1, 2}), T({2, 2}, {3, 4, 5, 6})};
  expect_tensor(ref::concat({1}, in), {2, 3}, {1, 3, 4, 2, 5, 6});
  std::vector<Tensor> rows = {T({1, 2}, {1, 2}), T({2, 2}, {3, 4, 5, 6})};
  expect_tensor(ref::concat({0}, rows), {3, 2}, {1, 2, 3, 4, 5, 6});
  expect_invalid(ref::concat({1}, rows), "does not match");
  expect_invalid(ref::concat({2}, rows), "out of range");
}

// -------------------------------------------------------------------------------- resize

ResizeAttrs resize_attrs(ResizeMode m, CoordTransform c, int64_t oh, int64_t ow, float sh,
                         float sw, NearestRounding r = NearestRounding::kRoundPreferFloor) {
  return {m, c, r, {oh, ow}, {sh, sw}};
}

TEST(ReferenceResize, NearestAsymmetricX2) {
  // x_in = x_out / 2 = 0, 0.5, 1, 1.5; prefer-floor rounds the halves down.
  std::vector<Tensor> in = {T({1, 1, 2, 2}, {1, 2, 3, 4})};
  auto a = resize_attrs(ResizeMode::kNearest, CoordTransform::kAsymmetric, 4, 4, 2, 2);
  expect_tensor(ref::resize(a, in), {1, 1, 4, 4},
                {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Prefer-ceil rounds them up: 0, 1, 1, 2 -> clamped to 1.
  a.nearest = NearestRounding::kRoundPreferCeil;
  expect_tensor(ref::resize(a, in), {1, 1, 4, 4},
                {1, 2, 2, 2, 3, 4, 4, 4, 3, 4, 4, 4, 3, 4, 4, 4});
}

TEST(ReferenceResize, NearestRoundingAndTransforms) {
  // Downscale a row of 4 to 2 (scale 0.5). half_pixel: x_in = 0.5, 2.5.
  std::vector<Tensor> in = {T({1, 1, 1, 4}, {10, 20, 30, 40})};
  auto a = resize_attrs(ResizeMode::kNearest, CoordTransform::kHalfPixel, 1, 2, 1, 0.5f);
  expect_tensor(ref::resize(a, in), {1, 1, 1, 2}, {10, 30});
  a.nearest = NearestRounding::kRoundPreferCeil;
  expect_tensor(ref::resize(a, in), {1, 1, 1, 2}, {20, 40});
  a.nearest = NearestRounding::kFloor;
  expect_tensor(ref::resize(a, in), {1, 1, 1, 2}, {10, 30});
  a.nearest = NearestRounding::kCeil;
  expect_tensor(ref::resize(a, in), {1, 1, 1, 2}, {20, 40});
  // tf_half_pixel_for_nn: x_in = (x_out + 0.5) / 0.5 = 1, 3.
  a.coord = CoordTransform::kTfHalfPixelForNn;
  a.nearest = NearestRounding::kRoundPreferFloor;
  expect_tensor(ref::resize(a, in), {1, 1, 1, 2}, {20, 40});
}

TEST(ReferenceResize, LinearAlignCorners2x2) {
  // 2x2 -> 3x3: x_in = 0, 0.5, 1 on both axes.
  std::vector<Tensor> in = {T({1, 1, 2, 2}, {1, 2, 3, 4})};
  auto a = resize_attrs(ResizeMode::kLinear, CoordTransform::kAlignCorners, 3, 3, 1.5f, 1.5f);
  expect_tensor(ref::resize(a, in), {1, 1, 3, 3}, {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
}

TEST(ReferenceResize, LinearHalfPixelClamps) {
  // 2x2 -> 4x4: x_in = -0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1.
  // The input is 1 + col + 2 row, which bilinear interpolation reproduces exactly.
  std::vector<Tensor> in = {T({1, 1, 2, 2}, {1, 2, 3, 4})};
  auto a = resize_attrs(ResizeMode::kLinear, CoordTransform::kHalfPixel, 4, 4, 2, 2);
  const float p[4] = {0, 0.25f, 0.75f, 1};
  Vec want;
  for (float r : p)
    for (float c : p) want.push_back(1 + c + 2 * r);
  expect_tensor(ref::resize(a, in), {1, 1, 4, 4}, want);
  // Down to 1x1: half_pixel samples the centre, pytorch_half_pixel the origin.
  a = resize_attrs(ResizeMode::kLinear, CoordTransform::kHalfPixel, 1, 1, 0.5f, 0.5f);
  expect_tensor(ref::resize(a, in), {1, 1, 1, 1}, {2.5f});
  a.coord = CoordTransform::kPytorchHalfPixel;
  expect_tensor(ref::resize(a, in), {1, 1, 1, 1}, {1});
}

TEST(ReferenceResize, Errors) {
  std::vector<Tensor> rank3 = {T({1, 2, 2}, Vec(4))};
  auto a = resize_attrs(ResizeMode::kNearest, CoordTransform::kAsymmetric, 4, 4, 2, 2);
  expect_invalid(ref::resize(a, rank3), "2 output sizes and 2 scales for input [1,2,2]");
  std::vector<Tensor> in = {T({1, 1, 2, 2}, Vec(4))};
  a.out_size = {0, 4};
  expect_invalid(ref::resize(a, in), "output size");
}

// ----------------------------------------------------------------------------------- pad

PadAttrs pad_attrs(PadMode m, std::vector<int64_t> b, std::vector<int64_t> e, float v = 0) {
  return {m, std::move(b), std::move(e), v};
}

TEST(ReferencePad, Modes1D) {
  std::vector<Tensor> in = {T({3}, {1, 2, 3})};
  expect_tensor(ref::pad(pad_attrs(PadMode::kReflect, {2}, {2}), in), {7},
                {3, 2, 1, 2, 3, 2, 1});
  expect_tensor(ref::pad(pad_attrs(PadMode::kEdge, {2}, {2}), in), {7}, {1, 1, 1, 2, 3, 3, 3});
  expect_tensor(ref::pad(pad_attrs(PadMode::kConstant, {2}, {2}, 9), in), {7},
                {9, 9, 1, 2, 3, 9, 9});
  // Negative pads crop.
  expect_tensor(ref::pad(pad_attrs(PadMode::kConstant, {-1}, {1}), in), {3}, {2, 3, 0});
  expect_tensor(ref::pad(pad_attrs(PadMode::kConstant, {-1}, {-2}), in), {0}, {});
}

TEST(ReferencePad, Reflect2DLongPadsAndCropFirst) {
  std::vector<Tensor> in = {T({2, 2}, {1, 2, 3, 4})};
  expect_tensor(ref::pad(pad_attrs(PadMode::kReflect, {1, 0}, {0, 1}), in), {3, 3},
                {3, 4, 3, 1, 2, 1, 3, 4, 3});
  // Pads longer than the axis keep reflecting: [1, 2] with 2 in front -> [1, 2, 1, 2].
  std::vector<Tensor> row = {T({2}, {1, 2})};
  expect_tensor(ref::pad(pad_attrs(PadMode::kReflect, {2}, {0}), row), {4}, {1, 2, 1, 2});
  // Crop [1,2,3,4] to [1,2] first, then reflect-pad 2 in front.
  std::vector<Tensor> four = {T({4}, {1, 2, 3, 4})};
  expect_tensor(ref::pad(pad_attrs(PadMode::kReflect, {2}, {-2}), four), {4}, {1, 2, 1, 2});
  expect_tensor(ref::pad(pad_attrs(PadMode::kEdge, {2}, {-3}), four), {3}, {1, 1, 1});
}

TEST(ReferencePad, Errors) {
  std::vector<Tensor> in = {T({3}, {1, 2, 3})};
  expect_invalid(ref::pad(pad_attrs(PadMode::kConstant, {1, 1}, {1, 1}), in), "pads");
  expect_invalid(ref::pad(pad_attrs(PadMode::kConstant, {-2}, {-2}), in), "crop");
  expect_invalid(ref::pad(pad_attrs(PadMode::kEdge, {-3}, {1}), in), "empty axis");
}

// ------------------------------------------------------------- reshape, transpose, slice

TEST(ReferenceReshape, CopiesAndChecksCount) {
  Tensor x = T({2, 3}, iota(6));
  std::vector<Tensor> in = {x};
  Expected<Tensor> y = ref::reshape({{3, 1, 2}}, in);
  expect_tensor(y, {3, 1, 2}, iota(6));
  y->data<float>()[0] = 100;
  EXPECT_EQ(x.data<float>()[0], 1);  // not an alias
  expect_invalid(ref::reshape({{4, 2}}, in), "6 elements");
}

TEST(ReferenceTranspose, Permutations) {
  std::vector<Tensor> in = {T({2, 3}, iota(6))};
  expect_tensor(ref::transpose({{1, 0}}, in), {3, 2}, {1, 4, 2, 5, 3, 6});
  expect_tensor(ref::transpose({{}}, in), {3, 2}, {1, 4, 2, 5, 3, 6});  // default: reverse
  // y[k][i][j] = x[i][j][k] for perm {2, 0, 1}.
  std::vector<Tensor> x3 = {T({2, 3, 4}, iota(24, 0))};
  Vec want;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) want.push_back(float(i * 12 + j * 4 + k));
  expect_tensor(ref::transpose({{2, 0, 1}}, x3), {4, 2, 3}, want);
  expect_invalid(ref::transpose({{0, 0, 1}}, x3), "not a permutation");
  expect_invalid(ref::transpose({{1, 0}}, x3), "not a permutation");
}

TEST(ReferenceSlice, StepsAndReverse) {
  std::vector<Tensor> in = {T({10}, iota(10, 0))};
  expect_tensor(ref::slice({{1}, {8}, {3}}, in), {3}, {1, 4, 7});
  expect_tensor(ref::slice({{9}, {-1}, {-1}}, in), {10}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  expect_tensor(ref::slice({{8}, {2}, {-2}}, in), {3}, {8, 6, 4});
  expect_tensor(ref::slice({{5}, {5}, {1}}, in), {0}, {});
  // 2-D: rows 0 and 2, columns reversed.
  std::vector<Tensor> m = {T({3, 4}, iota(12, 0))};
  expect_tensor(ref::slice({{0, 3}, {3, -1}, {2, -1}}, m), {2, 4}, {3, 2, 1, 0, 11, 10, 9, 8});
  expect_invalid(ref::slice({{0}, {5}, {0}}, in), "not normalised");
  expect_invalid(ref::slice({{0}, {11}, {1}}, in), "not normalised");
  expect_invalid(ref::slice({{0, 0}, {1, 1}, {1, 1}}, in), "one start");
}

// -------------------------------------------------------------------------------- matmul

TEST(ReferenceMatMul, Gemm) {
  const Vec a = {1, 2, 3, 4, 5, 6}, b = {7, 8, 9, 10, 11, 12};  // A [2,3], B [3,2]
  MatMulAttrs g;
  std::vector<Tensor> in = {T({2, 3}, a), T({3, 2}, b)};
  expect_tensor(ref::matmul(g, in), {2, 2}, {58, 64, 139, 154});
  // Same product from A^T [3,2] and B^T [2,3].
  g.trans_a = g.trans_b = true;
  std::vector<Tensor> tin = {T({3, 2}, {1, 4, 2, 5, 3, 6}), T({2, 3}, {7, 9, 11, 8, 10, 12})};
  expect_tensor(ref::matmul(g, tin), {2, 2}, {58, 64, 139, 154});
  // alpha 2, beta 1, C broadcast along rows ([2]) or along columns ([2,1]).
  g = {};
  g.alpha = 2;
  g.has_c = true;
  in.push_back(T({2}, {1, 2}));
  expect_tensor(ref::matmul(g, in), {2, 2}, {117, 130, 279, 310});
  in[2] = T({2, 1}, {1, 2});
  expect_tensor(ref::matmul(g, in), {2, 2}, {117, 129, 280, 310});
  in[2] = T({3}, {1, 2, 3});
  expect_invalid(ref::matmul(g, in), "C shape");
  std::vector<Tensor> k_bad = {T({2, 3}, a), T({2, 3}, b)};
  expect_invalid(ref::matmul({}, k_bad), "inner dimensions");
}

TEST(ReferenceMatMul, BatchedNumpySemantics) {
  MatMulAttrs m;
  m.batched = true;
  // [2,1,3] x [3,1] -> [2,1,1] (B broadcast over the batch).
  std::vector<Tensor> in = {T({2, 1, 3}, {1, 2, 3, 4, 5, 6}), T({3, 1}, {1, 0, -1})};
  expect_tensor(ref::matmul(m, in), {2, 1, 1}, {-2, -2});
  // Batch dims broadcast both ways: [2,1,1,2] x [3,2,1] -> [2,3,1,1].
  std::vector<Tensor> bb = {T({2, 1, 1, 2}, {1, 1, 1, -1}), T({3, 2, 1}, {1, 2, 3, 4, 5, 6})};
  expect_tensor(ref::matmul(m, bb), {2, 3, 1, 1}, {3, 7, 11, -1, -1, -1});
  // 1-D operands: dot product -> scalar; vector x matrix; matrix x vector.
  std::vector<Tensor> dot = {T({3}, {1, 2, 3}), T({3}, {4, 5, 6})};
  expect_tensor(ref::matmul(m, dot), {}, {32});
  std::vector<Tensor> vm = {T({2}, {1, 2}), T({2, 2, 3}, iota(12))};
  expect_tensor(ref::matmul(m, vm), {2, 3}, {9, 12, 15, 27, 30, 33});
  std::vector<Tensor> mv = {T({2, 3}, iota(6)), T({3}, {1, 0, -1})};
  expect_tensor(ref::matmul(m, mv), {2}, {-2, -2});
  std::vector<Tensor> bad = {T({2, 2, 3}, Vec(12)), T({3, 3, 1}, Vec(9))};
  expect_invalid(ref::matmul(m, bad), "cannot be broadcast");
  m.trans_a = true;
  expect_invalid(ref::matmul(m, dot), "batched");
}

// ----------------------------------------------------------------------------------- run

TEST(ReferenceRun, DispatchAndIdentity) {
  Tensor x = T({2}, {-1, 2});
  std::vector<Tensor> in = {x};
  expect_tensor(ref::run(OpAttrs{UnaryAttrs{UnaryKind::kRelu}}, in), {2}, {0, 2});
  expect_tensor(ref::run(OpAttrs{TransposeAttrs{{0}}}, in), {2}, {-1, 2});
  Expected<Tensor> id = ref::run(OpAttrs{std::monostate{}}, in);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->data<float>(), x.data<float>());
  expect_invalid(ref::run(OpAttrs{std::monostate{}}, std::vector<Tensor>{}), "identity");
  std::vector<Tensor> ints = {Tensor::from_i64({2}, {1, 2})};
  expect_invalid(ref::run(OpAttrs{UnaryAttrs{}}, ints), "float32");
  std::vector<Tensor> missing = {Tensor(), Tensor()};
  expect_invalid(ref::run(OpAttrs{BinaryAttrs{}}, missing), "missing");
}

}  // namespace
}  // namespace kiln
