// Element-wise activations that were not fused into a convolution: oneDNN eltwise.
#include "ops/common.h"

namespace kiln::ops {

Status compile_unary(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<UnaryAttrs>(n.attrs);
  auto e = eltwise_of(a);
  if (!e) return add_reference_step(ctx, n);
  int x = n.inputs[0];
  if (ctx.is_weight(x)) return add_reference_step(ctx, n);
  dnnl::eltwise_forward::desc desc(prop_kind::forward_inference, e->alg, ctx.md(x), e->alpha, e->beta);
  dnnl::eltwise_forward::primitive_desc pd(desc, base_attr(), ctx.engine());
  std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC, ctx.read(x, pd.src_desc())},
                                                 {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
  add_primitive(ctx, n, std::string("eltwise:") + unary_kind_name(a.kind), dnnl::eltwise_forward(pd), pd,
                std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
