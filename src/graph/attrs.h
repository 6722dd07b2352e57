// Typed attributes of every op kind in kiln's graph IR.
//
// Importers translate each framework's attribute dictionaries into these structs, resolving
// everything that is static (auto_pad, constant shape inputs, opset differences) so that
// later layers never look at framework-specific spellings. Windowed ops (convolutions, pools)
// have one kernel size, stride and dilation per spatial axis: 1-D (NCW), 2-D (NCHW, images)
// or 3-D (NCDHW, volumes); their pads are ONNX's order, every axis's begin and then every
// axis's end ({top, left, bottom, right} in 2-D).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "kiln/tensor.h"

namespace kiln {

// Element-wise unary functions; also used as fused post-ops of convolutions.
enum class UnaryKind : uint8_t {
  kRelu,         // max(x, 0)
  kLeakyRelu,    // x >= 0 ? x : alpha * x
  kElu,          // x >= 0 ? x : alpha * (exp(x) - 1)
  kSigmoid,      // 1 / (1 + exp(-x))
  kTanh,
  kClip,         // min(max(x, alpha), beta)
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kHardSwish,    // x * max(0, min(1, x / 6 + 1 / 2))
  kExp,
  kAbs,
  kSqrt,
  kNeg,
  kLog,
  kReciprocal,       // 1 / x
  kSoftplus,         // log(1 + exp(x))
  kSoftsign,         // x / (1 + |x|)
  kSelu,             // beta * (x > 0 ? x : alpha * (exp(x) - 1)); beta is ONNX's gamma
  kThresholdedRelu,  // x > alpha ? x : 0
  kShrink,           // x < -alpha ? x + beta : x > alpha ? x - beta : 0 (alpha lambd, beta bias)
  kCelu,             // max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
  kErf,
  kSin, kCos, kTan, kAsin, kAcos, kAtan,
  kSinh, kCosh, kAsinh, kAcosh, kAtanh,
  kCeil, kFloor,
  kRound,            // to nearest, halves to even
  kSign,
};
const char* unary_kind_name(UnaryKind k);

struct UnaryAttrs {
  UnaryKind kind = UnaryKind::kRelu;
  float alpha = 0.0f;
  float beta = 0.0f;
  bool operator==(const UnaryAttrs&) const = default;
};

// Element-wise binary functions with NumPy broadcasting.
enum class BinaryKind : uint8_t { kAdd, kSub, kMul, kDiv, kMax, kMin, kPRelu, kPow };
const char* binary_kind_name(BinaryKind k);

// A post-op fused into a producing convolution: either an activation, or the addition of
// another tensor of the output's shape (a residual connection) given as an extra node input.
struct PostOp {
  enum class Kind : uint8_t { kUnary, kAddTensor };
  Kind kind = Kind::kUnary;
  UnaryAttrs unary;
  int input_index = -1;  // for kAddTensor: index into the node's inputs
  bool operator==(const PostOp&) const = default;
};

// Batch normalization recorded as a weight transform of the convolution before it:
// w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta.
// The four parameters are extra inputs of the conv node (weights), at these positions.
struct FoldedBatchNorm {
  bool present = false;
  float epsilon = 1e-5f;
  int gamma_input = -1, beta_input = -1, mean_input = -1, var_input = -1;
  bool operator==(const FoldedBatchNorm&) const = default;
};

using Spatial = std::vector<int64_t>;

struct ConvAttrs {
  Spatial kernel{1, 1};
  Spatial strides{1, 1};
  Spatial dilations{1, 1};
  Spatial pads{0, 0, 0, 0};
  int64_t group = 1;
  bool has_bias = false;  // inputs: [x, w, (b)]
  FoldedBatchNorm folded_bn;
  std::vector<PostOp> post_ops;
  // The conv reads its input upsampled 2x by nearest neighbour (a fused Resize): a 2x2
  // conv with pads {0,0,1,1} over it is a stride-2 transposed 3x3 conv of the input itself
  // (9 taps per 2x2 output block instead of 16), with weights derived at packing time.
  bool reads_upsampled_2x = false;
  bool operator==(const ConvAttrs&) const = default;
};

// Weights are [C_in, C_out / group, k...] as in ONNX. Pads are already combined with
// output_padding / output_shape at import.
struct ConvTransposeAttrs {
  Spatial kernel{1, 1};
  Spatial strides{1, 1};
  Spatial dilations{1, 1};
  Spatial pads{0, 0, 0, 0};  // may be negative on the end side: output_padding
  int64_t group = 1;
  bool has_bias = false;
  std::vector<PostOp> post_ops;
  bool operator==(const ConvTransposeAttrs&) const = default;
};

enum class PoolKind : uint8_t { kMax, kAverage };
struct PoolAttrs {
  PoolKind kind = PoolKind::kMax;
  bool global = false;
  Spatial kernel{1, 1};
  Spatial strides{1, 1};
  Spatial dilations{1, 1};
  // ceil_mode is already resolved into extra end pads (`ceil_pads`, one per axis), which never
  // count towards an average's divisor.
  Spatial pads{0, 0, 0, 0};
  Spatial ceil_pads{0, 0};
  bool count_include_pad = false;
  bool operator==(const PoolAttrs&) const = default;
};

struct BatchNormAttrs {  // inputs: [x, scale, bias, mean, var]
  float epsilon = 1e-5f;
  bool operator==(const BatchNormAttrs&) const = default;
};

struct BinaryAttrs {
  BinaryKind kind = BinaryKind::kAdd;
  bool operator==(const BinaryAttrs&) const = default;
};

// Normalisations over one axis (older opsets' flattening is resolved at import): softmax, its
// logarithm, and hardmax (1 where the axis's first maximum is, else 0).
enum class SoftmaxKind : uint8_t { kSoftmax, kLogSoftmax, kHardmax };
struct SoftmaxAttrs {
  int64_t axis = -1;
  SoftmaxKind kind = SoftmaxKind::kSoftmax;
  bool operator==(const SoftmaxAttrs&) const = default;
};

struct ConcatAttrs {
  int64_t axis = 1;  // non-negative
  bool operator==(const ConcatAttrs&) const = default;
};

enum class ResizeMode : uint8_t { kNearest, kLinear, kCubic };
enum class CoordTransform : uint8_t {
  kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn
};
enum class NearestRounding : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
// Resizes the spatial axes of an NCW, NCHW or NCDHW tensor (one out_size and scale each).
// Scales are output/input; they are used for coordinate mapping exactly as ONNX specifies
// (given scales, or out/in sizes).
struct ResizeAttrs {
  ResizeMode mode = ResizeMode::kNearest;
  CoordTransform coord = CoordTransform::kHalfPixel;
  NearestRounding nearest = NearestRounding::kRoundPreferFloor;
  Spatial out_size{1, 1};
  std::vector<float> scales{1.0f, 1.0f};
  float cubic_coeff_a = -0.75f;   // cubic: the kernel's a
  bool exclude_outside = false;   // cubic: taps outside the input weigh 0, the rest renormalised
  bool operator==(const ResizeAttrs&) const = default;
};

enum class PadMode : uint8_t { kConstant, kReflect, kEdge };
struct PadAttrs {
  PadMode mode = PadMode::kConstant;
  std::vector<int64_t> begin, end;  // per axis; negative values crop
  float value = 0.0f;
  bool operator==(const PadAttrs&) const = default;
};

struct ReshapeAttrs {  // also Flatten, Squeeze, Unsqueeze
  Shape shape;         // fully resolved
  bool operator==(const ReshapeAttrs&) const = default;
};

struct TransposeAttrs {
  std::vector<int64_t> perm;
  bool operator==(const TransposeAttrs&) const = default;
};

// Y = alpha * op(A) @ op(B) + beta * C (Gemm), or NumPy-style batched MatMul when
// `batched` (then alpha = 1, no C, no transposes).
struct MatMulAttrs {
  bool batched = false;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  bool has_c = false;  // inputs: [A, B, (C)]
  bool operator==(const MatMulAttrs&) const = default;
};

struct SliceAttrs {  // static slice with per-axis start/end/step, already clamped
  std::vector<int64_t> starts, ends, steps;
  bool operator==(const SliceAttrs&) const = default;
};

// Reductions over a set of axes: ONNX ReduceSum .. ReduceLogSumExp, TF Sum/Mean/Max/Min/Prod;
// and ArgMax/ArgMin over one axis, whose indices kiln holds as float32 (exact below 2^24).
enum class ReduceKind : uint8_t {
  kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSum, kLogSumExp, kArgMax, kArgMin
};
const char* reduce_kind_name(ReduceKind k);
struct ReduceAttrs {
  ReduceKind kind = ReduceKind::kSum;
  std::vector<int64_t> axes;  // non-negative, ascending, not empty (importers resolve "all")
  bool keepdims = true;
  bool select_last_index = false;  // ArgMax/ArgMin: of equal extremes, the last (else the first)
  bool operator==(const ReduceAttrs&) const = default;
};

// Local response normalisation across channels (ONNX LRN): y = x / (bias + alpha / size *
// sum of x^2 over the `size` channels around c)^beta.
struct LrnAttrs {
  int64_t size = 1;
  float alpha = 1e-4f, beta = 0.75f, bias = 1.0f;
  bool operator==(const LrnAttrs&) const = default;
};

enum class OpKind : uint8_t {
  kConv, kConvTranspose, kPool, kBatchNorm, kUnary, kBinary, kSoftmax, kConcat, kResize,
  kPad, kReshape, kTranspose, kMatMul, kSlice, kIdentity, kReduce, kLrn,
};
const char* op_kind_name(OpKind k);

// In OpKind order (Node::kind() is the index); new kinds go at the end, so that the
// fingerprints of graphs made of the older ones stay what they were.
using OpAttrs = std::variant<ConvAttrs, ConvTransposeAttrs, PoolAttrs, BatchNormAttrs, UnaryAttrs,
                             BinaryAttrs, SoftmaxAttrs, ConcatAttrs, ResizeAttrs, PadAttrs,
                             ReshapeAttrs, TransposeAttrs, MatMulAttrs, SliceAttrs, std::monostate,
                             ReduceAttrs, LrnAttrs>;

}  // namespace kiln
