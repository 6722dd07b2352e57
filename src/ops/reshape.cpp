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
