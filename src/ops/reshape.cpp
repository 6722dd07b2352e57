// Reshape (and Flatten/Squeeze/Unsqueeze) is free: the output is a view of the input's
// bytes in plain layout. Identity copies, so that a graph output never aliases an input.
#include "ops/common.h"

namespace kiln::ops {

Status compile_reshape(CompileContext& ctx, const Node& n) {
  int x = n.inputs[0];
  if (ctx.is_weight(x)) return add_reference_step(ctx, n);
  TensorRef src = ctx.read(x, plain_md(ctx.shape(x)));
  ctx.define_alias(n.outputs[0], src, plain_md(ctx.shape(n.outputs[0])));
  return Status::ok();
}

// A transpose is free too: the output views the input's bytes with its axes permuted (a
// strided layout), and the reorder a consumer needs anyway (to nChw16c for a convolution,
// to plain for the graph's output) does the moving. TensorFlow and Keras graphs have one at
// each end (NHWC <-> NCHW).
Status compile_transpose(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<TransposeAttrs>(n.attrs);
  int x = n.inputs[0];
  const Shape& xs = ctx.shape(x);
  if (ctx.is_weight(x) || xs.empty() || xs.size() > 6) return add_reference_step(ctx, n);
  TensorRef src = ctx.read(x, plain_md(xs));
  // oneDNN's permute_axes sends input axis i to output axis perm[i]; ONNX's perm says output
  // axis j is input axis perm[j]: the inverse permutation.
  std::vector<int> to_output(a.perm.size());
  for (size_t j = 0; j < a.perm.size(); ++j) to_output[static_cast<size_t>(a.perm[j])] = static_cast<int>(j);
  ctx.define_alias(n.outputs[0], src, src.md.permute_axes(to_output));
  return Status::ok();
}

Status compile_identity(CompileContext& ctx, const Node& n) {
  int x = n.inputs[0];
  md_t md = ctx.md(x);
  TensorRef src = ctx.read(x, md);
  TensorRef dst = ctx.define(n.outputs[0], md);
  auto pd = dnnl::reorder::primitive_desc(ctx.engine(), md, ctx.engine(), md);
  add_primitive(ctx, n, "copy", dnnl::reorder(pd), pd, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
  return Status::ok();
}

}  // namespace kiln::ops
