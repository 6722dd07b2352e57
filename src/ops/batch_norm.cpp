// A batch normalisation that could not be folded into a convolution: oneDNN's inference
// batch norm with global statistics and scale/shift.
#include "ops/common.h"

namespace kiln::ops {

Status compile_batch_norm(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<BatchNormAttrs>(n.attrs);
  int x = n.inputs[0];
  const Shape& xs = ctx.shape(x);
  if (xs.size() < 2) return add_reference_step(ctx, n);
  md_t src = ctx.md(x);
  auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
               dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(prop_kind::forward_inference, src, a.epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, base_attr(), ctx.engine());
  md_t per_channel({xs[1]}, memory::data_type::f32, tag::a);
  std::vector<std::pair<int, TensorRef>> args = {
      {DNNL_ARG_SRC, ctx.read(x, pd.src_desc())},
      {DNNL_ARG_SCALE, ctx.read(n.inputs[1], per_channel)},
      {DNNL_ARG_SHIFT, ctx.read(n.inputs[2], per_channel)},
      {DNNL_ARG_MEAN, ctx.read(n.inputs[3], per_channel)},
      {DNNL_ARG_VARIANCE, ctx.read(n.inputs[4], per_channel)},
      {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
  add_primitive(ctx, n, "batchnorm", dnnl::batch_normalization_forward(pd), pd, std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
