// Concat. Along channels of a single image whose inputs share a channel-blocked layout
// (nchw, nChw8c, nChw16c) and split at block boundaries, each input is simply placed inside
// the output's storage so its producer writes there directly: no copy at all. Otherwise
// oneDNN's concat primitive copies.
#include "ops/common.h"

namespace kiln::ops {

namespace {

bool try_in_place(CompileContext& ctx, const Node& n) {
  const auto& a = std::get<ConcatAttrs>(n.attrs);
  const Shape& y = ctx.shape(n.outputs[0]);
  if (a.axis != 1 || y.size() != 4 || y[0] != 1) return false;
  int block = -1;
  auto dt = ctx.stored_md(n.inputs[0]).data_type();
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    int v = n.inputs[i];
    if (ctx.is_weight(v)) return false;
    for (size_t j = 0; j < i; ++j)
      if (n.inputs[j] == v) return false;  // the same tensor twice cannot live in two places
    if (ctx.stored_md(v).data_type() != dt) return false;
    int b = channel_block(ctx.stored_md(v));
    if (b == 0 || (block >= 0 && b != block) || ctx.shape(v)[1] % b != 0) return false;
    if (!ctx.owns_storage(ctx.ref(v).buffer)) return false;
    block = b;
  }
  md_t out_md(to_dims(y), dt,
              block == 1 ? tag::abcd : block == 8 ? tag::aBcd8b : tag::aBcd16b);
  TensorRef out = ctx.define(n.outputs[0], out_md);
  size_t offset = 0;
  size_t plane = static_cast<size_t>(y[2] * y[3]) * dnnl::memory::data_type_size(dt);
  for (int v : n.inputs) {
    bool ok = ctx.place_inside(ctx.ref(v).buffer, out.buffer, offset);
    if (!ok) return false;  // cannot happen after the checks above
    offset += static_cast<size_t>(ctx.shape(v)[1]) * plane;
  }
  return true;
}

}  // namespace

Status compile_concat(CompileContext& ctx, const Node& n) {
  if (try_in_place(ctx, n)) return Status::ok();
  const auto& a = std::get<ConcatAttrs>(n.attrs);
  // Inputs stored alike (uint8 in an int8 plan: one scale group) concatenate as stored;
  // a mix goes through fp32.
  std::vector<md_t> srcs;
  bool same_type = true;
  for (int v : n.inputs) same_type = same_type && ctx.stored_md(v).data_type() == ctx.stored_md(n.inputs[0]).data_type();
  for (int v : n.inputs) {
    md_t m = ctx.stored_md(v);
    if (!same_type) m.data.data_type = dnnl_f32;  // same layout; strides count elements
    srcs.push_back(m);
  }
  dnnl::concat::primitive_desc pd(static_cast<int>(a.axis), srcs, ctx.engine(), base_attr());
  std::vector<std::pair<int, TensorRef>> args;
  for (size_t i = 0; i < n.inputs.size(); ++i)
    args.emplace_back(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), ctx.read(n.inputs[i], srcs[i]));
  args.emplace_back(DNNL_ARG_DST, ctx.define(n.outputs[0], pd.dst_desc()));
  add_primitive(ctx, n, "concat", dnnl::concat(pd), pd, std::move(args));
  return Status::ok();
}

}  // namespace kiln::ops
