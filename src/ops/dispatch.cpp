// compile_node: the op-kind -> compiler table (a visitor, not a switch over strings).
#include "ops/common.h"

namespace kiln {

Status compile_node(CompileContext& ctx, const Node& n) {
  using namespace ops;
  struct Dispatch {
    CompileContext& ctx;
    const Node& n;
    Status operator()(const ConvAttrs&) { return compile_conv(ctx, n); }
    Status operator()(const ConvTransposeAttrs&) { return compile_conv_transpose(ctx, n); }
    Status operator()(const PoolAttrs&) { return compile_pool(ctx, n); }
    Status operator()(const BatchNormAttrs&) { return compile_batch_norm(ctx, n); }
    Status operator()(const UnaryAttrs&) { return compile_unary(ctx, n); }
    Status operator()(const BinaryAttrs&) { return compile_binary(ctx, n); }
    Status operator()(const SoftmaxAttrs&) { return compile_softmax(ctx, n); }
    Status operator()(const ConcatAttrs&) { return compile_concat(ctx, n); }
    Status operator()(const ResizeAttrs&) { return compile_resize(ctx, n); }
    Status operator()(const ReshapeAttrs&) { return compile_reshape(ctx, n); }
    Status operator()(const std::monostate&) { return compile_identity(ctx, n); }
    // Ops with no oneDNN primitive in kiln yet: Pad (non-conv), Gemm/MatMul, Slice, reductions.
    Status operator()(const PadAttrs&) { return add_reference_step(ctx, n); }
    Status operator()(const TransposeAttrs&) { return compile_transpose(ctx, n); }
    Status operator()(const MatMulAttrs&) { return add_reference_step(ctx, n); }
    Status operator()(const SliceAttrs&) { return add_reference_step(ctx, n); }
    Status operator()(const ReduceAttrs&) { return add_reference_step(ctx, n); }
    Status operator()(const LrnAttrs&) { return compile_lrn(ctx, n); }
  };
  return std::visit(Dispatch{ctx, n}, n.attrs);
}

}  // namespace kiln
