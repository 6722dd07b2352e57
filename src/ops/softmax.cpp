// Softmax and LogSoftmax over one axis on oneDNN (plain layout, so the axis means what the
// graph says); Hardmax runs the reference kernel.
#include "ops/common.h"

namespace kiln::ops {

Status compile_softmax(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<SoftmaxAttrs>(n.attrs);
  int x = n.inputs[0];
  const Shape& xs = ctx.shape(x);
  if (ctx.is_weight(x) || xs.empty() || a.kind == SoftmaxKind::kHardmax) return add_reference_step(ctx, n);
  int axis = static_cast<int>(a.axis < 0 ? a.axis + static_cast<int64_t>(xs.size()) : a.axis);
  md_t src = plain_md(xs);
  auto add = [&](auto pd, auto prim, const char* kind) {
    std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC, ctx.read(x, src)},
                                                   {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
    add_primitive(ctx, n, kind, prim, pd, std::move(args));
  };
  if (a.kind == SoftmaxKind::kLogSoftmax) {
    dnnl::logsoftmax_forward::primitive_desc pd({prop_kind::forward_inference, src, axis}, base_attr(), ctx.engine());
    add(pd, dnnl::logsoftmax_forward(pd), "logsoftmax");
  } else {
    dnnl::softmax_forward::primitive_desc pd({prop_kind::forward_inference, src, axis}, base_attr(), ctx.engine());
    add(pd, dnnl::softmax_forward(pd), "softmax");
  }
  return Status::ok();
}

}  // namespace kiln::ops
