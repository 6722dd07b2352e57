// Max and average pooling (windowed and global) on oneDNN, in whatever layout the input has.
#include "ops/common.h"

namespace kiln::ops {

Status compile_pool(CompileContext& ctx, const Node& n) {
  PoolAttrs a = std::get<PoolAttrs>(n.attrs);
  if (a.global) {  // the window is the whole plane, whatever kernel/strides/pads hold
    const Shape& xs = ctx.shape(n.inputs[0]);
    a = PoolAttrs{a.kind, true, {xs[2], xs[3]}, {xs[2], xs[3]}};
  }
  bool ceil_extra = a.ceil_pads[0] > 0 || a.ceil_pads[1] > 0;
  // oneDNN's include-padding average would count the ceil_mode overhang; ONNX does not.
  if (a.kind == PoolKind::kAverage && a.count_include_pad && ceil_extra) return add_reference_step(ctx, n);
  algorithm alg = a.kind == PoolKind::kMax ? algorithm::pooling_max
                  : a.count_include_pad    ? algorithm::pooling_avg_include_padding
                                           : algorithm::pooling_avg_exclude_padding;
  int x = n.inputs[0];
  md_t src = ctx.stored_md(x);  // uint8 pools as it is: max and mean keep the scale
  const Shape& y = ctx.shape(n.outputs[0]);
  memory::dims strides{a.strides[0], a.strides[1]}, kernel{a.kernel[0], a.kernel[1]};
  memory::dims dilation{a.dilations[0] - 1, a.dilations[1] - 1};
  memory::dims pad_l{a.pads[0], a.pads[1]}, pad_r{a.pads[2] + a.ceil_pads[0], a.pads[3] + a.ceil_pads[1]};
  dnnl::pooling_v2_forward::desc desc(prop_kind::forward_inference, alg, src, any_md(y, src.data_type()), strides, kernel, dilation,
                                      pad_l, pad_r);
  dnnl::pooling_v2_forward::primitive_desc pd(desc, base_attr(), ctx.engine());
  std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC, ctx.read(x, pd.src_desc())},
                                                 {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
  add_primitive(ctx, n, a.kind == PoolKind::kMax ? "maxpool" : "avgpool", dnnl::pooling_v2_forward(pd), pd,
                std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
