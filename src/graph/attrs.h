// Typed attributes of every op kind in kiln's graph IR.
//
// Importers translate each framework's attribute dictionaries into these structs, resolving
// everything that is static (auto_pad, constant shape inputs, opset differences) so that
// later layers never look at framework-specific spellings. Spatial attributes are 2-D:
// kiln runs image models, NCHW, and importers reject other ranks with a clear message.
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
};
const char* unary_kind_name(UnaryKind k);

struct UnaryAttrs {
  UnaryKind kind = UnaryKind::kRelu;
  float alpha = 0.0f;
  float beta = 0.0f;
  bool operator==(const UnaryAttrs&) const = default;
};

// Element-wise binary functions with NumPy broadcasting.
enum class BinaryKind : uint8_t { kAdd, kSub, kMul, kDiv, kMax, kMin, kPRelu };
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

// Pads are {top, left, bottom, right}.
struct ConvAttrs {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
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

// Weights are [C_in, C_out / group, kH, kW] as in ONNX. Pads are {top, left, bottom, right},
// already combined with output_padding / output_shape at import.
struct ConvTransposeAttrs {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // may be negative on the end side: output_padding
  int64_t group = 1;
  bool has_bias = false;
  std::vector<PostOp> post_ops;
  bool operator==(const ConvTransposeAttrs&) const = default;
};

enum class PoolKind : uint8_t { kMax, kAverage };
struct PoolAttrs {
  PoolKind kind = PoolKind::kMax;
  bool global = false;
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};
  // {top, left, bottom, right}; ceil_mode is already resolved into extra bottom/right pad
  // (`ceil_pads`), which never counts towards an average's divisor.
  std::array<int64_t, 4> pads{0, 0, 0, 0};
  std::array<int64_t, 2> ceil_pads{0, 0};
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

struct SoftmaxAttrs {  // softmax over one axis (older opsets' flattening is resolved at import)
  int64_t axis = -1;
  bool operator==(const SoftmaxAttrs&) const = default;
};

struct ConcatAttrs {
  int64_t axis = 1;  // non-negative
  bool operator==(const ConcatAttrs&) const = default;
};

enum class ResizeMode : uint8_t { kNearest, kLinear };
enum class CoordTransform : uint8_t {
  kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNn
};
enum class NearestRounding : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
// Resizes the last two axes (H, W) of an NCHW tensor. Scales are output/input; they are
// used for coordinate mapping exactly as ONNX specifies (given scales, or out/in sizes).
struct ResizeAttrs {
  ResizeMode mode = ResizeMode::kNearest;
  CoordTransform coord = CoordTransform::kHalfPixel;
  NearestRounding nearest = NearestRounding::kRoundPreferFloor;
  std::array<int64_t, 2> out_size{1, 1};
  std::array<float, 2> scales{1.0f, 1.0f};
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

enum class OpKind : uint8_t {
  kConv, kConvTranspose, kPool, kBatchNorm, kUnary, kBinary, kSoftmax, kConcat, kResize,
  kPad, kReshape, kTranspose, kMatMul, kSlice, kIdentity,
};
const char* op_kind_name(OpKind k);

using OpAttrs = std::variant<ConvAttrs, ConvTransposeAttrs, PoolAttrs, BatchNormAttrs, UnaryAttrs,
                             BinaryAttrs, SoftmaxAttrs, ConcatAttrs, ResizeAttrs, PadAttrs,
                             ReshapeAttrs, TransposeAttrs, MatMulAttrs, SliceAttrs, std::monostate>;

}  // namespace kiln
