// Naive reference kernels: the slow, obviously-correct twin of every op.
//
//   std::vector<kiln::Tensor> in = {x, w, b};
//   kiln::Expected<kiln::Tensor> y = kiln::reference::run(conv_attrs, in);
//
// Every tensor is float32 in plain row-major layout (NCHW for images). Each kernel computes
// its own output shape from the attributes, so a test that compares an optimised op
// against it also checks shape inference. Tests use these as the oracle; the plan also
// runs them for the rare ops that have no oneDNN primitive (reflect pad, transpose, ...).
#pragma once

#include <span>
#include <vector>

#include "graph/attrs.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::reference {

// Conventions shared by all kernels:
//  - Kernels validate what they read (input count, dtype, ranks, channel counts, shapes) and
//    return kInvalidArgument with the op name and the offending shapes; they never throw.
//  - Results are freshly allocated (reshape copies too); only identity returns its input.
//  - pad, reshape, resize, slice and unary read only inputs[0]: ONNX's constant side inputs
//    (pads, shape, roi/scales/sizes, starts/ends, Clip's min/max) may follow and are ignored,
//    since the importer has folded them into the attributes.
//  - Sums of products (conv, conv_transpose, matmul) and averages accumulate in double.
//
// Slice convention (SliceAttrs holds one start, end and step per axis of the input, every
// axis listed; step != 0). Values are already clamped as ONNX specifies, and the kernel uses
// Python slicing on them without further clamping or wrap-around:
//  - step > 0: 0 <= start <= dim, 0 <= end <= dim; reads start, start+step, ... while < end.
//  - step < 0: -1 <= start <= dim-1, -1 <= end <= dim-1; reads start, start+step, ... while
//    > end. end == -1 means "through index 0" (it is not Python's "last element").
//  Anything else is kInvalidArgument.
//
// Dispatches on the attribute type. `inputs` are the node's inputs in ONNX order
// (e.g. conv: x, w, optional bias, then folded-BN and add-tensor inputs at the indices
// the attributes name). std::monostate is identity and returns inputs[0] itself.
Expected<Tensor> run(const OpAttrs& attrs, std::span<const Tensor> inputs);

Expected<Tensor> conv(const ConvAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> conv_transpose(const ConvTransposeAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> pool(const PoolAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> batch_norm(const BatchNormAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> unary(const UnaryAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> binary(const BinaryAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> softmax(const SoftmaxAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> concat(const ConcatAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> resize(const ResizeAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> pad(const PadAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> reshape(const ReshapeAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> transpose(const TransposeAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> matmul(const MatMulAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> slice(const SliceAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> reduce(const ReduceAttrs& a, std::span<const Tensor> inputs);
Expected<Tensor> lrn(const LrnAttrs& a, std::span<const Tensor> inputs);

// Applies one unary function to a scalar; shared by unary() and fused post-ops.
float apply_unary(const UnaryAttrs& a, float x);

}  // namespace kiln::reference
