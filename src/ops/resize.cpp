// Resize of the spatial axes (1 to 3). oneDNN's resampling maps output to input coordinates as
// (y + 0.5) / factor - 0.5 and rounds to nearest; that equals ONNX's result for the modes
// checked below at whole-number factors (nearest) or for half-pixel linear. Everything
// else runs the reference kernel.
#include <algorithm>
#include <cmath>

#include "ops/common.h"

namespace kiln::ops {

namespace {

bool same_as_onednn(const ResizeAttrs& a, const Shape& in) {
  if (a.mode == ResizeMode::kCubic) return false;  // oneDNN has no cubic resampling
  const size_t d = a.out_size.size();
  for (size_t i = 0; i < d; ++i) {
    float exact = static_cast<float>(a.out_size[i]) / static_cast<float>(in[2 + i]);
    if (std::fabs(a.scales[i] - exact) > 1e-6f * exact) return false;  // oneDNN maps by out/in
  }
  if (a.mode == ResizeMode::kLinear)
    return a.coord == CoordTransform::kHalfPixel ||
           (a.coord == CoordTransform::kPytorchHalfPixel &&
            std::all_of(a.out_size.begin(), a.out_size.end(), [](int64_t o) { return o > 1; }));
  for (size_t i = 0; i < d; ++i)
    if (a.out_size[i] % in[2 + i] != 0) return false;  // whole-number upsampling factors only
  bool half_pixel = a.coord == CoordTransform::kHalfPixel || a.coord == CoordTransform::kPytorchHalfPixel;
  bool rounds = a.nearest == NearestRounding::kRoundPreferFloor || a.nearest == NearestRounding::kRoundPreferCeil;
  return (a.coord == CoordTransform::kAsymmetric && a.nearest == NearestRounding::kFloor) || (half_pixel && rounds);
}

}  // namespace

Status compile_resize(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ResizeAttrs>(n.attrs);
  int x = n.inputs[0];
  if (ctx.is_weight(x) || !same_as_onednn(a, ctx.shape(x))) return add_reference_step(ctx, n);
  algorithm alg = a.mode == ResizeMode::kNearest ? algorithm::resampling_nearest : algorithm::resampling_linear;
  md_t src = ctx.md(x);
  md_t dst = any_md(ctx.shape(n.outputs[0]), src.data_type());
  dnnl::resampling_forward::desc desc(prop_kind::forward_inference, alg, src, dst);
  dnnl::resampling_forward::primitive_desc pd(desc, base_attr(), ctx.engine());
  std::vector<std::pair<int, TensorRef>> args = {{DNNL_ARG_SRC, ctx.read(x, pd.src_desc())},
                                                 {DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc())}};
  add_primitive(ctx, n, a.mode == ResizeMode::kNearest ? "resize:nearest" : "resize:linear",
                dnnl::resampling_forward(pd), pd, std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
