// Max and average pooling (windowed and global) on oneDNN, in whatever layout the input has.
#include "ops/common.h"

namespace kiln::ops {

Status compile_pool(CompileContext& ctx, const Node& n) {
  PoolAttrs a = std::get<PoolAttrs>(n.attrs);
  if (a.global) {  // the window is the whole plane or volume, whatever kernel/strides/pads hold
    const Shape& xs = ctx.shape(n.inputs[0]);
    const Spatial extent(xs.begin() + 2, xs.end());
    a = PoolAttrs{a.kind, true, extent, extent, Spatial(extent.size(), 1), Spatial(2 * extent.size(), 0),
                  Spatial(extent.size(), 0)};
  }
  bool ceil_extra = false;
  for (int64_t p : a.ceil_pads) ceil_extra = ceil_extra || p > 0;
  // oneDNN's include-padding average would count the ceil_mode overhang; ONNX does not.
  if (a.kind == PoolKind::kAverage && a.count_include_pad && ceil_extra) return add_reference_step(ctx, n);
  algorithm alg = a.kind == PoolKind::kMax ? algorithm::pooling_max
                  : a.count_include_pad    ? algorithm::pooling_avg_include_padding
                                           : algorithm::pooling_avg_exclude_padding;
  int x = n.inputs[0];
  md_t src = ctx.stored_md(x);  // uint8 pools as it is: max and mean keep the scale
  const Shape& y = ctx.shape(n.outputs[0]);
  const size_t d = a.kernel.size();
  memory::dims strides, kernel, dilation, pad_l, pad_r;
  for (size_t i = 0; i < d; ++i) {
    strides.push_back(a.strides[i]);
    kernel.push_back(a.kernel[i]);
    dilation.push_back(a.dilations[i] - 1);
    pad_l.push_back(a.pads[i]);
    pad_r.push_back(a.pads[d + i] + a.ceil_pads[i]);
  }
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
