// Local response normalisation across channels on oneDNN (NCHW and the other ranks' plain
// layouts). oneDNN's across-channel LRN divides alpha by the window size as ONNX does.
#include "ops/common.h"

namespace kiln::ops {

Status compile_lrn(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<LrnAttrs>(n.attrs);
  int x = n.inputs[0];
  const Shape& xs = ctx.shape(x);
  // oneDNN centres an even window one channel differently from ONNX (which takes
  // floor((size-1)/2) before c and ceil((size-1)/2) after): even sizes run the reference.
  if (ctx.is_weight(x) || a.size % 2 == 0 || xs.size() < 3 || xs.size() > 5) return add_reference_step(ctx, n);
  md_t src = plain_md(xs);
  dnnl::lrn_forward::desc desc(prop_kind::forward_inference, algorithm::lrn_across_channels, src, a.size, a.alpha,
                               a.beta, a.bias);
  dnnl::lrn_forward::primitive_desc pd(desc, base_attr(), ctx.engine());
  std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC, ctx.read(x, src)},
                                                 {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
  add_primitive(ctx, n, "lrn", dnnl::lrn_forward(pd), pd, std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
