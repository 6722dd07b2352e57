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

// Dispatches on the attribute type. `inputs` are the node's inputs in ONNX order
// (e.g. conv: x, w, optional bias, then folded-BN and add-tensor inputs at the indices
// the attributes name).
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

// Applies one unary function to a scalar; shared by unary() and fused post-ops.
float apply_unary(const UnaryAttrs& a, float x);

}  // namespace kiln::reference
